//! The one durable file writer. Every file Pendata writes for a person or for later — bundles, receipts,
//! reports, exports, keys, the registry's pending copies, settings — appears under its final name
//! complete, fsynced and (where asked) read back and verified, or not at all: written to a temporary name,
//! fsynced, renamed, the folder fsynced. A file already under the final name is never silently
//! replaced: the caller says whether to refuse, to pick a new name, or (for the program's own state
//! files) to replace it.

use std::error::Error as StdError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What to do when a file already carries the final name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse: nothing is written and the error names the file (outputs a person asked for by name).
    Refuse,
    /// Write under the next free name, `name (2).ext`, `name (3).ext`, … (files the program names).
    NewName,
    /// Replace it atomically (the program's own state files, never a person's output).
    Replace,
}

/// How a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub existing: Existing,
    /// Owner read/write only (0600 on Unix): files holding personal data or secret keys.
    pub private: bool,
    /// Read the file back after the rename and compare its SHA-256 with what was written.
    pub verify: bool,
}

impl Options {
    /// Refuse an existing file, readable by others, verified.
    pub const fn refuse() -> Self {
        Options {
            existing: Existing::Refuse,
            private: false,
            verify: true,
        }
    }

    /// A new name beside an existing file, readable by others, verified.
    pub const fn new_name() -> Self {
        Options {
            existing: Existing::NewName,
            ..Options::refuse()
        }
    }

    /// Replace an existing file, readable by others, verified.
    pub const fn replace() -> Self {
        Options {
            existing: Existing::Replace,
            ..Options::refuse()
        }
    }

    /// The same, owner read/write only.
    pub const fn private(self) -> Self {
        Options {
            private: true,
            ..self
        }
    }

    /// The same, without reading the file back (large files the caller verifies otherwise).
    pub const fn unverified(self) -> Self {
        Options {
            verify: false,
            ..self
        }
    }
}

/// A folder as the durable writer needs it. Tests wrap [`DirTarget`] to fail at any step.
pub trait Target {
    /// Free bytes on the file system.
    fn available(&self) -> io::Result<u64>;
    fn exists(&self, name: &str) -> bool;
    /// Creates a new file (fails if it exists); `private` makes it owner read/write only.
    fn create(&self, name: &str, private: bool) -> io::Result<Box<dyn TargetFile>>;
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    fn sync_dir(&self) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    fn open(&self, name: &str) -> io::Result<Box<dyn Read>>;
    fn path_of(&self, name: &str) -> PathBuf;
}

/// A file being written: bytes, then a sync to the medium.
pub trait TargetFile: Write {
    fn sync(&mut self) -> io::Result<()>;
}

impl TargetFile for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
}

/// A real folder.
pub struct DirTarget {
    dir: PathBuf,
}

impl DirTarget {
    /// The folder `dir`; an empty path (the parent of a bare file name) means the working folder.
    pub fn new(dir: &Path) -> DirTarget {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.to_path_buf()
        };
        DirTarget { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Target for DirTarget {
    fn available(&self) -> io::Result<u64> {
        fs4::available_space(&self.dir)
    }
    fn exists(&self, name: &str) -> bool {
        // A dangling link still occupies the name.
        fs::symlink_metadata(self.dir.join(name)).is_ok()
    }
    fn create(&self, name: &str, private: bool) -> io::Result<Box<dyn TargetFile>> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        Ok(Box::new(options.open(self.dir.join(name))?))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.dir.join(from), self.dir.join(to))
    }
    fn sync_dir(&self) -> io::Result<()> {
        sync_dir(&self.dir)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.dir.join(name))
    }
    fn open(&self, name: &str) -> io::Result<Box<dyn Read>> {
        Ok(Box::new(File::open(self.dir.join(name))?))
    }
    fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Makes a rename durable: fsync of the folder. Windows has no folder handles to sync; there the rename
/// itself is journaled by NTFS and FAT is flushed by closing the file. An empty path is the working
/// folder.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// What the writer put on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    /// The final name, which differs from the one asked for under [`Existing::NewName`].
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// An error of the content being written, as opposed to the file system's: the writer asks it whether it
/// is an I/O error underneath, to describe that like its own.
pub trait ContentError: StdError + 'static {
    fn as_io(&self) -> Option<&io::Error>;
}

impl ContentError for io::Error {
    fn as_io(&self) -> Option<&io::Error> {
        Some(self)
    }
}

/// Why a file could not be written durably. Every variant means no file is left under the final name.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<E: ContentError = io::Error> {
    #[error("there is not enough free space in {dir}: {need} bytes needed, {have} free")]
    NoSpace { dir: String, need: u64, have: u64 },
    #[error("a file named {0} is already there; nothing was written")]
    Exists(String),
    #[error(
        "writing to {dir} failed while {step}: {detail}; nothing was left under the final name"
    )]
    Failed {
        dir: String,
        step: &'static str,
        detail: String,
    },
    #[error(
        "the file read back from {dir} does not match what was written ({detail}); it was removed"
    )]
    Verify { dir: String, detail: String },
    #[error(transparent)]
    Content(E),
}

impl<E: ContentError> WriteError<E> {
    /// True when the medium is full (so the UI can say "free some space").
    pub fn is_full(&self) -> bool {
        match self {
            WriteError::NoSpace { .. } => true,
            WriteError::Failed { detail, .. } => detail.contains("no space"),
            _ => false,
        }
    }
}

fn failed<E: ContentError>(
    target: &dyn Target,
    step: &'static str,
    e: &io::Error,
) -> WriteError<E> {
    WriteError::Failed {
        dir: target.path_of("").display().to_string(),
        step,
        detail: describe_io(e),
    }
}

/// The file system's error in words; writers in between (age, tar) wrap it, so the innermost one says
/// whether the medium is full or gone.
pub fn describe_io(e: &io::Error) -> String {
    let s = e.to_string();
    let mut inner = e;
    while let Some(next) = inner.get_ref().and_then(|i| i.downcast_ref::<io::Error>()) {
        inner = next;
    }
    let full = matches!(
        inner.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || s.contains("StorageFull");
    if full {
        "no space left on the device (the disk or stick is full)".into()
    } else if matches!(inner.raw_os_error(), Some(5 | 19))
        || inner.kind() == io::ErrorKind::NotFound
    {
        format!("{s} (was the stick pulled out?)")
    } else {
        s
    }
}

/// Room kept free beyond the file itself: file system metadata, and a stick never filled to the last byte.
const MARGIN: u64 = 1024 * 1024;

/// How many `name (N).ext` are tried under [`Existing::NewName`].
const MAX_NEW_NAMES: u32 = 999;

/// `name (n).ext` for `name.ext` (the extension is what follows the last dot, if any; a leading dot is
/// part of the name).
fn numbered(name: &str, n: u32) -> String {
    match name.rfind('.') {
        Some(dot) if dot > 0 => {
            let (stem, ext) = name.split_at(dot);
            format!("{stem} ({n}){ext}")
        }
        _ => format!("{name} ({n})"),
    }
}

fn final_name<E: ContentError>(
    target: &dyn Target,
    name: &str,
    existing: Existing,
) -> Result<String, WriteError<E>> {
    if !target.exists(name) || existing == Existing::Replace {
        return Ok(name.to_string());
    }
    if existing == Existing::Refuse {
        return Err(WriteError::Exists(
            target.path_of(name).display().to_string(),
        ));
    }
    (2..=MAX_NEW_NAMES)
        .map(|n| numbered(name, n))
        .find(|candidate| !target.exists(candidate))
        .ok_or_else(|| WriteError::Exists(target.path_of(name).display().to_string()))
}

/// Writes `name` in `target` durably: checks free space for `need` bytes, writes through `write` to a
/// temporary name, fsyncs, renames, fsyncs the folder, and (if asked) reads the file back and compares
/// its SHA-256 with what was written. On any failure the temporary (or unverified final) file is removed
/// and the error says where it failed.
pub fn write_safely<E: ContentError>(
    target: &dyn Target,
    name: &str,
    options: &Options,
    need: u64,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<(), E>,
) -> Result<Written, WriteError<E>> {
    let dir = target.path_of("").display().to_string();
    let name = final_name(target, name, options.existing)?;
    let have = target
        .available()
        .map_err(|e| failed(target, "checking free space", &e))?;
    let need = need.saturating_add(MARGIN);
    if have < need {
        return Err(WriteError::NoSpace { dir, need, have });
    }
    let temp = format!(".{name}.partial");
    if target.exists(&temp) {
        // A leftover of an interrupted write: it never carried the final name; clear it.
        target
            .remove(&temp)
            .map_err(|e| failed(target, "removing an old partial file", &e))?;
    }
    let cleanup = |name: &str| {
        let _ = target.remove(name);
    };
    let file = target
        .create(&temp, options.private)
        .map_err(|e| failed(target, "creating the file", &e))?;
    let mut hashing = Hashing::new(file);
    if let Err(e) = write(&mut hashing) {
        cleanup(&temp);
        return Err(match e.as_io() {
            Some(io) => failed(target, "writing", io),
            None => WriteError::Content(e),
        });
    }
    let (mut file, sha256, size) = hashing.finish();
    let synced = file.flush().and_then(|()| file.sync());
    drop(file);
    if let Err(e) = synced {
        cleanup(&temp);
        return Err(failed(target, "flushing the file (fsync)", &e));
    }
    if options.existing != Existing::Replace && target.exists(&name) {
        // Someone else wrote the name meanwhile: keep theirs.
        cleanup(&temp);
        return Err(WriteError::Exists(
            target.path_of(&name).display().to_string(),
        ));
    }
    if let Err(e) = target.rename(&temp, &name) {
        cleanup(&temp);
        return Err(failed(target, "renaming to the final name", &e));
    }
    if let Err(e) = target.sync_dir() {
        cleanup(&name);
        return Err(failed(target, "flushing the folder (fsync)", &e));
    }
    if options.verify
        && let Err(detail) = verify(target, &name, size, &sha256)
    {
        cleanup(&name);
        let _ = target.sync_dir();
        return Err(WriteError::Verify { dir, detail });
    }
    Ok(Written {
        path: target.path_of(&name),
        name,
        size,
        sha256,
    })
}

fn verify(target: &dyn Target, name: &str, size: u64, sha256: &str) -> Result<(), String> {
    let mut r = target.open(name).map_err(|e| describe_io(&e))?;
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let k = r.read(&mut buf).map_err(|e| describe_io(&e))?;
        if k == 0 {
            break;
        }
        h.update(buf.get(..k).unwrap_or_default());
        n += k as u64;
    }
    let got = hex(&h.finalize());
    if n != size || got != sha256 {
        return Err(format!(
            "{n} bytes with SHA-256 {got}, expected {size} bytes with {sha256}"
        ));
    }
    Ok(())
}

/// Writes `bytes` to `path` durably (see [`write_safely`]). A bare file name is written in the working
/// folder.
pub fn write_bytes(path: &Path, bytes: &[u8], options: &Options) -> Result<Written, WriteError> {
    let (target, name) = split(path)?;
    write_safely(&target, &name, options, bytes.len() as u64, &mut |w| {
        w.write_all(bytes)
    })
}

/// The folder and the file name of `path`; a bare name's folder is the working folder.
pub fn split(path: &Path) -> Result<(DirTarget, String), WriteError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| WriteError::Failed {
            dir: path.display().to_string(),
            step: "reading the file name",
            detail: "the path does not end in a file name (in UTF-8)".into(),
        })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    Ok((DirTarget::new(dir), name.to_string()))
}

/// A writer that hashes and counts what passes through.
pub struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// The inner writer, the SHA-256 (hex) and the byte count of everything written.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex(&self.hasher.finalize()), self.size)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or(buf);
        self.hasher.update(done);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_bare_file_name_is_written_in_the_working_folder() {
        let (target, name) = split(Path::new("laporan.html")).unwrap();
        assert_eq!(target.dir(), Path::new("."));
        assert_eq!(name, "laporan.html");
        // Its folder syncs: the empty parent of a bare name is the working folder.
        sync_dir(Path::new("")).unwrap();
        let (target, name) = split(Path::new("out/laporan.html")).unwrap();
        assert_eq!(target.dir(), Path::new("out"));
        assert_eq!(name, "laporan.html");
        assert!(split(Path::new("/")).is_err());
    }

    #[test]
    fn an_existing_file_is_refused_renamed_or_replaced_as_asked_never_silently() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tanda-terima.json");
        write_bytes(&path, b"first", &Options::refuse()).unwrap();
        let refused = write_bytes(&path, b"second", &Options::refuse()).unwrap_err();
        assert!(matches!(refused, WriteError::Exists(_)), "{refused}");
        assert_eq!(fs::read(&path).unwrap(), b"first");

        let again = write_bytes(&path, b"second", &Options::new_name()).unwrap();
        assert_eq!(again.name, "tanda-terima (2).json");
        let third = write_bytes(&path, b"third", &Options::new_name()).unwrap();
        assert_eq!(third.name, "tanda-terima (3).json");
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(fs::read(&again.path).unwrap(), b"second");

        write_bytes(&path, b"replaced", &Options::replace()).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"replaced");
        assert_eq!(
            names(dir.path()),
            [
                "tanda-terima (2).json",
                "tanda-terima (3).json",
                "tanda-terima.json"
            ]
        );
    }

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered("a.tar.age", 2), "a.tar (2).age");
        assert_eq!(numbered("laporan", 3), "laporan (3)");
        assert_eq!(numbered(".hidden", 2), ".hidden (2)");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let w = write_bytes(
            &dir.path().join("key"),
            b"secret",
            &Options::refuse().private(),
        )
        .unwrap();
        let mode = fs::metadata(&w.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    /// A folder on a disk that fills up after `room` bytes.
    struct Full {
        inner: DirTarget,
        room: usize,
    }

    struct FullFile {
        inner: Box<dyn TargetFile>,
        room: usize,
    }

    impl Write for FullFile {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.len() > self.room {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            self.room -= buf.len();
            self.inner.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }

    impl TargetFile for FullFile {
        fn sync(&mut self) -> io::Result<()> {
            self.inner.sync()
        }
    }

    impl Target for Full {
        fn available(&self) -> io::Result<u64> {
            Ok(u64::MAX)
        }
        fn exists(&self, name: &str) -> bool {
            self.inner.exists(name)
        }
        fn create(&self, name: &str, private: bool) -> io::Result<Box<dyn TargetFile>> {
            Ok(Box::new(FullFile {
                inner: self.inner.create(name, private)?,
                room: self.room,
            }))
        }
        fn rename(&self, from: &str, to: &str) -> io::Result<()> {
            self.inner.rename(from, to)
        }
        fn sync_dir(&self) -> io::Result<()> {
            self.inner.sync_dir()
        }
        fn remove(&self, name: &str) -> io::Result<()> {
            self.inner.remove(name)
        }
        fn open(&self, name: &str) -> io::Result<Box<dyn Read>> {
            self.inner.open(name)
        }
        fn path_of(&self, name: &str) -> PathBuf {
            self.inner.path_of(name)
        }
    }

    #[test]
    fn a_full_disk_leaves_nothing_behind_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let target = Full {
            inner: DirTarget::new(dir.path()),
            room: 10,
        };
        let err = write_safely(&target, "laporan.csv", &Options::refuse(), 0, &mut |w| {
            w.write_all(b"0123456789abcdef")
        })
        .unwrap_err();
        assert!(err.is_full(), "{err}");
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }

    #[test]
    fn too_little_free_space_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let target = DirTarget::new(dir.path());
        let err = write_safely(
            &target,
            "big.bin",
            &Options::refuse(),
            u64::MAX / 2,
            &mut |_| Ok::<(), io::Error>(()),
        )
        .unwrap_err();
        assert!(matches!(err, WriteError::NoSpace { .. }), "{err}");
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_content_error_is_returned_as_such_and_leaves_nothing() {
        #[derive(Debug, thiserror::Error)]
        #[error("bad content")]
        struct Bad;
        impl ContentError for Bad {
            fn as_io(&self) -> Option<&io::Error> {
                None
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let err = write_safely(
            &DirTarget::new(dir.path()),
            "x.json",
            &Options::refuse(),
            0,
            &mut |w| {
                w.write_all(b"half").map_err(|_| Bad)?;
                Err(Bad)
            },
        )
        .unwrap_err();
        assert!(matches!(err, WriteError::Content(Bad)));
        assert!(names(dir.path()).is_empty());
    }
}
