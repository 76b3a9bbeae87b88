//! Listing a folder to pack: one call for the whole tree, without following symbolic links.

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
