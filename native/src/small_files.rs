//! Small files (at most one chunk each) read and sealed in batches, their keys derived here (SPEC §5.1,
//! §5.2), so that thousands of files cost no per-file calls from JavaScript.

use crate::kdf::hchacha20;
use crate::{index_of, key_of, nonce_of, range_err, Failure, PLAIN_CHUNK, TAG};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use ring::aead::{Aad, LessSafeKey};

/// Stored bytes, digests and CRCs of a batch sealed by `seal_small_files`.
#[napi(object)]
pub struct SmallFilesSealed {
  /// The stored bytes of every file, one after the other.
  pub stored: Buffer,
  /// BLAKE3 of each file's stored bytes (its single chunk), 32 bytes each.
  pub digests: Buffer,
  /// CRC-32 of each file's stored bytes.
  pub crcs: Vec<u32>,
}

/// One batch of small files for `seal_small_files`.
pub struct SealSmallFiles {
  paths: Vec<String>,
  sizes: Vec<u64>,
  /// Sealed: the entry names (keys and associated data are derived from them), the HKDF-Extract
  /// output of the master key and the capsule id. None: stored in the clear.
  keys: Option<BatchKeys>,
  threads: usize,
  /// Set by `compute` for `reject`, which makes the coded error on the JavaScript thread.
  failure: Option<Failure>,
}

struct BatchKeys {
  names: Vec<String>,
  file_key_hmac: ring::hmac::Key,
  capsule_id: [u8; 16],
}

impl BatchKeys {
  fn for_entry(&self, i: usize) -> (LessSafeKey, Vec<u8>) {
    entry_stream_key(&self.file_key_hmac, &self.capsule_id, &self.names[i])
  }
}

/// SPEC §5.1: `fileKey = HKDF-Expand(prk, "qcap/v1 file key" || 0x00 || name, 32)`, one HMAC keyed
/// with `prk`; then the STREAM subkey `HChaCha20(fileKey, 0^16)` and the associated data of §5.2.
pub(crate) fn entry_stream_key(
  file_key_hmac: &ring::hmac::Key,
  capsule_id: &[u8; 16],
  name: &str,
) -> (LessSafeKey, Vec<u8>) {
  let name = name.as_bytes();
  let mut ctx = ring::hmac::Context::with_key(file_key_hmac);
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
  aad.extend_from_slice(capsule_id);
  aad.extend_from_slice(name);
  (key, aad)
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
    if let Some((index, read, errno, message)) = first_bad.into_inner().unwrap() {
      self.failure = Some(if read >= 0.0 {
        Failure::Changed {
          index: Some(index),
          read: Some(read as u64),
        }
      } else if message == "chunk too large" {
        Failure::Other(range_err("chunk too large"))
      } else {
        Failure::Unreadable {
          index,
          errno,
          message,
        }
      });
      return Err(Error::new(Status::GenericFailure, "a file of the batch failed"));
    }
    Ok(SmallFilesSealedData {
      stored: stored.into_inner().unwrap(),
      digests: digests.into_inner().unwrap(),
      crcs: crcs.into_inner().unwrap(),
    })
  }

  fn resolve(&mut self, _env: Env, out: SmallFilesSealedData) -> Result<SmallFilesSealed> {
    Ok(SmallFilesSealed {
      stored: out.stored.into(),
      digests: out.digests.into(),
      crcs: out.crcs,
    })
  }

  fn reject(&mut self, env: Env, err: Error) -> Result<SmallFilesSealed> {
    Err(match self.failure.take() {
      Some(f) => f.into_error(&env),
      None => err,
    })
  }
}

pub struct SmallFilesSealedData {
  stored: Vec<u8>,
  digests: Vec<u8>,
  crcs: Vec<u32>,
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
/// the master key with the capsule id as salt, SPEC §5.1) and `capsule_id` (§5.2). Rejects with code
/// `QCAP_FILE_CHANGED` (`index`, `read`: the bytes read, up to its size + 1) or `QCAP_FILE_UNREADABLE`
/// (`index`, `errno`) for the first file of the batch that fails.
#[cfg(unix)]
#[napi(ts_return_type = "Promise<SmallFilesSealed>")]
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
    failure: None,
  }))
}
