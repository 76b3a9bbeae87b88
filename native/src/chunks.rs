//! In-memory kernels: one STREAM chunk, or a block of chunks (seal: encrypt, BLAKE3, CRC-32; open:
//! check, decrypt), on the caller's buffers and thread.

use crate::{index_of, key_of, nonce_of, range_err, PLAIN_CHUNK, TAG};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use ring::aead::{Aad, Tag};

/// Copies `src` to the start of `dst` (they may overlap: memmove).
fn move_into(src: &Uint8ArraySlice, dst: &mut [u8]) -> Result<()> {
  if dst.len() < src.len() {
    return Err(range_err("output buffer too small"));
  }
  // Safety: dst holds at least src.len() bytes; ptr::copy allows overlap.
  unsafe { std::ptr::copy(src.as_ptr(), dst.as_mut_ptr(), src.len()) };
  Ok(())
}

/// Encrypts `plain` into `out` (one STREAM chunk): ciphertext at `out[0..n)`, tag at `out[n..n+16)`.
/// `out` may be the same memory as `plain`.
#[napi]
pub fn chunk_seal(
  subkey: &[u8],
  aad: &[u8],
  index: f64,
  last: bool,
  plain: Uint8ArraySlice,
  mut out: Uint8ArraySlice,
) -> Result<()> {
  let n = plain.len();
  let out = unsafe { out.as_mut() };
  if out.len() < n + TAG {
    return Err(range_err("output buffer too small"));
  }
  move_into(&plain, out)?;
  let key = key_of(subkey)?;
  let (data, rest) = out.split_at_mut(n);
  let tag = key
    .seal_in_place_separate_tag(nonce_of(index_of(index)?, last), Aad::from(aad), data)
    .map_err(|_| range_err("chunk too large"))?;
  rest[..TAG].copy_from_slice(tag.as_ref());
  Ok(())
}

/// Checks and decrypts one stored chunk (ciphertext || tag) into `out[0..n)`. Returns false, with
/// `out[0..n)` zeroed, when it does not authenticate. `out` may be the same memory as `stored`.
#[napi]
pub fn chunk_open(
  subkey: &[u8],
  aad: &[u8],
  index: f64,
  last: bool,
  stored: Uint8ArraySlice,
  mut out: Uint8ArraySlice,
) -> Result<bool> {
  if stored.len() < TAG {
    return Ok(false);
  }
  let n = stored.len() - TAG;
  let mut tag = [0u8; TAG];
  tag.copy_from_slice(&stored[n..]);
  let out = unsafe { out.as_mut() };
  if out.len() < n {
    return Err(range_err("output buffer too small"));
  }
  let key = key_of(subkey)?;
  // Safety: out holds at least n bytes; ptr::copy allows overlap.
  unsafe { std::ptr::copy(stored.as_ptr(), out.as_mut_ptr(), n) };
  let data = &mut out[..n];
  let ok = key
    .open_in_place_separate_tag(
      nonce_of(index_of(index)?, last),
      Aad::from(aad),
      Tag::from(tag),
      data,
      0..,
    )
    .is_ok();
  if !ok {
    data.fill(0);
  }
  Ok(ok)
}

/// BLAKE3-256 of `data`, written to `out[0..32)` (a buffer the caller reuses: no allocation here).
#[napi]
pub fn blake3_into(data: &[u8], mut out: Uint8ArraySlice) -> Result<()> {
  let out = unsafe { out.as_mut() };
  if out.len() < 32 {
    return Err(range_err("output buffer too small"));
  }
  out[..32].copy_from_slice(blake3::hash(data).as_bytes());
  Ok(())
}

/// CRC-32 (ISO-HDLC) of `data`, continuing from `initial` (a finished CRC, 0 for none).
#[napi]
pub fn crc32(data: &[u8], initial: u32) -> u32 {
  let mut h = crc32fast::Hasher::new_with_initial(initial);
  h.update(data);
  h.finalize()
}

/// Seals one block (see core/src/blocks.ts): the plaintext `input[0..length)` holds chunks
/// `first..` of an entry of `total` chunks. Writes the stored bytes to `output` (ciphertext and tag
/// per chunk when `subkey` is given, else a copy of the plaintext is not made and the stored bytes
/// are `input` itself), the BLAKE3 of each stored chunk to `digests`, and returns the CRC-32 of the
/// block's stored bytes.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn seal_block(
  subkey: Option<&[u8]>,
  aad: &[u8],
  first: f64,
  total: f64,
  input: &[u8],
  length: u32,
  mut output: Uint8ArraySlice,
  mut digests: Uint8ArraySlice,
) -> Result<u32> {
  // Safety: the caller passes distinct buffers and does not touch them during the call.
  let (output, digests) = unsafe { (output.as_mut(), digests.as_mut()) };
  let length = length as usize;
  let first = index_of(first)?;
  let total = index_of(total)?;
  let chunks = length.div_ceil(PLAIN_CHUNK).max(1);
  if input.len() < length || digests.len() < chunks * 32 {
    return Err(range_err("block buffers too small"));
  }
  let mut crc = crc32fast::Hasher::new();
  match subkey {
    None => {
      // An empty entry still has one (empty) chunk.
      for c in 0..chunks {
        let chunk = &input[(c * PLAIN_CHUNK).min(length)..((c + 1) * PLAIN_CHUNK).min(length)];
        digests[c * 32..c * 32 + 32].copy_from_slice(blake3::hash(chunk).as_bytes());
      }
      crc.update(&input[..length]);
    }
    Some(subkey) => {
      if output.len() < length + chunks * TAG {
        return Err(range_err("block buffers too small"));
      }
      let key = key_of(subkey)?;
      let mut at = 0;
      let mut out = 0;
      for c in 0..chunks {
        let n = PLAIN_CHUNK.min(length - at);
        let index = first + c as u64;
        let stored = &mut output[out..out + n + TAG];
        stored[..n].copy_from_slice(&input[at..at + n]);
        let (data, tag_out) = stored.split_at_mut(n);
        let tag = key
          .seal_in_place_separate_tag(nonce_of(index, index + 1 == total), Aad::from(aad), data)
          .map_err(|_| range_err("chunk too large"))?;
        tag_out.copy_from_slice(tag.as_ref());
        digests[c * 32..c * 32 + 32].copy_from_slice(blake3::hash(stored).as_bytes());
        crc.update(stored);
        at += n;
        out += n + TAG;
      }
    }
  }
  Ok(crc.finalize())
}

/// Opens one block: checks each stored chunk of `input[0..length)` (chunks of `chunk_size` bytes,
/// the first being chunk `first` of `total`) against its expected BLAKE3 digest, then, when
/// `subkey` is given, decrypts it into `output`. Returns the plaintext length (the stored length
/// when only checking); on failure `-(1 + c)` when chunk `c` of the block does not match its digest
/// and `-(1_000_000 + c)` when it does not authenticate.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn open_block(
  subkey: Option<&[u8]>,
  aad: &[u8],
  first: f64,
  total: f64,
  chunk_size: u32,
  input: &[u8],
  length: u32,
  expected: &[u8],
  mut output: Uint8ArraySlice,
) -> Result<i64> {
  let output = unsafe { output.as_mut() };
  let length = length as usize;
  let chunk_size = chunk_size as usize;
  let first = index_of(first)?;
  let total = index_of(total)?;
  if chunk_size == 0 || input.len() < length {
    return Err(range_err("block buffers too small"));
  }
  let chunks = length.div_ceil(chunk_size).max(1);
  if expected.len() < chunks * 32 {
    return Err(range_err("expected digests too short"));
  }
  let key = subkey.map(key_of).transpose()?;
  let mut out = 0usize;
  for c in 0..chunks {
    let stored = &input[(c * chunk_size).min(length)..((c + 1) * chunk_size).min(length)];
    // blake3::Hash compares in constant time.
    let want = blake3::Hash::from_bytes(expected[c * 32..c * 32 + 32].try_into().unwrap());
    if blake3::hash(stored) != want {
      return Ok(-(1 + c as i64));
    }
    if let Some(key) = &key {
      if stored.len() < TAG {
        return Ok(-(1_000_000 + c as i64));
      }
      let n = stored.len() - TAG;
      if output.len() < out + n {
        return Err(range_err("output buffer too small"));
      }
      let index = first + c as u64;
      let plain = &mut output[out..out + n];
      plain.copy_from_slice(&stored[..n]);
      let tag = Tag::try_from(&stored[n..]).map_err(|_| range_err("bad tag"))?;
      if key
        .open_in_place_separate_tag(
          nonce_of(index, index + 1 == total),
          Aad::from(aad),
          tag,
          plain,
          0..,
        )
        .is_err()
      {
        plain.fill(0);
        return Ok(-(1_000_000 + c as i64));
      }
      out += n;
    }
  }
  Ok(if key.is_some() { out as i64 } else { length as i64 })
}
