//! File-to-file kernels: a region of a file sealed into another, or checked, with positioned I/O on
//! threads of their own (the calling thread is free meanwhile: these are Node async tasks).

use crate::{index_of, key_of, nonce_of, range_err, Failure, PLAIN_CHUNK, TAG};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use ring::aead::{Aad, Tag};

/// Checks (and decrypts) stored chunks of a file region on threads of its own: see
/// `check_file_chunks` and `open_file_chunks`.
pub struct CheckFileChunks {
  fd: i32,
  position: u64,
  length: u64,
  chunk_size: usize,
  expected: Vec<u8>,
  threads: usize,
  decrypt: Option<Decrypt>,
  /// Set by `compute` for `reject`, which makes the coded error on the JavaScript thread.
  failure: Option<Failure>,
}

/// Where and how `open_file_chunks` decrypts: the entry's STREAM key, its chunk numbering, and the
/// file and position the plaintext goes to.
struct Decrypt {
  key: ring::aead::LessSafeKey,
  aad: Vec<u8>,
  first: u64,
  total: u64,
  out_fd: i32,
  out_position: u64,
}

/// What went wrong first (lowest chunk index) in a region.
enum Problem {
  Mismatch,
  NotAuthentic,
  Truncated,
  Read(String),
  Write(String),
}

#[cfg(unix)]
impl Task for CheckFileChunks {
  type Output = ();
  type JsValue = ();

  fn compute(&mut self) -> Result<()> {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::FromRawFd;
    use std::sync::atomic::{AtomicU64, Ordering};
    // SAFETY: borrowed descriptors: the caller owns them and keeps them open until the promise
    // settles, and ManuallyDrop never closes them here.
    let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.fd) });
    let out = self
      .decrypt
      .as_ref()
      // SAFETY: as above, for the output descriptor.
      .map(|d| std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(d.out_fd) }));
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
          let mut plain = vec![
            0u8;
            if self.decrypt.is_some() {
              (block_chunks as usize) * PLAIN_CHUNK
            } else {
              0
            }
          ];
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
                Problem::Read(e.to_string())
              };
              report(b * block_chunks, p);
              return;
            }
            let mut plain_len = 0;
            for (c, stored) in buf[..len].chunks(chunk as usize).enumerate() {
              let i = b * block_chunks + c as u64;
              let at = i as usize * 32;
              // blake3::Hash compares in constant time.
              let want = blake3::Hash::from_bytes(self.expected[at..at + 32].try_into().unwrap());
              if blake3::hash(stored) != want {
                report(i, Problem::Mismatch);
                return;
              }
              // Decrypted only once its digest has matched.
              if let Some(d) = &self.decrypt {
                let index = d.first + i;
                let n = stored.len().saturating_sub(TAG);
                let p = &mut plain[plain_len..plain_len + n];
                p.copy_from_slice(&stored[..n]);
                let ok = stored.len() >= TAG
                  && Tag::try_from(&stored[n..])
                    .ok()
                    .and_then(|tag| {
                      d.key
                        .open_in_place_separate_tag(
                          nonce_of(index, index + 1 == d.total),
                          Aad::from(&d.aad),
                          tag,
                          p,
                          0..,
                        )
                        .ok()
                    })
                    .is_some();
                if !ok {
                  p.fill(0);
                  report(i, Problem::NotAuthentic);
                  return;
                }
                plain_len += n;
              }
            }
            if let (Some(d), Some(out)) = (&self.decrypt, &out) {
              let at = d.out_position + b * block_chunks * PLAIN_CHUNK as u64;
              if let Err(e) = out.write_all_at(&plain[..plain_len], at) {
                report(b * block_chunks, Problem::Write(e.to_string()));
                return;
              }
            }
          }
        });
      }
    });
    let failure = match first.into_inner().unwrap() {
      None => return Ok(()),
      Some((i, Problem::Mismatch)) => Failure::Mismatch(i),
      Some((i, Problem::NotAuthentic)) => Failure::NotAuthentic(i),
      Some((_, Problem::Truncated)) => Failure::Truncated,
      Some((_, Problem::Read(e))) => Failure::Read(e),
      Some((_, Problem::Write(e))) => Failure::Write(e),
    };
    self.failure = Some(failure);
    Err(Error::new(Status::GenericFailure, "chunk check failed"))
  }

  fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
    Ok(())
  }

  fn reject(&mut self, env: Env, err: Error) -> Result<()> {
    Err(match self.failure.take() {
      Some(f) => f.into_error(&env),
      None => err,
    })
  }
}

#[cfg(unix)]
fn check_task(
  fd: i32,
  position: f64,
  length: f64,
  chunk_size: u32,
  expected: &[u8],
  threads: u32,
  decrypt: Option<Decrypt>,
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
    decrypt,
    failure: None,
  }))
}

/// Reads `length` stored bytes of a file at `position` (chunks of `chunk_size` bytes) with
/// positioned reads on `threads` threads and checks each chunk's BLAKE3 digest against `expected`
/// (32 bytes per chunk; the last chunk may be short). Resolves when all match; rejects with code
/// `QCAP_CHUNK_MISMATCH` (and `chunk`, the first that does not) or `QCAP_TRUNCATED` when the file
/// ends early, or `QCAP_READ_FAILED` on a read error. `fd` must stay open until the promise settles.
#[cfg(unix)]
#[napi(ts_return_type = "Promise<void>")]
pub fn check_file_chunks(
  fd: i32,
  position: f64,
  length: f64,
  chunk_size: u32,
  expected: &[u8],
  threads: u32,
) -> Result<AsyncTask<CheckFileChunks>> {
  check_task(fd, position, length, chunk_size, expected, threads, None)
}

/// `check_file_chunks`, and each chunk that matches is decrypted (chunk `first + i` of an entry of
/// `total` chunks, with `subkey` and `aad`) and its plaintext written at `out_position` of `out_fd`
/// plus 65536 bytes per chunk before it. Settles as `check_file_chunks` does, or rejects with code
/// `QCAP_CHUNK_NOT_AUTHENTIC` when chunk `chunk` matches its digest but does not authenticate, or
/// with `QCAP_READ_FAILED` or `QCAP_WRITE_FAILED`.
#[cfg(unix)]
#[napi(ts_return_type = "Promise<void>")]
#[allow(clippy::too_many_arguments)]
pub fn open_file_chunks(
  fd: i32,
  position: f64,
  length: f64,
  chunk_size: u32,
  expected: &[u8],
  subkey: &[u8],
  aad: &[u8],
  first: f64,
  total: f64,
  out_fd: i32,
  out_position: f64,
  threads: u32,
) -> Result<AsyncTask<CheckFileChunks>> {
  if out_fd < 0 {
    return Err(range_err("invalid file descriptor"));
  }
  if chunk_size as usize != PLAIN_CHUNK + TAG {
    return Err(range_err("encrypted entries have chunks of 65552 bytes"));
  }
  let decrypt = Decrypt {
    key: key_of(subkey)?,
    aad: aad.to_vec(),
    first: index_of(first)?,
    total: index_of(total)?,
    out_fd,
    out_position: index_of(out_position)?,
  };
  check_task(fd, position, length, chunk_size, expected, threads, Some(decrypt))
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
  /// Set by `compute` for `reject`, which makes the coded error on the JavaScript thread.
  failure: Option<Failure>,
}

#[cfg(unix)]
impl Task for SealFileChunks {
  type Output = (Vec<u8>, u32);
  type JsValue = SealedRegion;

  fn compute(&mut self) -> Result<(Vec<u8>, u32)> {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::FromRawFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    // SAFETY: borrowed descriptors: the caller owns both and keeps them open until the promise
    // settles, and ManuallyDrop never closes them here.
    let input = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.in_fd) });
    // SAFETY: as above, for the output descriptor.
    let output = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.out_fd) });
    let key = self.subkey.as_ref().map(|k| key_of(k)).transpose()?;
    let tag = if key.is_some() { TAG } else { 0 };
    let chunk = PLAIN_CHUNK as u64;
    let chunks = self.length.div_ceil(chunk).max(1);
    let block_chunks = 16u64;
    let blocks = chunks.div_ceil(block_chunks);
    let next = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let error = std::sync::Mutex::new(None::<Failure>);
    let digests = std::sync::Mutex::new(vec![0u8; chunks as usize * 32]);
    let crcs = std::sync::Mutex::new(vec![None::<crc32fast::Hasher>; blocks as usize]);
    let fail = |e: Failure| {
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
              return fail(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Failure::Changed {
                  index: None,
                  read: None,
                }
              } else {
                Failure::Read(e.to_string())
              });
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
                  Err(_) => return fail(Failure::Other(range_err("chunk too large"))),
                }
              }
              block_digests[c * 32..c * 32 + 32].copy_from_slice(blake3::hash(s).as_bytes());
              crc.update(s);
              out += s.len();
            }
            let at = self.out_position + start + b * block_chunks * tag as u64;
            if let Err(e) = output.write_all_at(&stored[..out], at) {
              return fail(Failure::Write(e.to_string()));
            }
            let first = (b * block_chunks) as usize * 32;
            digests.lock().unwrap()[first..first + n_chunks * 32]
              .copy_from_slice(&block_digests[..n_chunks * 32]);
            crcs.lock().unwrap()[b as usize] = Some(crc);
          }
        });
      }
    });
    if let Some(f) = error.lock().unwrap().take() {
      self.failure = Some(f);
      return Err(Error::new(Status::GenericFailure, "sealing failed"));
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

  fn reject(&mut self, env: Env, err: Error) -> Result<SealedRegion> {
    Err(match self.failure.take() {
      Some(f) => f.into_error(&env),
      None => err,
    })
  }
}

/// Seals (or, without `subkey`, copies) the plaintext `length` bytes at `in_position` of `in_fd`,
/// chunks `first..` of an entry of `total` chunks, and writes the stored
/// bytes at `out_position` of `out_fd` with positioned writes, reading, sealing and hashing on
/// `threads` threads. Resolves to the stored chunks' digests and the CRC-32 of the stored bytes;
/// rejects with code `QCAP_READ_FAILED`, `QCAP_FILE_CHANGED` (the input shrank) or
/// `QCAP_WRITE_FAILED`. Both descriptors must stay open until the promise settles.
#[cfg(unix)]
#[napi(ts_return_type = "Promise<SealedRegion>")]
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
    failure: None,
  }))
}
