//! Native kernels for Q-Cap on Node: the per-chunk work of SPEC §4–§5 (BLAKE3 of each stored
//! chunk, STREAM encryption with ChaCha20-Poly1305, CRC-32 of the stored bytes) done a block of
//! chunks per call. ring's ChaCha20-Poly1305 is BoringSSL's stitched AVX2/AVX-512 assembly,
//! about 1.5x libsodium's speed here. The XChaCha20 subkey (HChaCha20) is computed by the caller,
//! once per entry; chunk `i` then uses the 12-byte nonce `0x00 * 4 || u56be(i) || last`.
//!
//! Every function is synchronous and works on the caller's buffers (plain or shared memory), so it
//! runs on whichever thread calls it. Callers pass distinct buffers where two are taken.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, CHACHA20_POLY1305};

const PLAIN_CHUNK: usize = 65536;
const TAG: usize = 16;

fn key_of(subkey: &[u8]) -> Result<LessSafeKey> {
  let k = UnboundKey::new(&CHACHA20_POLY1305, subkey)
    .map_err(|_| Error::new(Status::InvalidArg, "subkey must be 32 bytes"))?;
  Ok(LessSafeKey::new(k))
}

fn nonce_of(index: u64, last: bool) -> Nonce {
  let mut n = [0u8; 12];
  n[4..11].copy_from_slice(&index.to_be_bytes()[1..8]);
  n[11] = last as u8;
  Nonce::assume_unique_for_key(n)
}

fn index_of(x: f64) -> Result<u64> {
  if x >= 0.0 && x < (1u64 << 53) as f64 && x.fract() == 0.0 {
    Ok(x as u64)
  } else {
    Err(Error::new(Status::InvalidArg, format!("invalid chunk index {x}")))
  }
}

fn range_err(what: &str) -> Error {
  Error::new(Status::InvalidArg, what.to_owned())
}

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

/// Checks stored chunks of a file region on worker threads of its own: see `check_file_chunks`.
pub struct CheckFileChunks {
  fd: i32,
  position: u64,
  length: u64,
  chunk_size: usize,
  expected: Vec<u8>,
  threads: usize,
}

/// Result codes of `check_file_chunks` besides a bad chunk's index.
const ALL_MATCH: i64 = -1;
const TRUNCATED: i64 = -2;

/// What went wrong first (lowest chunk index) in a region.
enum Problem {
  Mismatch,
  Truncated,
  Read(std::io::Error),
}

#[cfg(unix)]
impl Task for CheckFileChunks {
  type Output = i64;
  type JsValue = i64;

  fn compute(&mut self) -> Result<i64> {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::FromRawFd;
    use std::sync::atomic::{AtomicU64, Ordering};
    // Borrowed: the caller owns the descriptor and keeps it open until the promise settles.
    let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.fd) });
    let chunk = self.chunk_size as u64;
    let chunks = self.length.div_ceil(chunk);
    let block_chunks = (1u64 << 20).div_ceil(chunk);
    let blocks = chunks.div_ceil(block_chunks);
    let next = AtomicU64::new(0);
    // The first problem by chunk index; `stop` mirrors its index so other threads end early.
    let first = std::sync::Mutex::new(None::<(u64, Problem)>);
    let stop = AtomicU64::new(u64::MAX);
    let report = |at: u64, p: Problem| {
      let mut f = first.lock().unwrap();
      if f.as_ref().is_none_or(|(i, _)| at < *i) {
        *f = Some((at, p));
        stop.fetch_min(at, Ordering::Relaxed);
      }
    };
    std::thread::scope(|s| {
      for _ in 0..self.threads {
        s.spawn(|| {
          let mut buf = vec![0u8; (block_chunks * chunk) as usize];
          loop {
            // Blocks are taken in order, so none after a known problem needs checking.
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= blocks || b * block_chunks > stop.load(Ordering::Relaxed) {
              return;
            }
            let start = b * block_chunks * chunk;
            let len = (block_chunks * chunk).min(self.length - start) as usize;
            if let Err(e) = file.read_exact_at(&mut buf[..len], self.position + start) {
              let p = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Problem::Truncated
              } else {
                Problem::Read(e)
              };
              report(b * block_chunks, p);
              return;
            }
            for (c, stored) in buf[..len].chunks(chunk as usize).enumerate() {
              let i = b * block_chunks + c as u64;
              let at = i as usize * 32;
              // blake3::Hash compares in constant time.
              let want = blake3::Hash::from_bytes(self.expected[at..at + 32].try_into().unwrap());
              if blake3::hash(stored) != want {
                report(i, Problem::Mismatch);
                return;
              }
            }
          }
        });
      }
    });
    match first.into_inner().unwrap() {
      None => Ok(ALL_MATCH),
      Some((i, Problem::Mismatch)) => Ok(i as i64),
      Some((_, Problem::Truncated)) => Ok(TRUNCATED),
      Some((_, Problem::Read(e))) => Err(Error::new(Status::GenericFailure, e.to_string())),
    }
  }

  fn resolve(&mut self, _env: Env, output: i64) -> Result<i64> {
    Ok(output)
  }
}

/// Reads `length` stored bytes of a file at `position` (chunks of `chunk_size` bytes) with
/// positioned reads on `threads` threads and checks each chunk's BLAKE3 digest against `expected`
/// (32 bytes per chunk; the last chunk may be short). Resolves to -1 when all match, the index of
/// the first chunk that does not, or -2 when the file ends early; rejects on a read error. `fd`
/// must stay open until the promise settles.
#[cfg(unix)]
#[napi]
pub fn check_file_chunks(
  fd: i32,
  position: f64,
  length: f64,
  chunk_size: u32,
  expected: &[u8],
  threads: u32,
) -> Result<AsyncTask<CheckFileChunks>> {
  if fd < 0 {
    return Err(range_err("invalid file descriptor"));
  }
  let position = index_of(position)?;
  let length = index_of(length)?;
  let chunk_size = chunk_size as usize;
  if chunk_size == 0 || (expected.len() as u64) < length.div_ceil(chunk_size as u64) * 32 {
    return Err(range_err("expected digests too short"));
  }
  Ok(AsyncTask::new(CheckFileChunks {
    fd,
    position,
    length,
    chunk_size,
    expected: expected.to_vec(),
    threads: threads.clamp(1, 16) as usize,
  }))
}

/// Digests and CRC-32 of a region sealed by `seal_file_chunks`.
#[napi(object)]
pub struct SealedRegion {
  /// BLAKE3 of each stored chunk, 32 bytes each.
  pub digests: Buffer,
  /// CRC-32 of the region's stored bytes.
  pub crc32: u32,
}

/// Seals a file region into another file on threads of its own: see `seal_file_chunks`.
pub struct SealFileChunks {
  in_fd: i32,
  in_position: u64,
  length: u64,
  out_fd: i32,
  out_position: u64,
  subkey: Option<[u8; 32]>,
  aad: Vec<u8>,
  first: u64,
  total: u64,
  threads: usize,
}

#[cfg(unix)]
impl Task for SealFileChunks {
  type Output = (Vec<u8>, u32);
  type JsValue = SealedRegion;

  fn compute(&mut self) -> Result<(Vec<u8>, u32)> {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::FromRawFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    // Borrowed: the caller owns both descriptors and keeps them open until the promise settles.
    let input = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.in_fd) });
    let output = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.out_fd) });
    let key = self.subkey.as_ref().map(|k| key_of(k)).transpose()?;
    let tag = if key.is_some() { TAG } else { 0 };
    let chunk = PLAIN_CHUNK as u64;
    let chunks = self.length.div_ceil(chunk).max(1);
    let block_chunks = 16u64;
    let blocks = chunks.div_ceil(block_chunks);
    let next = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let error = std::sync::Mutex::new(None::<Error>);
    let digests = std::sync::Mutex::new(vec![0u8; chunks as usize * 32]);
    let crcs = std::sync::Mutex::new(vec![None::<crc32fast::Hasher>; blocks as usize]);
    let fail = |e: Error| {
      failed.store(true, Ordering::Relaxed);
      error.lock().unwrap().get_or_insert(e);
    };
    std::thread::scope(|s| {
      for _ in 0..self.threads {
        s.spawn(|| {
          let mut plain = vec![0u8; (block_chunks * chunk) as usize];
          let mut stored = vec![0u8; (block_chunks * (chunk + TAG as u64)) as usize];
          let mut block_digests = [0u8; 16 * 32];
          loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= blocks || failed.load(Ordering::Relaxed) {
              return;
            }
            let start = b * block_chunks * chunk;
            let len = (block_chunks * chunk).min(self.length - start) as usize;
            if let Err(e) = input.read_exact_at(&mut plain[..len], self.in_position + start) {
              let msg = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "changed while reading (shrank)".to_owned()
              } else {
                e.to_string()
              };
              return fail(Error::new(Status::GenericFailure, format!("read: {msg}")));
            }
            let n_chunks = len.div_ceil(PLAIN_CHUNK).max(1);
            let mut out = 0;
            let mut crc = crc32fast::Hasher::new();
            for c in 0..n_chunks {
              let p = &plain[(c * PLAIN_CHUNK).min(len)..((c + 1) * PLAIN_CHUNK).min(len)];
              let s = &mut stored[out..out + p.len() + tag];
              s[..p.len()].copy_from_slice(p);
              if let Some(key) = &key {
                let index = self.first + b * block_chunks + c as u64;
                let (data, t) = s.split_at_mut(p.len());
                match key.seal_in_place_separate_tag(
                  nonce_of(index, index + 1 == self.total),
                  Aad::from(&self.aad),
                  data,
                ) {
                  Ok(tg) => t.copy_from_slice(tg.as_ref()),
                  Err(_) => return fail(range_err("chunk too large")),
                }
              }
              block_digests[c * 32..c * 32 + 32].copy_from_slice(blake3::hash(s).as_bytes());
              crc.update(s);
              out += s.len();
            }
            let at = self.out_position + start + b * block_chunks * tag as u64;
            if let Err(e) = output.write_all_at(&stored[..out], at) {
              return fail(Error::new(Status::GenericFailure, format!("write: {e}")));
            }
            let first = (b * block_chunks) as usize * 32;
            digests.lock().unwrap()[first..first + n_chunks * 32]
              .copy_from_slice(&block_digests[..n_chunks * 32]);
            crcs.lock().unwrap()[b as usize] = Some(crc);
          }
        });
      }
    });
    if let Some(e) = error.lock().unwrap().take() {
      return Err(e);
    }
    let mut crc = crc32fast::Hasher::new();
    for h in crcs.into_inner().unwrap() {
      crc.combine(&h.expect("every block sealed"));
    }
    Ok((digests.into_inner().unwrap(), crc.finalize()))
  }

  fn resolve(&mut self, _env: Env, (digests, crc32): (Vec<u8>, u32)) -> Result<SealedRegion> {
    Ok(SealedRegion {
      digests: digests.into(),
      crc32,
    })
  }
}

/// Seals (or, without `subkey`, copies) the plaintext `length` bytes at `in_position` of `in_fd`,
/// chunks `first..` of an entry of `total` chunks, and writes the stored
/// bytes at `out_position` of `out_fd` with positioned writes, reading, sealing and hashing on
/// `threads` threads. Resolves to the stored chunks' digests and the CRC-32 of the stored bytes.
/// Both descriptors must stay open until the promise settles.
#[cfg(unix)]
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn seal_file_chunks(
  in_fd: i32,
  in_position: f64,
  length: f64,
  out_fd: i32,
  out_position: f64,
  subkey: Option<&[u8]>,
  aad: &[u8],
  first: f64,
  total: f64,
  threads: u32,
) -> Result<AsyncTask<SealFileChunks>> {
  if in_fd < 0 || out_fd < 0 {
    return Err(range_err("invalid file descriptor"));
  }
  let subkey = match subkey {
    None => None,
    Some(k) => Some(<[u8; 32]>::try_from(k).map_err(|_| range_err("subkey must be 32 bytes"))?),
  };
  Ok(AsyncTask::new(SealFileChunks {
    in_fd,
    in_position: index_of(in_position)?,
    length: index_of(length)?,
    out_fd,
    out_position: index_of(out_position)?,
    subkey,
    aad: aad.to_vec(),
    first: index_of(first)?,
    total: index_of(total)?,
    threads: threads.clamp(1, 16) as usize,
  }))
}

/// Stored bytes, digests and CRCs of a batch sealed by `seal_small_files`.
#[napi(object)]
pub struct SmallFilesSealed {
  /// The stored bytes of every file, one after the other.
  pub stored: Buffer,
  /// BLAKE3 of each file's stored bytes (its single chunk), 32 bytes each.
  pub digests: Buffer,
  /// CRC-32 of each file's stored bytes.
  pub crcs: Vec<u32>,
  /// Index of the first file that could not be read or did not have its expected size, or -1.
  pub failed: i32,
  /// For `failed`: the bytes read (up to its size + 1), or -1 when it could not be opened or read.
  pub failed_read: f64,
  /// For `failed` with `failed_read` -1: the OS error code (errno) and message.
  pub failed_errno: i32,
  pub failed_message: String,
}

/// One batch of small files for `seal_small_files`.
pub struct SealSmallFiles {
  paths: Vec<String>,
  sizes: Vec<u64>,
  /// Sealed: the entry names (keys and associated data are derived from them), the HKDF-Extract
  /// output of the master key and the capsule id. None: stored in the clear.
  keys: Option<BatchKeys>,
  threads: usize,
}

struct BatchKeys {
  names: Vec<String>,
  file_key_hmac: ring::hmac::Key,
  capsule_id: [u8; 16],
}

impl BatchKeys {
  /// SPEC §5.1: `fileKey = HKDF-Expand(prk, "qcap/v1 file key" || 0x00 || name, 32)`, one HMAC; then
  /// the STREAM subkey `HChaCha20(fileKey, 0^16)` and the associated data of §5.2.
  fn for_entry(&self, i: usize) -> (LessSafeKey, Vec<u8>) {
    let name = self.names[i].as_bytes();
    let mut ctx = ring::hmac::Context::with_key(&self.file_key_hmac);
    ctx.update(b"qcap/v1 file key\0");
    ctx.update(name);
    ctx.update(&[1]);
    let mut file_key = [0u8; 32];
    file_key.copy_from_slice(ctx.sign().as_ref());
    let mut subkey = hchacha20(&file_key, &[0u8; 16]);
    let key = key_of(&subkey).expect("32-byte subkey");
    file_key.fill(0);
    subkey.fill(0);
    let mut aad = Vec::with_capacity(8 + 16 + name.len());
    aad.extend_from_slice(b"qcap/v1\0");
    aad.extend_from_slice(&self.capsule_id);
    aad.extend_from_slice(name);
    (key, aad)
  }
}

/// HChaCha20 (draft-irtf-cfrg-xchacha §2.2): the XChaCha20 subkey of `key` and a 16-byte nonce.
fn hchacha20(key: &[u8; 32], nonce: &[u8; 16]) -> [u8; 32] {
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

#[cfg(unix)]
impl Task for SealSmallFiles {
  type Output = SmallFilesSealedData;
  type JsValue = SmallFilesSealed;

  fn compute(&mut self) -> Result<SmallFilesSealedData> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = self.paths.len();
    let tag = if self.keys.is_some() { TAG } else { 0 };
    // Where each file's stored bytes go: known in advance from the expected sizes.
    let mut starts = Vec::with_capacity(n + 1);
    let mut total = 0usize;
    for &size in &self.sizes {
      starts.push(total);
      total += size as usize + tag;
    }
    starts.push(total);
    let stored = std::sync::Mutex::new(vec![0u8; total]);
    let digests = std::sync::Mutex::new(vec![0u8; n * 32]);
    let crcs = std::sync::Mutex::new(vec![0u32; n]);
    let next = AtomicUsize::new(0);
    let first_bad = std::sync::Mutex::new(None::<(usize, f64, i32, String)>);
    std::thread::scope(|s| {
      for _ in 0..self.threads {
        s.spawn(|| {
          // Files are taken in small runs so the output locks are taken rarely.
          const RUN: usize = 16;
          let mut buf = Vec::new();
          loop {
            let from = next.fetch_add(RUN, Ordering::Relaxed);
            if from >= n {
              return;
            }
            let to = (from + RUN).min(n);
            let mut out = vec![0u8; starts[to] - starts[from]];
            let mut run_digests = [0u8; RUN * 32];
            let mut run_crcs = [0u32; RUN];
            let mut bad = None;
            for i in from..to {
              let size = self.sizes[i] as usize;
              // One byte more than expected, so a file that grew is noticed. O_NOFOLLOW: a symbolic
              // link put in a listed file's place is refused, not followed.
              let read = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc_o_nofollow())
                .open(&self.paths[i])
                .and_then(|mut f| {
                  buf.resize(size + 1, 0);
                  let mut got = 0;
                  loop {
                    let want = buf.len() - got;
                    let k = f.read(&mut buf[got..])?;
                    got += k;
                    // A short read of a regular file is its end: no second call just to see 0.
                    if k == 0 || k < want || got == buf.len() {
                      return Ok(got);
                    }
                  }
                });
              match read {
                Err(e) => {
                  bad = Some((i, -1.0, e.raw_os_error().unwrap_or(0), e.to_string()));
                  break;
                }
                Ok(got) if got != size => {
                  bad = Some((i, got as f64, 0, String::new()));
                  break;
                }
                Ok(_) => {}
              }
              let at = starts[i] - starts[from];
              let s = &mut out[at..at + size + tag];
              s[..size].copy_from_slice(&buf[..size]);
              if let Some(keys) = &self.keys {
                let (key, aad) = keys.for_entry(i);
                let (data, t) = s.split_at_mut(size);
                // A small file is chunk 0 and the last chunk of its entry.
                match key.seal_in_place_separate_tag(nonce_of(0, true), Aad::from(&aad), data) {
                  Ok(tg) => t.copy_from_slice(tg.as_ref()),
                  Err(_) => {
                    bad = Some((i, -1.0, 0, "chunk too large".to_owned()));
                    break;
                  }
                }
              }
              run_digests[(i - from) * 32..(i - from) * 32 + 32].copy_from_slice(blake3::hash(s).as_bytes());
              run_crcs[i - from] = crc32fast::hash(s);
            }
            if let Some(b) = bad {
              let mut f = first_bad.lock().unwrap();
              if f.as_ref().is_none_or(|x| b.0 < x.0) {
                *f = Some(b);
              }
              // Later runs still go on: an earlier file may fail too, and the first failure is reported.
              continue;
            }
            stored.lock().unwrap()[starts[from]..starts[to]].copy_from_slice(&out);
            digests.lock().unwrap()[from * 32..to * 32].copy_from_slice(&run_digests[..(to - from) * 32]);
            crcs.lock().unwrap()[from..to].copy_from_slice(&run_crcs[..to - from]);
          }
        });
      }
    });
    Ok(SmallFilesSealedData {
      stored: stored.into_inner().unwrap(),
      digests: digests.into_inner().unwrap(),
      crcs: crcs.into_inner().unwrap(),
      failed: first_bad.into_inner().unwrap(),
    })
  }

  fn resolve(&mut self, _env: Env, out: SmallFilesSealedData) -> Result<SmallFilesSealed> {
    let (failed, failed_read, failed_errno, failed_message) = match out.failed {
      None => (-1, 0.0, 0, String::new()),
      Some((i, read, errno, msg)) => (i as i32, read, errno, msg),
    };
    Ok(SmallFilesSealed {
      stored: out.stored.into(),
      digests: out.digests.into(),
      crcs: out.crcs,
      failed,
      failed_read,
      failed_errno,
      failed_message,
    })
  }
}

pub struct SmallFilesSealedData {
  stored: Vec<u8>,
  digests: Vec<u8>,
  crcs: Vec<u32>,
  failed: Option<(usize, f64, i32, String)>,
}

#[cfg(target_os = "linux")]
fn libc_o_nofollow() -> i32 {
  0o400000
}
#[cfg(target_os = "macos")]
fn libc_o_nofollow() -> i32 {
  0x0100
}
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
fn libc_o_nofollow() -> i32 {
  0
}

/// Reads whole small files (each at most 65536 bytes: one chunk) and seals each as its own entry
/// (chunk 0, last) or, without `prk`, stores it in the clear, on `threads` threads. Sealed, each
/// file's key and associated data derive from its entry name (`names`), `prk` (the HKDF-Extract of
/// the master key with the capsule id as salt, SPEC §5.1) and `capsule_id` (§5.2).
#[cfg(unix)]
#[napi]
pub fn seal_small_files(
  paths: Vec<String>,
  sizes: Vec<f64>,
  names: Option<Vec<String>>,
  prk: Option<&[u8]>,
  capsule_id: Option<&[u8]>,
  threads: u32,
) -> Result<AsyncTask<SealSmallFiles>> {
  let n = paths.len();
  if sizes.len() != n {
    return Err(range_err("batch arrays disagree"));
  }
  let keys = match (names, prk, capsule_id) {
    (None, None, None) => None,
    (Some(names), Some(prk), Some(id)) => {
      if names.len() != n || prk.len() != 32 {
        return Err(range_err("batch keys disagree"));
      }
      Some(BatchKeys {
        names,
        file_key_hmac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, prk),
        capsule_id: id
          .try_into()
          .map_err(|_| range_err("capsule id must be 16 bytes"))?,
      })
    }
    _ => return Err(range_err("names, prk and capsule id go together")),
  };
  let mut s = Vec::with_capacity(n);
  for &x in &sizes {
    let v = index_of(x)?;
    if v > PLAIN_CHUNK as u64 {
      return Err(range_err("small files are at most one chunk"));
    }
    s.push(v);
  }
  Ok(AsyncTask::new(SealSmallFiles {
    paths,
    sizes: s,
    keys,
    threads: threads.clamp(1, 16) as usize,
  }))
}

/// The files below a folder, as listed by `list_tree`.
#[napi(object)]
pub struct Tree {
  /// Paths relative to the folder, with `/` separators, depth first, each folder's names in byte order.
  pub paths: Vec<String>,
  /// Per path: 0 a regular file, 1 a symbolic link (not followed), 2 anything else.
  pub kinds: Vec<u8>,
  pub sizes: Vec<f64>,
  /// Per path: the permission bits.
  pub modes: Vec<u32>,
  /// A path that is not UTF-8, if any (then the listing is incomplete); empty otherwise.
  pub not_utf8: String,
}

pub struct ListTree {
  root: std::path::PathBuf,
}

#[cfg(unix)]
impl Task for ListTree {
  type Output = Tree;
  type JsValue = Tree;

  fn compute(&mut self) -> Result<Tree> {
    use std::os::unix::fs::PermissionsExt;
    let mut t = Tree { paths: vec![], kinds: vec![], sizes: vec![], modes: vec![], not_utf8: String::new() };
    fn walk(dir: &std::path::Path, rel: &str, t: &mut Tree) -> std::io::Result<bool> {
      let mut names: Vec<std::ffi::OsString> =
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect::<std::io::Result<_>>()?;
      names.sort();
      for name in names {
        let Some(n) = name.to_str() else {
          t.not_utf8 = format!("{}{}", rel, name.to_string_lossy());
          return Ok(false);
        };
        let path = dir.join(&name);
        let r = if rel.is_empty() { n.to_owned() } else { format!("{rel}/{n}") };
        let m = std::fs::symlink_metadata(&path)?;
        let ft = m.file_type();
        if ft.is_dir() {
          if !walk(&path, &r, t)? {
            return Ok(false);
          }
          continue;
        }
        t.kinds.push(if ft.is_file() { 0 } else if ft.is_symlink() { 1 } else { 2 });
        t.sizes.push(m.len() as f64);
        t.modes.push(m.permissions().mode());
        t.paths.push(r);
      }
      Ok(true)
    }
    let root = self.root.clone();
    walk(&root, "", &mut t).map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
    Ok(t)
  }

  fn resolve(&mut self, _env: Env, t: Tree) -> Result<Tree> {
    Ok(t)
  }
}

/// Lists every file below `dir` without following symbolic links (lstat), for packing a folder.
/// Rejects with the OS error of the first folder or entry that cannot be read.
#[cfg(unix)]
#[napi]
pub fn list_tree(dir: String) -> AsyncTask<ListTree> {
  AsyncTask::new(ListTree { root: dir.into() })
}
