//! Where events go: a file opened for appending and reopened on SIGHUP (after log rotation), or
//! standard error, so that standard output carries only reports. Each event is written and
//! flushed at once, whole lines under one lock, so pcdns's own messages never split one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

/// The events destination.
pub struct EventOutput {
    path: Option<PathBuf>,
    file: Option<File>,
}

fn open(path: &PathBuf) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl EventOutput {
    /// Standard error (None) or the file at `path`.
    pub fn open(path: Option<PathBuf>) -> Result<Self, String> {
        let file = match &path {
            Some(path) => {
                Some(open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?)
            }
            None => None,
        };
        Ok(EventOutput { path, file })
    }

    /// Reopens the file (log rotation); keeps the old one when that fails.
    pub fn reopen(&mut self) -> Result<(), String> {
        if let Some(path) = &self.path {
            self.file =
                Some(open(path).map_err(|e| format!("cannot reopen {}: {e}", path.display()))?);
        }
        Ok(())
    }

    /// Writes `lines` (complete lines) and flushes.
    pub fn write(&mut self, lines: &str) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.write_all(lines.as_bytes()),
            None => {
                let mut stderr = io::stderr().lock();
                stderr.write_all(lines.as_bytes())?;
                stderr.flush()
            }
        }
    }
}
