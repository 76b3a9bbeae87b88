//! Hidden names (SPEC §5.4) in batches: a pack of a million files seals a million names, which one
//! call per name would spend in the JavaScript crypto and its garbage.

use crate::kdf::hchacha20;
use crate::{key_of, range_err};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use ring::aead::{Aad, Nonce};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Seals each of `names` under `names_key`: per name, its 16-byte name id (the first 16 bytes of
/// BLAKE3 keyed with the names key over the name) then its sealed name (XChaCha20-Poly1305 with the
/// id as the first 16 bytes of the nonce, the ZIP name `payload/<hex id>` as associated data: the
/// name's UTF-8 bytes then the 16-byte tag), all concatenated.
#[napi]
pub fn seal_names(names_key: &[u8], names: Vec<String>) -> Result<Buffer> {
  let key: &[u8; 32] = names_key
    .try_into()
    .map_err(|_| range_err("the names key is 32 bytes"))?;
  let total: usize = names.iter().map(|n| 16 + n.len() + 16).sum();
  let mut out = Vec::with_capacity(total);
  let mut aad = Vec::with_capacity(8 + 32);
  for name in &names {
    let hash = blake3::keyed_hash(key, name.as_bytes());
    let id: [u8; 16] = hash.as_bytes()[..16].try_into().expect("16 bytes");
    aad.clear();
    aad.extend_from_slice(b"payload/");
    for b in id {
      aad.push(HEX[(b >> 4) as usize]);
      aad.push(HEX[(b & 15) as usize]);
    }
    // XChaCha20: the subkey from the nonce's first 16 bytes (the id), then ChaCha20-Poly1305 with
    // 4 zero bytes and the nonce's last 8 (zero here).
    let mut subkey = hchacha20(key, &id);
    let sealing = key_of(&subkey)?;
    subkey.fill(0);
    out.extend_from_slice(&id);
    let at = out.len();
    out.extend_from_slice(name.as_bytes());
    let tag = sealing
      .seal_in_place_separate_tag(
        Nonce::assume_unique_for_key([0u8; 12]),
        Aad::from(&aad),
        &mut out[at..],
      )
      .map_err(|_| range_err("sealing failed"))?;
    out.extend_from_slice(tag.as_ref());
  }
  Ok(out.into())
}
