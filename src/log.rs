//! The log: what the program did, for support — `tracing` events written as plain lines to `pendata.log`
//! in the data directory (the registry's commands: in the registry's folder), owner-only (0600), rotated
//! at [`MAX_BYTES`] to `pendata.log.1` … `pendata.log.{KEEP}`, so it never grows past about
//! `(KEEP + 1) × MAX_BYTES`. `--verbose` also prints the lines on standard error.
//!
//! No personal data goes in: ids (record and device UUIDs), counts, timings, exit codes and errors — never
//! names, NIKs, KK numbers, addresses or answers. Events carry only such fields; error texts are the
//! program's own (they name files and ids, not a family's answers).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The log's file name in its folder.
pub const FILE: &str = "pendata.log";
/// A log file is rotated when a line would take it past this size.
pub const MAX_BYTES: u64 = 1 << 20;
/// How many rotated files are kept (`pendata.log.1` is the newest).
pub const KEEP: u32 = 2;

static PATH: OnceLock<PathBuf> = OnceLock::new();

/// Where this process logs, once [`init`] ran with a folder.
pub fn path() -> Option<&'static Path> {
    PATH.get().map(PathBuf::as_path)
}

/// Starts the log of this process: to `dir/pendata.log` when `dir` is given (the file is opened at the
/// first line written while the folder exists; lines before are held, so a command that creates the
/// folder, such as `pendata init`, logs its start too), and
/// to standard error when `verbose`. Only the first call of a process counts. The log never fails a
/// command: a line that cannot be written is dropped.
pub fn init(dir: Option<&Path>, verbose: bool) {
    if let Some(dir) = dir {
        let _ = PATH.set(dir.join(FILE));
    }
    let writer = Writer {
        file: dir.map(|d| Mutex::new(Rotating::new(d, MAX_BYTES, KEEP))),
        verbose,
    };
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(writer)
        .finish();
    // A second call (tests running `cli::run` in one process) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Where log lines go: the rotating file and, with `--verbose`, standard error.
struct Writer {
    file: Option<Mutex<Rotating>>,
    verbose: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Writer {
    type Writer = Line<'a>;
    fn make_writer(&'a self) -> Line<'a> {
        Line(self)
    }
}

/// One event: the formatter writes its whole line in one call.
struct Line<'a>(&'a Writer);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(file) = &self.0.file {
            let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
            // A full disk or a removed folder must not end the command: the line is dropped.
            let _ = file.write_line(buf);
        }
        if self.0.verbose {
            let _ = io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Lines written before the folder exists (`pendata init` creates it) are held up to this size.
const HELD_BYTES: usize = 64 << 10;

/// A size-rotated log file: `name`, `name.1` (newest rotated) … `name.{keep}`.
pub struct Rotating {
    dir: PathBuf,
    max: u64,
    keep: u32,
    open: Option<(File, u64)>,
    /// Lines waiting for the folder to exist.
    held: Vec<u8>,
}

impl Rotating {
    pub fn new(dir: &Path, max: u64, keep: u32) -> Rotating {
        Rotating {
            dir: dir.to_path_buf(),
            max,
            keep,
            open: None,
            held: Vec::new(),
        }
    }

    fn path(&self, n: u32) -> PathBuf {
        if n == 0 {
            self.dir.join(FILE)
        } else {
            self.dir.join(format!("{FILE}.{n}"))
        }
    }

    /// Appends one line, rotating first when it would take the file past the limit. While the folder
    /// does not exist (it is never created here) lines are held, up to a limit, and written once it does.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if self.open.is_none() {
            if !self.dir.is_dir() {
                if self.held.len() + line.len() <= HELD_BYTES {
                    self.held.extend_from_slice(line);
                }
                return Ok(());
            }
            self.open = Some(open_private(&self.path(0))?);
            if !self.held.is_empty() {
                let held = std::mem::take(&mut self.held);
                self.append(&held)?;
            }
        }
        self.append(line)
    }

    fn append(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64;
        if let Some((_, size)) = &self.open
            && *size > 0
            && size + len > self.max
        {
            self.open = None;
            self.rotate()?;
            self.open = Some(open_private(&self.path(0))?);
        }
        if let Some((file, size)) = &mut self.open {
            file.write_all(line)?;
            *size += len;
        }
        Ok(())
    }

    fn rotate(&self) -> io::Result<()> {
        for n in (1..self.keep).rev() {
            let from = self.path(n);
            if from.exists() {
                fs::rename(&from, self.path(n + 1))?;
            }
        }
        if self.keep == 0 {
            fs::remove_file(self.path(0))
        } else {
            fs::rename(self.path(0), self.path(1))
        }
    }
}

/// Opens a log file for appending, owner read/write only (also when it existed with other rights).
fn open_private(path: &Path) -> io::Result<(File, u64)> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        let meta = file.metadata()?;
        if meta.permissions().mode() & 0o777 != 0o600 {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        Ok((file, meta.len()))
    }
    #[cfg(not(unix))]
    {
        let file = options.open(path)?;
        let size = file.metadata()?.len();
        Ok((file, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Rotating::new(dir.path(), 1000, 2);
        let line = [b'x'; 99];
        let mut line = line.to_vec();
        line.push(b'\n');
        for _ in 0..1000 {
            log.write_line(&line).unwrap();
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["pendata.log", "pendata.log.1", "pendata.log.2"]);
        let total: u64 = names
            .iter()
            .map(|n| fs::metadata(dir.path().join(n)).unwrap().len())
            .sum();
        assert!(total <= 3 * 1000, "{total} bytes kept");
        assert_eq!(
            fs::metadata(dir.path().join("pendata.log.1"))
                .unwrap()
                .len(),
            1000
        );
        // Reopening (the next command) continues the same file and keeps the bound.
        let mut again = Rotating::new(dir.path(), 1000, 2);
        for _ in 0..25 {
            again.write_line(&line).unwrap();
        }
        for n in &names {
            assert!(fs::metadata(dir.path().join(n)).unwrap().len() <= 1000);
        }
    }

    #[test]
    fn a_missing_folder_is_not_created_and_lines_wait_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("not-yet");
        let mut log = Rotating::new(&gone, 1000, 2);
        log.write_line(b"first\n").unwrap();
        assert!(!gone.exists());
        fs::create_dir(&gone).unwrap();
        log.write_line(b"second\n").unwrap();
        assert_eq!(
            fs::read_to_string(gone.join(FILE)).unwrap(),
            "first\nsecond\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_log_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), "old\n").unwrap();
        fs::set_permissions(dir.path().join(FILE), fs::Permissions::from_mode(0o644)).unwrap();
        Rotating::new(dir.path(), 1000, 2)
            .write_line(b"new\n")
            .unwrap();
        let mode = fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
