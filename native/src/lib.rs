//! Native kernels for Q-Cap on Node (Node-API through napi-rs): the per-chunk work of SPEC §3–§5,
//! BLAKE3 of each stored chunk, STREAM encryption with ChaCha20-Poly1305 and CRC-32 of the stored
//! bytes, done many chunks or files per call. ring's ChaCha20-Poly1305 is BoringSSL's stitched
//! assembly, about 1.5x libsodium's speed here. Chunk `i` of an entry uses the XChaCha20 subkey
//! (HChaCha20 of its file key) and the 12-byte nonce `0x00 * 4 || u56be(i) || last`.
//!
//! - `chunks`: one chunk or a block of 16 in the caller's buffers, on the calling thread;
//! - `files`: a file region sealed into another file, or checked, on threads of their own;
//! - `small_files`: whole small files read, keyed and sealed in batches;
//! - `small_entries`: small entries of a capsule checked, decrypted and written into a folder in batches;
//! - `kdf`: HChaCha20; `list`: a folder's files for packing.
//!
//! A chunk that does not match its digest or does not authenticate, and a file that ends early,
//! throw (or reject with) an `Error` whose `code` is `QCAP_CHUNK_MISMATCH`,
//! `QCAP_CHUNK_NOT_AUTHENTIC` or `QCAP_TRUNCATED`, with `chunk` the chunk's number counted from the
//! call's first; failed I/O rejects with `QCAP_READ_FAILED`, `QCAP_WRITE_FAILED`, `QCAP_FILE_CHANGED`
//! or `QCAP_FILE_UNREADABLE` (with `index`, `read`, `errno` where they apply); an entry of a batch
//! opened by `small_entries` rejects with a `QCAP_ENTRY_*` code (with `index`, `errno`); buffers that overlap
//! throw `QCAP_BUFFER_OVERLAP`. core/src/native-errors.ts maps them to the library's errors.

#![cfg_attr(test, allow(dead_code))]

mod chunks;
mod files;
mod kdf;
mod list;
mod names;
mod small_entries;
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

/// A chunk or file that fails its check, or I/O that fails: thrown to JavaScript as an error with a
/// code (and numeric properties naming the chunk or file).
#[derive(Debug)]
pub(crate) enum Failure {
  /// The chunk (counted from the call's first) does not match its expected BLAKE3 digest.
  Mismatch(u64),
  /// The chunk matches its digest but does not authenticate under the key.
  NotAuthentic(u64),
  /// The file ends before the region does.
  Truncated,
  /// A read failed (the OS error's text).
  Read(String),
  /// A write failed (the OS error's text).
  Write(String),
  /// An input changed while it was read: it shrank (`read` None), or file `index` of a batch held
  /// `read` bytes instead of its expected size.
  Changed { index: Option<usize>, read: Option<u64> },
  /// File `index` of a batch could not be opened or read.
  Unreadable {
    index: usize,
    errno: i32,
    message: String,
  },
  /// Entry `index` of a batch failed: `code` says how (`errno` for a failed write).
  Entry {
    code: &'static str,
    index: usize,
    errno: i32,
    message: String,
  },
  /// Any other error, passed on as it is.
  Other(Error),
}

impl Failure {
  /// The JavaScript error: `code`, a message, and the numbers that locate the failure.
  pub(crate) fn into_error(self, env: &Env) -> Error {
    let (code, message, props): (&str, String, Vec<(&str, f64)>) = match self {
      Failure::Mismatch(c) => (
        "QCAP_CHUNK_MISMATCH",
        format!("chunk {c} does not match its digest"),
        vec![("chunk", c as f64)],
      ),
      Failure::NotAuthentic(c) => (
        "QCAP_CHUNK_NOT_AUTHENTIC",
        format!("chunk {c} does not authenticate"),
        vec![("chunk", c as f64)],
      ),
      Failure::Truncated => ("QCAP_TRUNCATED", "the file ends early".to_owned(), vec![]),
      Failure::Read(e) => ("QCAP_READ_FAILED", e, vec![]),
      Failure::Write(e) => ("QCAP_WRITE_FAILED", e, vec![]),
      Failure::Changed { index, read } => {
        let mut props = vec![];
        if let Some(i) = index {
          props.push(("index", i as f64));
        }
        if let Some(r) = read {
          props.push(("read", r as f64));
        }
        ("QCAP_FILE_CHANGED", "changed while reading".to_owned(), props)
      }
      Failure::Unreadable {
        index,
        errno,
        message,
      } => (
        "QCAP_FILE_UNREADABLE",
        message,
        vec![("index", index as f64), ("errno", errno as f64)],
      ),
      Failure::Entry {
        code,
        index,
        errno,
        message,
      } => (
        code,
        message,
        vec![("index", index as f64), ("errno", errno as f64)],
      ),
      Failure::Other(e) => return e,
    };
    coded_error(env, code, &message, &props)
  }
}

/// An `Error` whose `code` is `code` (napi's own errors carry a status name there instead).
fn coded_error(env: &Env, code: &str, message: &str, props: &[(&str, f64)]) -> Error {
  // SAFETY: `env` is the live environment of the calling JavaScript thread, where errors are made.
  let value = unsafe { JsError::from(Error::new(code, message)).into_value(env.raw()) };
  let mut object = Object::from_raw(env.raw(), value);
  for (name, v) in props {
    // The code and message are already set: a property that fails to attach still leaves a clear error.
    let _ = object.set_named_property(name, *v);
  }
  // SAFETY: `value` was just created in `env` and is a JavaScript Error object.
  Error::from(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
}

pub(crate) fn overlap_error(env: &Env) -> Error {
  coded_error(
    env,
    "QCAP_BUFFER_OVERLAP",
    "an output buffer overlaps an input buffer",
    &[],
  )
}

/// True when two byte slices share no byte (an empty slice shares none).
pub(crate) fn disjoint(a: &[u8], b: &[u8]) -> bool {
  let (a0, b0) = (a.as_ptr() as usize, b.as_ptr() as usize);
  a.is_empty() || b.is_empty() || a0 + a.len() <= b0 || b0 + b.len() <= a0
}

/// Unit tests run outside Node: the few Node-API functions that drop glue of napi's error and
/// thread-safe-function types references (and the tests never reach) get stand-ins that abort.
#[cfg(test)]
mod node_api_stand_ins {
  #[no_mangle]
  extern "C" fn napi_reference_unref() {
    std::process::abort()
  }
  #[no_mangle]
  extern "C" fn napi_delete_reference() {
    std::process::abort()
  }
  #[no_mangle]
  extern "C" fn napi_call_threadsafe_function() {
    std::process::abort()
  }
}

/// Minimal readers of the pretty-printed JSON test vectors (no JSON crate for tests alone).
#[cfg(test)]
pub(crate) mod test_vectors {
  /// Every string or number value of `"key": …`, in order.
  pub fn fields<'a>(json: &'a str, key: &str) -> Vec<&'a str> {
    let pat = format!("\"{key}\": ");
    json
      .match_indices(&pat)
      .map(|(at, _)| {
        let rest = &json[at + pat.len()..];
        let rest = rest.strip_prefix('"').unwrap_or(rest);
        let end = rest.find(|c: char| c == '"' || c == ',' || c == '\n').unwrap();
        &rest[..end]
      })
      .collect()
  }

  pub fn field<'a>(json: &'a str, key: &str) -> &'a str {
    fields(json, key)[0]
  }

  pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
      .step_by(2)
      .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
      .collect()
  }

  /// The vectors' large plaintexts: byte i is i mod 251.
  pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
  }
}
