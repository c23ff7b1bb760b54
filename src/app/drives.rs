//! Removable drives the tablet can see, behind one interface for every platform: Linux lists the media
//! the desktop mounted (under `/media`, `/run/media` or `/mnt`); Windows lists drive letters other than
//! the system drive. The Export and Receipts screens offer these, and a folder can always be typed.

use std::path::{Path, PathBuf};

/// A place to write bundles to or read receipts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    pub path: PathBuf,
    /// What a person calls it: the volume's folder name or the drive letter.
    pub label: String,
    pub free: Option<u64>,
}

#[cfg(feature = "test-support")]
thread_local! {
    /// Folders this thread treats as mounted sticks instead of the machine's (tests: the app's frames
    /// run on the test's thread, so another test's sticks are never seen).
    static PRETEND: std::cell::RefCell<Option<Vec<PathBuf>>> = const { std::cell::RefCell::new(None) };
}

/// From now on, on this thread, `folders` are the removable drives mounted (and no others).
#[cfg(feature = "test-support")]
pub fn pretend_mounted(folders: Vec<PathBuf>) {
    PRETEND.with(|p| *p.borrow_mut() = Some(folders));
}

/// Mount points of the removable drives (or the pretended ones).
fn mounted() -> Vec<PathBuf> {
    #[cfg(feature = "test-support")]
    if let Some(folders) = PRETEND.with(|p| p.borrow().clone()) {
        return folders;
    }
    mount_points()
}

/// Removable drives mounted now.
pub fn removable() -> Vec<Drive> {
    let mut out: Vec<Drive> = mounted()
        .into_iter()
        .map(|path| Drive {
            label: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            free: fs4::available_space(&path).ok(),
            path,
        })
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out.dedup_by(|a, b| a.path == b.path);
    out
}

#[cfg(target_os = "linux")]
fn mount_points() -> Vec<PathBuf> {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return Vec::new();
    };
    parse_mounts(&mounts)
}

/// Mount points of removable media in a `/proc/self/mounts` text.
/// Only Linux reads them; the tests check the parser on every platform.
#[cfg(any(target_os = "linux", test))]
fn parse_mounts(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let device = f.next()?;
            let point = unescape(f.next()?);
            let fstype = f.next()?;
            let removable_place = ["/media/", "/run/media/", "/mnt/"]
                .iter()
                .any(|p| point.starts_with(p));
            let real = device.starts_with("/dev/")
                && !matches!(fstype, "proc" | "sysfs" | "tmpfs" | "devtmpfs" | "overlay");
            (removable_place && real).then(|| PathBuf::from(point))
        })
        .collect()
}

/// `/proc/self/mounts` writes spaces and tabs in paths as octal escapes (`\040`).
#[cfg(any(target_os = "linux", test))]
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            match u8::from_str_radix(&code, 8) {
                Ok(b) => out.push(char::from(b)),
                Err(_) => {
                    out.push('\\');
                    out.push_str(&code);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(windows)]
fn mount_points() -> Vec<PathBuf> {
    let system = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".into());
    (b'A'..=b'Z')
        .map(|l| format!("{}:", char::from(l)))
        .filter(|d| !d.eq_ignore_ascii_case(&system) && d != "A:" && d != "B:")
        .map(|d| PathBuf::from(format!("{d}\\")))
        .filter(|p| p.exists())
        .collect()
}

#[cfg(not(any(target_os = "linux", windows)))]
fn mount_points() -> Vec<PathBuf> {
    ["/Volumes"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect()
}

/// The registry's key files (`registry.pub`) on `drives`.
pub fn registry_key_files(drives: &[Drive]) -> Vec<PathBuf> {
    drives
        .iter()
        .flat_map(|d| files_named(&d.path, |n| n == crate::registry::PUB_FILE))
        .collect()
}

/// Receipt files on the removable drives, and in the folder typed (or the file typed itself).
pub fn receipt_files(typed: &str) -> Vec<PathBuf> {
    let is_receipt = super::sync::is_receipt_name;
    let mut files: Vec<PathBuf> = removable()
        .iter()
        .flat_map(|d| files_named(&d.path, is_receipt))
        .collect();
    let typed = typed.trim();
    if !typed.is_empty() {
        let p = PathBuf::from(typed);
        if p.is_file() {
            files.push(p);
        } else {
            files.extend(files_named(&p, is_receipt));
        }
    }
    files.dedup();
    files
}

/// Files in the top folder of `dir` whose name matches `wanted` (newest first): receipts and key files
/// on a stick.
pub fn files_named(dir: &Path, wanted: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| wanted(&e.file_name().to_string_lossy()))
        .map(|e| {
            let at = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (at, e.path())
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removable_mounts_are_found_and_system_ones_skipped() {
        let text = "/dev/sda1 / ext4 rw 0 0\n\
                    proc /proc proc rw 0 0\n\
                    /dev/sdb1 /media/petugas/KINGSTON vfat rw 0 0\n\
                    /dev/sdc1 /run/media/siti/USB\\040DINSOS exfat rw 0 0\n\
                    tmpfs /mnt/ram tmpfs rw 0 0\n";
        assert_eq!(
            parse_mounts(text),
            vec![
                PathBuf::from("/media/petugas/KINGSTON"),
                PathBuf::from("/run/media/siti/USB DINSOS")
            ]
        );
    }

    #[test]
    fn files_on_a_stick_are_found_by_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("registry.pub"), "{}").unwrap();
        std::fs::write(d.path().join("other.txt"), "").unwrap();
        let found = files_named(d.path(), |n| n == "registry.pub");
        assert_eq!(found, vec![d.path().join("registry.pub")]);
    }
}
