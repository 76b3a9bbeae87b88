//! Listing a folder to pack, without following symbolic links: the whole tree in one call, or one
//! folder sorted for index order.

use napi::bindgen_prelude::*;
use napi_derive::napi;

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
    let mut t = Tree {
      paths: vec![],
      kinds: vec![],
      sizes: vec![],
      modes: vec![],
      not_utf8: String::new(),
    };
    fn walk(dir: &std::path::Path, rel: &str, t: &mut Tree) -> std::io::Result<bool> {
      let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
      names.sort();
      for name in names {
        let Some(n) = name.to_str() else {
          t.not_utf8 = format!("{}{}", rel, name.to_string_lossy());
          return Ok(false);
        };
        let path = dir.join(&name);
        let r = if rel.is_empty() {
          n.to_owned()
        } else {
          format!("{rel}/{n}")
        };
        let m = std::fs::symlink_metadata(&path)?;
        let ft = m.file_type();
        if ft.is_dir() {
          if !walk(&path, &r, t)? {
            return Ok(false);
          }
          continue;
        }
        t.kinds.push(if ft.is_file() {
          0
        } else if ft.is_symlink() {
          1
        } else {
          2
        });
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
#[napi(ts_return_type = "Promise<Tree>")]
pub fn list_tree(dir: String) -> AsyncTask<ListTree> {
  AsyncTask::new(ListTree { root: dir.into() })
}

/// The entries of one folder, as listed by `list_folder`.
#[napi(object)]
pub struct Folder {
  /// Names in index order: UTF-8 byte order, a folder's name as if it ended in `/`.
  pub names: Vec<String>,
  /// Per name: 0 a regular file, 1 a symbolic link (not followed), 2 a folder, 3 anything else.
  pub kinds: Vec<u8>,
  pub sizes: Vec<f64>,
  /// Per name: the permission bits.
  pub modes: Vec<u32>,
  /// A name that is not UTF-8, if any (then the listing is empty); empty otherwise.
  pub not_utf8: String,
}

pub struct ListFolder {
  dir: std::path::PathBuf,
}

#[cfg(unix)]
impl Task for ListFolder {
  type Output = Folder;
  type JsValue = Folder;

  fn compute(&mut self) -> Result<Folder> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e: std::io::Error| Error::new(Status::GenericFailure, e.to_string());
    let mut listed = vec![];
    for e in std::fs::read_dir(&self.dir).map_err(io)? {
      let name = e.map_err(io)?.file_name();
      let Some(n) = name.to_str() else {
        return Ok(Folder {
          names: vec![],
          kinds: vec![],
          sizes: vec![],
          modes: vec![],
          not_utf8: name.to_string_lossy().into_owned(),
        });
      };
      let m = std::fs::symlink_metadata(self.dir.join(&name)).map_err(io)?;
      let ft = m.file_type();
      let kind = if ft.is_file() {
        0
      } else if ft.is_symlink() {
        1
      } else if ft.is_dir() {
        2
      } else {
        3
      };
      let mut key = n.as_bytes().to_vec();
      if kind == 2 {
        key.push(b'/');
      }
      listed.push((key, n.to_owned(), kind, m.len() as f64, m.permissions().mode()));
    }
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut f = Folder {
      names: Vec::with_capacity(listed.len()),
      kinds: Vec::with_capacity(listed.len()),
      sizes: Vec::with_capacity(listed.len()),
      modes: Vec::with_capacity(listed.len()),
      not_utf8: String::new(),
    };
    for (_, name, kind, size, mode) in listed {
      f.names.push(name);
      f.kinds.push(kind);
      f.sizes.push(size);
      f.modes.push(mode);
    }
    Ok(f)
  }

  fn resolve(&mut self, _env: Env, f: Folder) -> Result<Folder> {
    Ok(f)
  }
}

/// Lists one folder without following symbolic links (lstat), sorted for index order: the folder
/// walk of packing, one call per folder. Rejects with the OS error of the folder or an entry.
#[cfg(unix)]
#[napi(ts_return_type = "Promise<Folder>")]
pub fn list_folder(dir: String) -> AsyncTask<ListFolder> {
  AsyncTask::new(ListFolder { dir: dir.into() })
}
