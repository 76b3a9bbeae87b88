//! HChaCha20, the XChaCha20 subkey function (ring has ChaCha20-Poly1305 but not XChaCha20).

use crate::range_err;
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// HChaCha20 (draft-irtf-cfrg-xchacha §2.2): the XChaCha20 subkey of `key` and a 16-byte nonce.
pub(crate) fn hchacha20(key: &[u8; 32], nonce: &[u8; 16]) -> [u8; 32] {
  let mut s = [0u32; 16];
  s[..4].copy_from_slice(&[0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  for i in 0..8 {
    s[4 + i] = u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().unwrap());
  }
  for i in 0..4 {
    s[12 + i] = u32::from_le_bytes(nonce[4 * i..4 * i + 4].try_into().unwrap());
  }
  fn qr(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
  }
  for _ in 0..10 {
    qr(&mut s, 0, 4, 8, 12);
    qr(&mut s, 1, 5, 9, 13);
    qr(&mut s, 2, 6, 10, 14);
    qr(&mut s, 3, 7, 11, 15);
    qr(&mut s, 0, 5, 10, 15);
    qr(&mut s, 1, 6, 11, 12);
    qr(&mut s, 2, 7, 8, 13);
    qr(&mut s, 3, 4, 9, 14);
  }
  let mut out = [0u8; 32];
  for (i, w) in s[..4].iter().chain(&s[12..]).enumerate() {
    out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
  }
  out
}

/// HChaCha20 of `key` (32 bytes) and `nonce` (16 bytes), for tests against the draft's vector.
#[napi]
pub fn hchacha20_subkey(key: &[u8], nonce: &[u8]) -> Result<Buffer> {
  let k: &[u8; 32] = key.try_into().map_err(|_| range_err("key must be 32 bytes"))?;
  let n: &[u8; 16] = nonce
    .try_into()
    .map_err(|_| range_err("nonce must be 16 bytes"))?;
  Ok(hchacha20(k, n).to_vec().into())
}

#[cfg(test)]
mod tests {
  use super::hchacha20;
  use crate::test_vectors::{field, hex};

  #[test]
  fn stream_subkey_known_answer() {
    // stream.json: subkey = HChaCha20(fileKey, 0x00 * 16).
    let json = include_str!("../../core/test-vectors/stream.json");
    let key: [u8; 32] = hex(field(json, "fileKey")).try_into().unwrap();
    assert_eq!(hchacha20(&key, &[0; 16]).to_vec(), hex(field(json, "subkey")));
  }

  #[test]
  fn draft_known_answer() {
    // draft-irtf-cfrg-xchacha-03 §2.2.1.
    let key: [u8; 32] = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
      .try_into()
      .unwrap();
    let nonce: [u8; 16] = hex("000000090000004a0000000031415927").try_into().unwrap();
    assert_eq!(
      hchacha20(&key, &nonce).to_vec(),
      hex("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")
    );
  }
}
