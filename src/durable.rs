//! Writing files so that a crash leaves either the old or the new
//! contents, never a mix: a temporary file beside the target, fsync,
//! rename over the target, fsync of the directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file of ours (state, snapshot, audit log) that could not be read or
/// written. Its text names the file first, as every such error did.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Read, but not in the form it must have.
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
}

impl FileError {
    /// For `map_err` on an I/O error about `path`.
    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
        move |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// For `map_err` on a format error about `path`.
    pub fn format<E: std::fmt::Display>(path: &Path) -> impl FnOnce(E) -> FileError + '_ {
        move |e| FileError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// `<path>.tmp`: where [`write_atomic`] prepares the new contents.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a rename or creation in `path`'s directory durable: the new
/// directory entry is only on disk once the directory itself is synced.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `contents` atomically and durably.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, contents, 0o666)
}

/// [`write_atomic`] for a secret: the file is readable by its owner only,
/// from the moment it exists.
pub fn write_atomic_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, contents, 0o600)
}

/// The temporary file is created with `mode` (less the umask), so the new
/// contents are never readable more widely than that.
fn write_atomic_mode(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    stage_mode(path, contents, mode)?.commit()
}

/// New contents for a file, written and synced beside it but not in
/// place yet: [`Staged::commit`] puts them there (rename, directory
/// sync); dropped uncommitted, the temporary file is removed. Lets a
/// caller write a large file without holding a lock, and replace it under
/// the lock only if that is still right.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    path: PathBuf,
    committed: bool,
}

/// Writes `contents` (and syncs them) to the temporary file of `path`.
pub fn stage(path: &Path, contents: &[u8]) -> io::Result<Staged> {
    stage_mode(path, contents, 0o666)
}

fn stage_mode(path: &Path, contents: &[u8], mode: u32) -> io::Result<Staged> {
    use std::os::unix::fs::OpenOptionsExt;
    let temp = temp_path(path);
    let _ = fs::remove_file(&temp);
    let staged = Staged {
        temp,
        path: path.to_path_buf(),
        committed: false,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&staged.temp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(staged)
}

impl Staged {
    /// Puts the new contents in place, durably.
    pub fn commit(mut self) -> io::Result<()> {
        fs::rename(&self.temp, &self.path)?;
        self.committed = true;
        sync_dir(&self.path)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("zonesync-durable-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!temp_path(&path).exists());
        // Staged and dropped: nothing changes, nothing is left.
        drop(stage(&path, b"three").unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!temp_path(&path).exists());
        stage(&path, b"four").unwrap().commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"four");
        fs::remove_dir_all(&dir).unwrap();
    }
}
