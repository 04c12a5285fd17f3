//! One writer per SQLite data directory.
//!
//! The SQLite writer caches accounts between commits because it is the only writer; a second
//! process writing the same file behind its back would have its postings overwritten by the
//! cache's stale view, and the ledger would no longer balance. So whoever opens a data directory
//! for writing first takes an exclusive lock on `<data_dir>/xingtong.lock` and keeps it until its
//! writer stops. The lock is `flock(2)` (through `std::fs::File::try_lock`): the kernel releases it
//! when the holder exits, however it exits (SIGKILL included), so a crash never leaves a stale lock.
//! The file's content is the holder's process id, for the error message only; the lock is the truth.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "xingtong.lock";

/// An exclusive hold on a data directory; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    /// Held open: closing it releases the lock.
    _file: File,
    /// The directory, for messages.
    dir: PathBuf,
}

impl DataDirLock {
    /// Takes the data directory's lock, creating the directory and the lock file if needed; fails
    /// at once with [`StoreError::Locked`] when another process (or another open store in this
    /// process) holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::Locked { dir: data_dir.to_path_buf(), pid: holder.trim().parse().ok() });
            }
            Err(TryLockError::Error(error)) => return Err(StoreError::Io(error)),
        }
        // Ours now: say who holds it.
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(DataDirLock { _file: file, dir: data_dir.to_path_buf() })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_hold_is_refused_with_the_holders_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        match DataDirLock::acquire(dir.path()) {
            Err(StoreError::Locked { dir: locked, pid }) => {
                assert_eq!(locked, dir.path());
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        let again = DataDirLock::acquire(dir.path()).expect("free again once dropped");
        assert_eq!(again.dir(), dir.path());
    }
}
