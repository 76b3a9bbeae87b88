//! In-memory kernels: one STREAM chunk, or a block of chunks (seal: encrypt, BLAKE3, CRC-32; open:
//! check, decrypt), on the caller's buffers and thread. Output buffers must not overlap the inputs:
//! a call whose buffers overlap is refused (`QCAP_BUFFER_OVERLAP`), so that no `&mut` slice of an
//! output ever aliases a slice of an input. The pure kernels (`*_into`) take Rust slices and are
//! what the unit tests check against the known answers of core/test-vectors/.

use crate::{disjoint, index_of, key_of, nonce_of, overlap_error, range_err, Failure, PLAIN_CHUNK, TAG};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use ring::aead::{Aad, Tag};

/// Encrypts `plain` into `out`: ciphertext at `out[0..n)`, tag at `out[n..n+16)`.
pub(crate) fn seal_into(
  subkey: &[u8],
  aad: &[u8],
  index: u64,
  last: bool,
  plain: &[u8],
  out: &mut [u8],
) -> Result<()> {
  let n = plain.len();
  if out.len() < n + TAG {
    return Err(range_err("output buffer too small"));
  }
  let key = key_of(subkey)?;
  let (data, rest) = out.split_at_mut(n);
  data.copy_from_slice(plain);
  let tag = key
    .seal_in_place_separate_tag(nonce_of(index, last), Aad::from(aad), data)
    .map_err(|_| range_err("chunk too large"))?;
  rest[..TAG].copy_from_slice(tag.as_ref());
  Ok(())
}

/// Checks and decrypts `stored` (ciphertext || tag) into `out[0..n)`; false, with `out[0..n)`
/// zeroed, when it does not authenticate.
pub(crate) fn open_into(
  subkey: &[u8],
  aad: &[u8],
  index: u64,
  last: bool,
  stored: &[u8],
  out: &mut [u8],
) -> Result<bool> {
  if stored.len() < TAG {
    return Ok(false);
  }
  let n = stored.len() - TAG;
  if out.len() < n {
    return Err(range_err("output buffer too small"));
  }
  let key = key_of(subkey)?;
  let tag = Tag::try_from(&stored[n..]).map_err(|_| range_err("bad tag"))?;
  let data = &mut out[..n];
  data.copy_from_slice(&stored[..n]);
  let ok = key
    .open_in_place_separate_tag(nonce_of(index, last), Aad::from(aad), tag, data, 0..)
    .is_ok();
  if !ok {
    data.fill(0);
  }
  Ok(ok)
}

/// Encrypts `plain` into `out` (one STREAM chunk): ciphertext at `out[0..n)`, tag at
/// `out[n..n+16)`. `out` must not overlap `plain`.
#[napi]
pub fn chunk_seal(
  env: Env,
  subkey: &[u8],
  aad: &[u8],
  index: f64,
  last: bool,
  plain: &[u8],
  mut out: Uint8ArraySlice,
) -> Result<()> {
  if !disjoint(plain, &out) {
    return Err(overlap_error(&env));
  }
  // SAFETY: `out` views memory that no other Rust reference in this call overlaps (checked just
  // above against `plain`; `subkey` and `aad` are copies made by the caller), and JavaScript cannot
  // touch it while this synchronous call runs on its thread.
  let out = unsafe { out.as_mut() };
  seal_into(subkey, aad, index_of(index)?, last, plain, out)
}

/// Checks and decrypts one stored chunk (ciphertext || tag) into `out[0..n)`. Returns false, with
/// `out[0..n)` zeroed, when it does not authenticate. `out` must not overlap `stored`.
#[napi]
pub fn chunk_open(
  env: Env,
  subkey: &[u8],
  aad: &[u8],
  index: f64,
  last: bool,
  stored: &[u8],
  mut out: Uint8ArraySlice,
) -> Result<bool> {
  if !disjoint(stored, &out) {
    return Err(overlap_error(&env));
  }
  // SAFETY: as in `chunk_seal`: `out` overlaps no other slice of this call (checked above), and
  // the calling JavaScript thread is blocked until we return.
  let out = unsafe { out.as_mut() };
  open_into(subkey, aad, index_of(index)?, last, stored, out)
}

/// BLAKE3-256 of `data`, written to `out[0..32)` (a buffer the caller reuses: no allocation here).
#[napi]
pub fn blake3_into(env: Env, data: &[u8], mut out: Uint8ArraySlice) -> Result<()> {
  if !disjoint(data, &out) {
    return Err(overlap_error(&env));
  }
  // SAFETY: `out` overlaps no other slice of this call (checked above); JavaScript is blocked.
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

/// The pure kernel of `seal_block`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn seal_block_into(
  subkey: Option<&[u8]>,
  aad: &[u8],
  first: u64,
  total: u64,
  input: &[u8],
  length: usize,
  output: &mut [u8],
  digests: &mut [u8],
) -> Result<u32> {
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
      let mut at = 0;
      let mut out = 0;
      for c in 0..chunks {
        let n = PLAIN_CHUNK.min(length - at);
        let index = first + c as u64;
        let stored = &mut output[out..out + n + TAG];
        seal_into(subkey, aad, index, index + 1 == total, &input[at..at + n], stored)?;
        digests[c * 32..c * 32 + 32].copy_from_slice(blake3::hash(stored).as_bytes());
        crc.update(stored);
        at += n;
        out += n + TAG;
      }
    }
  }
  Ok(crc.finalize())
}

/// Seals one block (see core/src/blocks.ts): the plaintext `input[0..length)` holds chunks
/// `first..` of an entry of `total` chunks. Writes the stored bytes to `output` (ciphertext and tag
/// per chunk when `subkey` is given, else a copy of the plaintext is not made and the stored bytes
/// are `input` itself), the BLAKE3 of each stored chunk to `digests`, and returns the CRC-32 of the
/// block's stored bytes. `output` and `digests` must overlap neither each other nor `input`.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn seal_block(
  env: Env,
  subkey: Option<&[u8]>,
  aad: &[u8],
  first: f64,
  total: f64,
  input: &[u8],
  length: u32,
  mut output: Uint8ArraySlice,
  mut digests: Uint8ArraySlice,
) -> Result<u32> {
  if !disjoint(input, &output) || !disjoint(input, &digests) || !disjoint(&output, &digests) {
    return Err(overlap_error(&env));
  }
  // SAFETY: the two mutable views overlap neither each other nor `input` (checked above), and the
  // calling JavaScript thread is blocked until we return.
  let (output, digests) = unsafe { (output.as_mut(), digests.as_mut()) };
  let (first, total) = (index_of(first)?, index_of(total)?);
  seal_block_into(subkey, aad, first, total, input, length as usize, output, digests)
}

/// The pure kernel of `open_block`: the plaintext length, or the block's first bad chunk.
#[allow(clippy::too_many_arguments)]
pub(crate) fn open_block_into(
  subkey: Option<&[u8]>,
  aad: &[u8],
  first: u64,
  total: u64,
  chunk_size: usize,
  input: &[u8],
  length: usize,
  expected: &[u8],
  output: &mut [u8],
) -> Result<std::result::Result<usize, Failure>> {
  if chunk_size == 0 || input.len() < length {
    return Err(range_err("block buffers too small"));
  }
  let chunks = length.div_ceil(chunk_size).max(1);
  if expected.len() < chunks * 32 {
    return Err(range_err("expected digests too short"));
  }
  let mut out = 0usize;
  for c in 0..chunks {
    let stored = &input[(c * chunk_size).min(length)..((c + 1) * chunk_size).min(length)];
    // blake3::Hash compares in constant time.
    let want = blake3::Hash::from_bytes(expected[c * 32..c * 32 + 32].try_into().unwrap());
    if blake3::hash(stored) != want {
      return Ok(Err(Failure::Mismatch(c as u64)));
    }
    if let Some(subkey) = subkey {
      let n = stored.len().saturating_sub(TAG);
      if output.len() < out + n {
        return Err(range_err("output buffer too small"));
      }
      let index = first + c as u64;
      if !open_into(
        subkey,
        aad,
        index,
        index + 1 == total,
        stored,
        &mut output[out..out + n],
      )? {
        return Ok(Err(Failure::NotAuthentic(c as u64)));
      }
      out += n;
    }
  }
  Ok(Ok(if subkey.is_some() { out } else { length }))
}

/// Opens one block: checks each stored chunk of `input[0..length)` (chunks of `chunk_size` bytes,
/// the first being chunk `first` of `total`) against its expected BLAKE3 digest, then, when
/// `subkey` is given, decrypts it into `output`. Returns the plaintext length (the stored length
/// when only checking). Throws `QCAP_CHUNK_MISMATCH` when a chunk does not match its digest and
/// `QCAP_CHUNK_NOT_AUTHENTIC` when it does not authenticate, with `chunk` the chunk's number within
/// the block. `output` must not overlap `input` or `expected`.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn open_block(
  env: Env,
  subkey: Option<&[u8]>,
  aad: &[u8],
  first: f64,
  total: f64,
  chunk_size: u32,
  input: &[u8],
  length: u32,
  expected: &[u8],
  mut output: Uint8ArraySlice,
) -> Result<f64> {
  if !disjoint(input, &output) || !disjoint(expected, &output) {
    return Err(overlap_error(&env));
  }
  // SAFETY: `output` overlaps no other slice of this call (checked above), and the calling
  // JavaScript thread is blocked until we return.
  let output = unsafe { output.as_mut() };
  let (first, total) = (index_of(first)?, index_of(total)?);
  match open_block_into(
    subkey,
    aad,
    first,
    total,
    chunk_size as usize,
    input,
    length as usize,
    expected,
    output,
  )? {
    Ok(n) => Ok(n as f64),
    Err(f) => Err(f.into_error(&env)),
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::test_vectors::{field, fields, hex, pattern};

  const STREAM: &str = include_str!("../../core/test-vectors/stream.json");
  const TREE: &str = include_str!("../../core/test-vectors/tree.json");

  #[test]
  fn blake3_known_answers() {
    // tree.json: entries of one chunk have the chunk's BLAKE3 as their digest.
    let digests = fields(TREE, "digest");
    assert_eq!(blake3::hash(&[]).to_hex().as_str(), digests[0]);
    assert_eq!(blake3::hash(&[0]).to_hex().as_str(), digests[1]);
    assert_eq!(blake3::hash(&pattern(65536)).to_hex().as_str(), digests[2]);
  }

  #[test]
  fn stream_chunks_known_answers() {
    let subkey = hex(field(STREAM, "subkey"));
    let aad = hex(field(STREAM, "aad"));
    let plains = fields(STREAM, "plaintext");
    let stored = fields(STREAM, "stored");
    assert_eq!(plains.len(), 3);
    for (p, s) in plains.iter().zip(&stored) {
      let (p, s) = (hex(p), hex(s));
      let mut out = vec![0u8; p.len() + TAG];
      seal_into(&subkey, &aad, 0, true, &p, &mut out).unwrap();
      assert_eq!(out, s);
      let mut back = vec![0u8; p.len()];
      assert!(open_into(&subkey, &aad, 0, true, &s, &mut back).unwrap());
      assert_eq!(back, p);
      // Any flipped bit, another index or the other `last` flag does not authenticate.
      let mut bad = s.clone();
      bad[0] ^= 1;
      assert!(!open_into(&subkey, &aad, 0, true, &bad, &mut back).unwrap());
      assert!(back.iter().all(|&b| b == 0));
      assert!(!open_into(&subkey, &aad, 1, true, &s, &mut back).unwrap());
      assert!(!open_into(&subkey, &aad, 0, false, &s, &mut back).unwrap());
    }
  }

  #[test]
  fn sealed_blocks_known_answers() {
    let subkey = hex(field(STREAM, "subkey"));
    let aad = hex(field(STREAM, "aad"));
    let lengths: Vec<usize> = fields(STREAM, "plaintextLength")
      .iter()
      .map(|s| s.parse().unwrap())
      .collect();
    let blake3s = fields(STREAM, "storedBlake3");
    assert_eq!(lengths.len(), 4);
    for (len, want) in lengths.iter().zip(&blake3s) {
      let plain = pattern(*len);
      let chunks = len.div_ceil(PLAIN_CHUNK).max(1);
      let mut stored = vec![0u8; len + chunks * TAG];
      let mut digests = vec![0u8; chunks * 32];
      let crc = seal_block_into(
        Some(&subkey),
        &aad,
        0,
        chunks as u64,
        &plain,
        *len,
        &mut stored,
        &mut digests,
      )
      .unwrap();
      assert_eq!(blake3::hash(&stored).to_hex().as_str(), *want);
      assert_eq!(crc, crc32fast::hash(&stored));
      let mut back = vec![0u8; *len];
      let n = open_block_into(
        Some(&subkey),
        &aad,
        0,
        chunks as u64,
        PLAIN_CHUNK + TAG,
        &stored,
        stored.len(),
        &digests,
        &mut back,
      )
      .unwrap();
      assert!(matches!(n, Ok(m) if m == *len));
      assert_eq!(back, plain);
      // The last chunk edited: its digest no longer matches; with the digest edited too, its tag fails.
      let mut bad = stored.clone();
      let last = bad.len() - 1;
      bad[last] ^= 0x80;
      let r = open_block_into(
        Some(&subkey),
        &aad,
        0,
        chunks as u64,
        PLAIN_CHUNK + TAG,
        &bad,
        bad.len(),
        &digests,
        &mut back,
      );
      assert!(matches!(r.unwrap(), Err(Failure::Mismatch(c)) if c as usize == chunks - 1));
      let mut digests2 = digests.clone();
      let tail = &bad[(chunks - 1) * (PLAIN_CHUNK + TAG)..];
      digests2[(chunks - 1) * 32..].copy_from_slice(blake3::hash(tail).as_bytes());
      let r = open_block_into(
        Some(&subkey),
        &aad,
        0,
        chunks as u64,
        PLAIN_CHUNK + TAG,
        &bad,
        bad.len(),
        &digests2,
        &mut back,
      );
      assert!(matches!(r.unwrap(), Err(Failure::NotAuthentic(c)) if c as usize == chunks - 1));
    }
  }

  #[test]
  fn overlap_is_detected() {
    let buf = [0u8; 64];
    assert!(!disjoint(&buf[0..32], &buf[16..48]));
    assert!(disjoint(&buf[0..32], &buf[32..64]));
    assert!(disjoint(&buf[0..0], &buf[0..64]));
  }
}
