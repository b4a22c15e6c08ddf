//! Opening a person's files defensively.
//!
//! A folder can hold things that are not regular files under a regular name:
//! a FIFO whose `open` blocks until some other program writes to it, a device
//! that never ends, a file swapped for a folder between the scan and the read,
//! or a log that keeps growing while it is read. [`open_regular`] opens without
//! blocking and checks what it actually got (on the open handle, so the check
//! and the read see the same object); [`read_capped`] never reads more than a
//! limit, whatever the file claimed its size was when it was checked.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{LoadError, Result, SizeKind};

/// Opens `path` for reading and returns it with its size, or an
/// [`LoadError::Io`] naming what the path is if it is not a regular file.
pub fn open_regular(path: &Path) -> Result<(File, u64)> {
    // A first look by path gives a clear message for the common cases
    // (opening a socket, for one, fails with a confusing "no such device").
    let meta = std::fs::metadata(path).map_err(|e| LoadError::io(path, e))?;
    check_regular(path, &meta)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK makes opening a FIFO return at once instead of waiting
        // for a writer; on regular files it changes nothing.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| LoadError::io(path, e))?;
    // Checked again on the handle: the path may have been replaced meanwhile.
    let meta = file.metadata().map_err(|e| LoadError::io(path, e))?;
    check_regular(path, &meta)?;
    Ok((file, meta.len()))
}

fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if meta.is_dir() {
        return Err(LoadError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        ));
    }
    if !meta.is_file() {
        return Err(LoadError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("not a regular file ({})", kind_of(meta)),
            ),
        ));
    }
    Ok(())
}

/// Reads all of `file`, failing with [`LoadError::TooLarge`] as soon as more
/// than `limit` bytes arrive (the file grew after its size was checked).
pub(crate) fn read_capped(
    path: &Path,
    file: File,
    expected: u64,
    limit: u64,
    what: SizeKind,
) -> Result<Vec<u8>> {
    // The expected size is only a capacity hint: it is never trusted beyond
    // the limit, so a lying size cannot make us allocate more.
    let hint = usize::try_from(expected.min(limit)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(hint);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| LoadError::io(path, e))?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            size: read.max(expected),
            limit,
            what,
        });
    }
    Ok(bytes)
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    let _ = meta;
    "not a file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_grew_after_its_size_was_checked_is_cut_off_at_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("growing.log");
        std::fs::write(&path, vec![b'a'; 5000]).expect("write");
        let (file, _) = open_regular(&path).expect("open");
        // The caller saw 100 bytes when it checked; 5000 are there now.
        let err = read_capped(&path, file, 100, 1000, SizeKind::TextFile).expect_err("grew");
        match err {
            LoadError::TooLarge { size, limit, .. } => assert_eq!((size, limit), (1001, 1000)),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let (file, _) = open_regular(&path).expect("open");
        let bytes = read_capped(&path, file, 5000, 5000, SizeKind::TextFile).expect("fits");
        assert_eq!(bytes.len(), 5000);
    }
}
