//! Small entries (one chunk each) of a capsule checked, decrypted and written into a folder in
//! batches: one positioned read of the capsule for the whole batch, and files created relative to a
//! held folder descriptor, so that thousands of entries cost no per-file calls from JavaScript.
//!
//! Every name is resolved from a folder descriptor one component at a time: folders are made with
//! `mkdirat` and opened with `O_DIRECTORY | O_NOFOLLOW`, files are created with `O_CREAT | O_EXCL |
//! O_NOFOLLOW`. A symbolic link swapped in anywhere below the given folder is refused, never
//! followed, so no write leaves it even when another process races this one.

use crate::small_files::entry_stream_key;
use crate::{index_of, key_of, nonce_of, range_err, Failure, PLAIN_CHUNK, TAG};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use ring::aead::{Aad, LessSafeKey};

/// How the entries of a batch are keyed.
enum Keys {
  /// Stored in the clear.
  Plain,
  /// File keys derived from the HKDF-Extract output of the master key (SPEC §5.1).
  Derived {
    file_key_hmac: ring::hmac::Key,
    capsule_id: [u8; 16],
  },
  /// One 32-byte file key per entry (e.g. from a grant).
  Given {
    file_keys: Vec<u8>,
    capsule_id: [u8; 16],
  },
}

/// One batch for `open_small_entries`.
pub struct OpenSmallEntries {
  fd: i32,
  span_start: u64,
  span_length: usize,
  offsets: Vec<u64>,
  names: Vec<String>,
  stored: Vec<usize>,
  digests: Vec<u8>,
  keys: Keys,
  dir_fd: i32,
  paths: Vec<String>,
  modes: Vec<u32>,
  threads: usize,
  /// Set by `compute` for `reject`, which makes the coded error on the JavaScript thread.
  failure: Option<Failure>,
}

/// What went wrong with one entry.
enum Problem {
  Header,
  Mismatch,
  NotAuthentic,
  Write(std::io::Error),
}

/// The local header of SPEC §7.2 for a stored entry named `name` (sizes in the data descriptor).
fn local_header(name: &[u8]) -> Vec<u8> {
  let mut h = Vec::with_capacity(50 + name.len());
  h.extend_from_slice(&0x04034b50u32.to_le_bytes());
  h.extend_from_slice(&45u16.to_le_bytes());
  h.extend_from_slice(&0x0808u16.to_le_bytes());
  h.extend_from_slice(&0u16.to_le_bytes()); // method: stored
  h.extend_from_slice(&0u16.to_le_bytes()); // time
  h.extend_from_slice(&0x0021u16.to_le_bytes()); // date: 1980-01-01
  h.extend_from_slice(&0u32.to_le_bytes()); // CRC-32: in the data descriptor
  h.extend_from_slice(&0xffff_ffffu32.to_le_bytes());
  h.extend_from_slice(&0xffff_ffffu32.to_le_bytes());
  h.extend_from_slice(&(name.len() as u16).to_le_bytes());
  h.extend_from_slice(&20u16.to_le_bytes());
  h.extend_from_slice(name);
  h.extend_from_slice(&1u16.to_le_bytes()); // ZIP64 extra field
  h.extend_from_slice(&16u16.to_le_bytes());
  h.extend_from_slice(&[0u8; 16]);
  h
}

#[cfg(unix)]
mod fs_at {
  //! `mkdirat` and `openat` below a held folder, one component at a time, never following links.
  use std::ffi::CString;
  use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

  fn component(c: &str) -> std::io::Result<CString> {
    if c.is_empty() || c == "." || c == ".." || c.contains('/') {
      return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    CString::new(c).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
  }

  /// Makes (if missing) and opens folder `name` inside `parent`; a link there is refused.
  pub fn dir_at(parent: RawFd, name: &str) -> std::io::Result<OwnedFd> {
    let c = component(name)?;
    // SAFETY: `parent` is an open folder descriptor and `c` a NUL-terminated string.
    if unsafe { libc::mkdirat(parent, c.as_ptr(), 0o777) } != 0 {
      let e = std::io::Error::last_os_error();
      if e.raw_os_error() != Some(libc::EEXIST) {
        return Err(e);
      }
    }
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: as above; the returned descriptor is owned by the OwnedFd.
    let fd = unsafe { libc::openat(parent, c.as_ptr(), flags) };
    if fd < 0 {
      return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
  }

  /// Creates file `name` inside `dir`: it must not exist (nor be a link).
  pub fn create_at(dir: RawFd, name: &str, mode: u32) -> std::io::Result<std::fs::File> {
    let c = component(name)?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `dir` is an open folder descriptor and `c` a NUL-terminated string.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), flags, mode as libc::c_uint) };
    if fd < 0 {
      return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by no one else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
  }

  /// Folders opened so far by one thread, by their path below the root (bounded).
  pub struct Dirs {
    root: RawFd,
    open: std::collections::HashMap<String, OwnedFd>,
  }

  const MAX_HELD: usize = 64;

  impl Dirs {
    pub fn new(root: RawFd) -> Self {
      Dirs {
        root,
        open: std::collections::HashMap::new(),
      }
    }

    /// The descriptor of folder `path` (`/`-separated, relative; "" is the root), made as needed.
    pub fn get(&mut self, path: &str) -> std::io::Result<RawFd> {
      if path.is_empty() {
        return Ok(self.root);
      }
      if let Some(fd) = self.open.get(path) {
        return Ok(fd.as_raw_fd());
      }
      if self.open.len() >= MAX_HELD {
        self.open.clear();
      }
      let (parent, name) = match path.rfind('/') {
        Some(k) => (&path[..k], &path[k + 1..]),
        None => ("", path),
      };
      let p = self.get(parent)?;
      let fd = dir_at(p, name)?;
      let raw = fd.as_raw_fd();
      self.open.insert(path.to_owned(), fd);
      Ok(raw)
    }
  }
}

#[cfg(unix)]
impl OpenSmallEntries {
  /// The STREAM key and associated data of entry `i`, or None when stored in the clear.
  fn key_of_entry(&self, i: usize) -> Option<(LessSafeKey, Vec<u8>)> {
    match &self.keys {
      Keys::Plain => None,
      Keys::Derived {
        file_key_hmac,
        capsule_id,
      } => Some(entry_stream_key(file_key_hmac, capsule_id, &self.names[i])),
      Keys::Given {
        file_keys,
        capsule_id,
      } => {
        let mut fk = [0u8; 32];
        fk.copy_from_slice(&file_keys[i * 32..i * 32 + 32]);
        let mut subkey = crate::kdf::hchacha20(&fk, &[0u8; 16]);
        let key = key_of(&subkey).expect("32-byte subkey");
        fk.fill(0);
        subkey.fill(0);
        let name = self.names[i].as_bytes();
        let mut aad = Vec::with_capacity(24 + name.len());
        aad.extend_from_slice(b"qcap/v1\0");
        aad.extend_from_slice(capsule_id);
        aad.extend_from_slice(name);
        Some((key, aad))
      }
    }
  }

  /// Checks entry `i` in the batch's bytes `span` and leaves its plaintext in `plain`.
  fn plaintext(&self, i: usize, span: &[u8], plain: &mut Vec<u8>) -> std::result::Result<(), Problem> {
    let name = self.names[i].as_bytes();
    let header = local_header(name);
    let at = (self.offsets[i] - self.span_start) as usize;
    if span[at..at + header.len()] != header[..] {
      return Err(Problem::Header);
    }
    let data = &span[at + header.len()..at + header.len() + self.stored[i]];
    if blake3::hash(data).as_bytes()[..] != self.digests[i * 32..i * 32 + 32] {
      return Err(Problem::Mismatch);
    }
    plain.clear();
    plain.extend_from_slice(data);
    if let Some((key, aad)) = self.key_of_entry(i) {
      // A small entry is chunk 0 and the last chunk of its entry.
      let n = key
        .open_in_place(nonce_of(0, true), Aad::from(&aad), plain)
        .map_err(|_| Problem::NotAuthentic)?
        .len();
      plain.truncate(n);
    }
    Ok(())
  }

  /// Creates the file of entry `i` holding `plain`.
  fn write(&self, i: usize, plain: &[u8], dirs: &mut fs_at::Dirs) -> std::result::Result<(), Problem> {
    use std::io::Write;
    let path = &self.paths[i];
    let (dir, base) = match path.rfind('/') {
      Some(k) => (&path[..k], &path[k + 1..]),
      None => ("", path.as_str()),
    };
    let d = dirs.get(dir).map_err(Problem::Write)?;
    let mut f = fs_at::create_at(d, base, self.modes[i]).map_err(Problem::Write)?;
    f.write_all(plain).map_err(Problem::Write)
  }

  /// All entries on this thread, in order: the first failure ends the batch.
  fn serial(&self, span: &[u8]) -> std::result::Result<u64, (usize, Problem)> {
    let mut plain = Vec::with_capacity(PLAIN_CHUNK + TAG);
    let mut dirs = fs_at::Dirs::new(self.dir_fd);
    let mut total = 0u64;
    for i in 0..self.names.len() {
      self.plaintext(i, span, &mut plain).map_err(|p| (i, p))?;
      self.write(i, &plain, &mut dirs).map_err(|p| (i, p))?;
      total += plain.len() as u64;
    }
    Ok(total)
  }

  /// Two threads in a pipeline: one checks and decrypts, the other creates the files in order.
  /// Creating files stays on one thread: files made in one folder from two threads serialise on
  /// the folder's lock in the kernel, and the waiting thread spins on it.
  fn pipelined(&self, span: &[u8]) -> std::result::Result<u64, (usize, Problem)> {
    /// Entries handed over at a time: one hand-over per entry costs more in futex calls than the
    /// checking it moves to the other thread.
    const GROUP: usize = 64;
    /// A group's entries from `first`, their plaintexts one after the other, and where each ends.
    struct Group {
      first: usize,
      bytes: Vec<u8>,
      ends: Vec<usize>,
    }
    let n = self.names.len();
    let (to_writer, from_checker) = std::sync::mpsc::sync_channel::<Group>(4);
    let (to_checker, spare) = std::sync::mpsc::channel::<Group>();
    std::thread::scope(|s| {
      let checker = s.spawn(move || -> std::result::Result<(), (usize, Problem)> {
        let mut plain = Vec::with_capacity(PLAIN_CHUNK + TAG);
        for first in (0..n).step_by(GROUP) {
          let mut g = spare.try_recv().unwrap_or_else(|_| Group {
            first,
            bytes: Vec::new(),
            ends: Vec::with_capacity(GROUP),
          });
          g.first = first;
          g.bytes.clear();
          g.ends.clear();
          let mut failed = None;
          for i in first..(first + GROUP).min(n) {
            if let Err(p) = self.plaintext(i, span, &mut plain) {
              failed = Some((i, p));
              break;
            }
            g.bytes.extend_from_slice(&plain);
            g.ends.push(g.bytes.len());
          }
          // The entries before a failure are still written, as on one thread.
          if to_writer.send(g).is_err() {
            return Ok(()); // the writer stopped at an earlier failure
          }
          if let Some(f) = failed {
            return Err(f);
          }
        }
        Ok(())
      });
      let mut dirs = fs_at::Dirs::new(self.dir_fd);
      let mut total = 0u64;
      let mut written = Ok(());
      'groups: for g in from_checker.iter() {
        let mut at = 0;
        for (k, &end) in g.ends.iter().enumerate() {
          if let Err(p) = self.write(g.first + k, &g.bytes[at..end], &mut dirs) {
            written = Err((g.first + k, p));
            break 'groups;
          }
          at = end;
        }
        total += at as u64;
        let _ = to_checker.send(g);
      }
      drop(from_checker);
      let checked = checker.join().expect("the checking thread does not panic");
      // Entries are written in order, so a write failure comes before any later check failure.
      written.and(checked).map(|()| total)
    })
  }
}

#[cfg(unix)]
impl Task for OpenSmallEntries {
  type Output = f64;
  type JsValue = f64;

  fn compute(&mut self) -> Result<f64> {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::FromRawFd;
    // SAFETY: a borrowed descriptor: the caller keeps it open until the promise settles, and
    // ManuallyDrop never closes it here.
    let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.fd) });
    // One read for the whole batch: its entries lie one after the other in the capsule.
    let mut span = vec![0u8; self.span_length];
    if let Err(e) = file.read_exact_at(&mut span, self.span_start) {
      self.failure = Some(if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Failure::Truncated
      } else {
        Failure::Read(e.to_string())
      });
      return Err(Error::new(Status::GenericFailure, "the batch could not be read"));
    }
    let done = if self.threads >= 2 && self.names.len() >= 64 {
      self.pipelined(&span)
    } else {
      self.serial(&span)
    };
    if let Err((index, p)) = done {
      let (code, errno, message) = match p {
        Problem::Header => ("QCAP_ENTRY_HEADER", 0, "local header does not match".to_owned()),
        Problem::Mismatch => ("QCAP_ENTRY_MISMATCH", 0, "does not match its digest".to_owned()),
        Problem::NotAuthentic => ("QCAP_ENTRY_NOT_AUTHENTIC", 0, "does not authenticate".to_owned()),
        Problem::Write(e) => (
          "QCAP_ENTRY_UNWRITABLE",
          e.raw_os_error().unwrap_or(0),
          e.to_string(),
        ),
      };
      self.failure = Some(Failure::Entry {
        code,
        index,
        errno,
        message,
      });
      return Err(Error::new(Status::GenericFailure, "an entry of the batch failed"));
    }
    Ok(done.unwrap_or(0) as f64)
  }

  fn resolve(&mut self, _env: Env, out: f64) -> Result<f64> {
    Ok(out)
  }

  fn reject(&mut self, env: Env, err: Error) -> Result<f64> {
    Err(match self.failure.take() {
      Some(f) => f.into_error(&env),
      None => err,
    })
  }
}

fn id_of(id: &[u8]) -> Result<[u8; 16]> {
  id.try_into()
    .map_err(|_| range_err("capsule id must be 16 bytes"))
}

/// Checks, decrypts and writes a batch of small entries (one chunk each) of the capsule open as `fd`;
/// with `threads` of 2 or more, checking runs on a thread of its own beside the one writing files.
/// The entries lie in `[span_start, span_start + span_length)` of the capsule,
/// which is read at once; entry `i` has its local header at `offsets[i]`, ZIP name `names[i]`,
/// `stored[i]` stored bytes whose BLAKE3 must be `digests[i]`. Sealed entries (`capsule_id` given)
/// are keyed from `prk` (the HKDF-Extract output of the master key, SPEC §5.1) or from `file_keys`
/// (32 bytes per entry). Entry `i` is written to `paths[i]` (`/`-separated, below the folder open as
/// `dir_fd`, folders made as needed) with creation mode `modes[i]`: a new file, never through a link.
/// Resolves to the plaintext bytes written. Rejects with `QCAP_TRUNCATED` or `QCAP_READ_FAILED` when
/// the span cannot be read, else with `QCAP_ENTRY_HEADER`, `QCAP_ENTRY_MISMATCH`,
/// `QCAP_ENTRY_NOT_AUTHENTIC` or `QCAP_ENTRY_UNWRITABLE` (`index`, and `errno` for the last) for the
/// first entry that fails; files written before that stay for the caller to remove.
#[cfg(unix)]
#[napi(ts_return_type = "Promise<number>")]
#[allow(clippy::too_many_arguments)]
pub fn open_small_entries(
  fd: i32,
  span_start: f64,
  span_length: f64,
  offsets: Vec<f64>,
  names: Vec<String>,
  stored: Vec<f64>,
  digests: &[u8],
  prk: Option<&[u8]>,
  file_keys: Option<&[u8]>,
  capsule_id: Option<&[u8]>,
  dir_fd: i32,
  paths: Vec<String>,
  modes: Vec<u32>,
  threads: u32,
) -> Result<AsyncTask<OpenSmallEntries>> {
  let n = names.len();
  if offsets.len() != n
    || stored.len() != n
    || digests.len() != n * 32
    || paths.len() != n
    || modes.len() != n
  {
    return Err(range_err("batch arrays disagree"));
  }
  if fd < 0 || dir_fd < 0 {
    return Err(range_err("invalid file descriptor"));
  }
  let span_start = index_of(span_start)?;
  let span_length = index_of(span_length)?;
  if span_length > 64 << 20 {
    return Err(range_err("a batch spans at most 64 MiB"));
  }
  let keys = match (prk, file_keys, capsule_id) {
    (None, None, None) => Keys::Plain,
    (Some(prk), None, Some(id)) if prk.len() == 32 => Keys::Derived {
      file_key_hmac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, prk),
      capsule_id: id_of(id)?,
    },
    (None, Some(k), Some(id)) if k.len() == n * 32 => Keys::Given {
      file_keys: k.to_vec(),
      capsule_id: id_of(id)?,
    },
    _ => {
      return Err(range_err(
        "a capsule id goes with a prk or with one file key per entry",
      ))
    }
  };
  let tag = if matches!(keys, Keys::Plain) { 0 } else { TAG };
  let mut offs = Vec::with_capacity(n);
  let mut sizes = Vec::with_capacity(n);
  for i in 0..n {
    let at = index_of(offsets[i])?;
    let size = index_of(stored[i])?;
    if size > (PLAIN_CHUNK + tag) as u64 || size < tag as u64 {
      return Err(range_err("a small entry is one chunk"));
    }
    let end = at + 50 + names[i].len() as u64 + size;
    if at < span_start || end > span_start + span_length {
      return Err(range_err("an entry lies outside the batch's span"));
    }
    offs.push(at);
    sizes.push(size as usize);
  }
  for m in &modes {
    if m & !0o777 != 0 {
      return Err(range_err("invalid file mode"));
    }
  }
  Ok(AsyncTask::new(OpenSmallEntries {
    fd,
    span_start,
    span_length: span_length as usize,
    offsets: offs,
    names,
    stored: sizes,
    digests: digests.to_vec(),
    keys,
    dir_fd,
    paths,
    modes,
    threads: threads.clamp(1, 16) as usize,
    failure: None,
  }))
}

#[cfg(test)]
mod tests {
  use super::local_header;

  #[test]
  fn local_header_layout() {
    let h = local_header(b"payload/a");
    assert_eq!(h.len(), 50 + 9);
    assert_eq!(&h[..4], &[0x50, 0x4b, 0x03, 0x04]);
    assert_eq!(&h[26..28], &[9, 0]);
    assert_eq!(&h[28..30], &[20, 0]);
    assert_eq!(&h[30..39], b"payload/a");
    assert_eq!(&h[39..43], &[1, 0, 16, 0]);
  }
}
