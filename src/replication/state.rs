//! What a zone's last publication was, kept on disk so that a restart
//! continues where the server stopped: the serial it served (which a
//! serial policy may have moved away from the file's), the file's own
//! serial, and a digest of the content (see `ZoneVersion::content_digest`).
//!
//! One small TOML file per zone, replaced atomically on every change.

use crate::durable::{self, FileError};
use crate::serial::Serial;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedState {
    pub served_serial: Serial,
    pub file_serial: Serial,
    pub digest: u128,
}

/// The file's form: TOML has no 128-bit integers, so the digest is hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    served_serial: u32,
    file_serial: u32,
    digest: String,
}

impl PublishedState {
    /// Reads the state; `Ok(None)` when there is none yet.
    pub fn read(path: &Path) -> Result<Option<PublishedState>, FileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FileError::io(path)(e)),
        };
        let file: StateFile = toml::from_str(&text).map_err(FileError::format(path))?;
        let digest = u128::from_str_radix(&file.digest, 16)
            .map_err(|e| FileError::format(path)(format!("digest: {e}")))?;
        Ok(Some(PublishedState {
            served_serial: Serial(file.served_serial),
            file_serial: Serial(file.file_serial),
            digest,
        }))
    }

    /// Writes the state atomically (see [`durable::write_atomic`]).
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        let file = StateFile {
            served_serial: self.served_serial.get(),
            file_serial: self.file_serial.get(),
            digest: format!("{:032x}", self.digest),
        };
        let text = toml::to_string(&file).map_err(FileError::format(path))?;
        durable::write_atomic(path, text.as_bytes()).map_err(FileError::io(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_damage() {
        let dir = std::env::temp_dir().join(format!("zonesync-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("z.toml");
        assert!(matches!(PublishedState::read(&path), Ok(None)));
        let s = PublishedState {
            served_serial: Serial(7),
            file_serial: Serial(5),
            digest: u128::MAX - 3,
        };
        s.write(&path).unwrap();
        assert!(matches!(PublishedState::read(&path), Ok(Some(r)) if r == s));
        std::fs::write(&path, "served_serial = 1\n").unwrap();
        let err = PublishedState::read(&path).unwrap_err().to_string();
        assert!(err.contains("z.toml"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
