//! The crash log: a panic is written to `crash.log` in the data directory before the process ends (the
//! release build aborts on panic, so nothing unwinds and nothing after the hook runs), and the next start
//! of the app learns that it closed unexpectedly. The store is crash-safe: every answer saved before the
//! panic is kept. Appended to, not written through `crate::durable`: a log grows by whole entries and is
//! never replaced.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The log of every panic, appended to (private to the user, like the store).
pub const LOG_FILE: &str = "crash.log";
/// Present while a crash has not been told to the petugas yet.
const UNSEEN_FILE: &str = "crash.unseen";

/// Installs the panic hook of the app: the default report (stderr) first, then an entry in the crash log
/// of `data_dir`. Call once, before the window opens.
pub fn install(data_dir: &Path) {
    let dir = data_dir.to_path_buf();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(a panic without a message)".into());
        let location = info
            .location()
            .map_or_else(|| "(unknown)".into(), ToString::to_string);
        let thread = std::thread::current()
            .name()
            .unwrap_or("(unnamed)")
            .to_string();
        // The log gets the place only: a panic's message may quote data; crash.log (0600) keeps it.
        tracing::error!(thread, location, "panic: details in {LOG_FILE}");
        let backtrace = std::backtrace::Backtrace::force_capture().to_string();
        // Nothing can be reported about a failure here: stderr already has the panic.
        let _ = write_entry(&dir, &thread, &redact(&message), &location, &backtrace);
    }));
}

/// A panic's message without what could be a family's data: text in double quotes or backticks (how
/// `Debug` shows a string, e.g. an error's detail inside `unwrap()`'s message) becomes `"…"`, and every
/// run of six or more digits (a NIK, a KK number, a phone number) `#…`. The program's own words, the
/// place and the backtrace (code locations only) stay, which is what support needs.
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut digits = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 6 {
            out.push_str("#…");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in message.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                out.push('…');
                out.push(q);
                quote = None;
            }
            continue;
        }
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out);
        out.push(c);
        if c == '"' || c == '`' {
            quote = Some(c);
        }
    }
    flush(&mut digits, &mut out);
    if quote.is_some() {
        out.push('…');
    }
    out
}

/// Appends one entry to the crash log (created 0600 on Unix) in a single write, syncs it, and marks the
/// crash as not yet told. Used by the hook; public so that tests can stage a crash.
pub fn write_entry(
    data_dir: &Path,
    thread: &str,
    message: &str,
    location: &str,
    backtrace: &str,
) -> std::io::Result<()> {
    create_private_dir(data_dir)?;
    let entry = format!(
        "=== {} pendata {} panicked\nthread: {thread}\nmessage: {message}\nlocation: {location}\nbacktrace:\n{backtrace}\n",
        super::now().to_rfc3339(),
        env!("CARGO_PKG_VERSION"),
    );
    let mut log = private_file(&data_dir.join(LOG_FILE), true)?;
    // One write of the whole entry on a file opened for appending: entries of two panicking threads do
    // not interleave.
    log.write_all(entry.as_bytes())?;
    log.sync_all()?;
    private_file(&data_dir.join(UNSEEN_FILE), false)?.sync_all()?;
    if let Ok(d) = std::fs::File::open(data_dir) {
        // Makes the new names durable where directories can be synced (not on Windows).
        let _ = d.sync_all();
    }
    Ok(())
}

/// Whether the app closed unexpectedly since the last call; the crash is then told (the log stays for
/// support). Errors count as "no crash": the notice is a courtesy, the log is what matters.
pub fn take_unseen(data_dir: &Path) -> bool {
    std::fs::remove_file(data_dir.join(UNSEEN_FILE)).is_ok()
}

/// Where the crash log of `data_dir` is.
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_FILE)
}

fn private_file(path: &Path, append: bool) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true);
    if append {
        opts.append(true);
    } else {
        opts.write(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn quoted_text_and_long_numbers_are_left_out() {
        assert_eq!(
            redact(
                r#"called `Result::unwrap()` on an `Err` value: Invalid("Siti Aminah, NIK 6472015501900001")"#
            ),
            r#"called `…` on an `…` value: Invalid("…")"#
        );
        assert_eq!(redact("NIK 6472015501900001 at row 12"), "NIK #… at row 12");
        assert_eq!(
            redact(r#"a "quoted \" escape" then 3 words"#),
            r#"a "…" then 3 words"#
        );
        assert_eq!(
            redact(r#"unterminated "Budi Santoso"#),
            r#"unterminated "…"#
        );
        assert_eq!(
            redact("index out of bounds: the len is 3 but the index is 12345"),
            "index out of bounds: the len is 3 but the index is 12345"
        );
    }
}
