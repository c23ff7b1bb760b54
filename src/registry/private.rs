//! The registry's files are the owner's alone: its store, held bundles, logs and secret keys are personal
//! data or the keys to it. New files are made 0600 in 0700 folders; a registry made by an older program
//! (a store created 0644, a `keys` folder 0755) is tightened each time it is opened. `registry.pub` is
//! public and keeps its rights. A right that cannot be changed (a file of another account) is logged, not
//! fatal: the command still runs for whoever may read the files.

use std::fs;
use std::path::Path;

use super::keys::PUB_FILE;

/// Tightens the registry folder `dir`, its files and the folders in it (one level down: `keys/`,
/// `pending/`) to the owner only. Returns how many rights were changed.
pub fn tighten(dir: &Path) -> usize {
    let mut changed = 0;
    changed += usize::from(set(dir, 0o700));
    let Ok(entries) = fs::read_dir(dir) else {
        return changed;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name() == PUB_FILE {
            continue;
        }
        // Not followed: a link's target is not the registry's to change.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            changed += usize::from(set(&path, 0o700));
            for inner in fs::read_dir(&path).into_iter().flatten().flatten() {
                if inner.file_type().is_ok_and(|t| t.is_file()) {
                    changed += usize::from(set(&inner.path(), 0o600));
                }
            }
        } else if kind.is_file() {
            changed += usize::from(set(&path, 0o600));
        }
    }
    if changed > 0 {
        tracing::info!(changed, "registry file rights tightened to the owner only");
    }
    changed
}

/// Sets `path`'s rights to `mode` when others (group or world) have any: whether it changed them.
#[cfg(unix)]
fn set(path: &Path, mode: u32) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    if meta.permissions().mode() & 0o077 == 0 {
        return false;
    }
    match fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "a registry file's rights could not be tightened");
            false
        }
    }
}

#[cfg(not(unix))]
fn set(_path: &Path, _mode: u32) -> bool {
    false
}
