//! Native kernels for Q-Cap on Node (Node-API through napi-rs): the per-chunk work of SPEC §3–§5,
//! BLAKE3 of each stored chunk, STREAM encryption with ChaCha20-Poly1305 and CRC-32 of the stored
//! bytes, done many chunks or files per call. ring's ChaCha20-Poly1305 is BoringSSL's stitched
//! assembly, about 1.5x libsodium's speed here. Chunk `i` of an entry uses the XChaCha20 subkey
//! (HChaCha20 of its file key) and the 12-byte nonce `0x00 * 4 || u56be(i) || last`.
//!
//! - `chunks`: one chunk or a block of 16 in the caller's buffers, on the calling thread;
//! - `files`: a file region sealed into another file, or checked, on threads of their own;
//! - `small_files`: whole small files read, keyed and sealed in batches;
//! - `kdf`: HChaCha20; `list`: a folder's files for packing.

mod chunks;
mod files;
mod kdf;
mod list;
mod small_files;

use napi::bindgen_prelude::*;
use ring::aead::{LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};

pub(crate) const PLAIN_CHUNK: usize = 65536;
pub(crate) const TAG: usize = 16;

pub(crate) fn key_of(subkey: &[u8]) -> Result<LessSafeKey> {
  let k = UnboundKey::new(&CHACHA20_POLY1305, subkey)
    .map_err(|_| Error::new(Status::InvalidArg, "subkey must be 32 bytes"))?;
  Ok(LessSafeKey::new(k))
}

pub(crate) fn nonce_of(index: u64, last: bool) -> Nonce {
  let mut n = [0u8; 12];
  n[4..11].copy_from_slice(&index.to_be_bytes()[1..8]);
  n[11] = last as u8;
  Nonce::assume_unique_for_key(n)
}

pub(crate) fn index_of(x: f64) -> Result<u64> {
  if x >= 0.0 && x < (1u64 << 53) as f64 && x.fract() == 0.0 {
    Ok(x as u64)
  } else {
    Err(Error::new(Status::InvalidArg, format!("invalid chunk index {x}")))
  }
}

pub(crate) fn range_err(what: &str) -> Error {
  Error::new(Status::InvalidArg, what.to_owned())
}
