//! The office's import: the bundle files on a stick or in a folder, imported in a background task with
//! an update per file, and the outcome in words: what was merged, and what needs a person (devices to
//! approve, families in the work queue, refused files) for the screen that handles it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};

use super::Office;
use super::session::Result;
use crate::app::task::Updates;
use crate::model::Localized;
use crate::model::printable::clean;
use crate::registry::{FileOutcome, MergeCounts};

/// The bundle files in `folder` (and its subfolders), sorted.
pub fn files_in(folder: &Path) -> Result<Vec<PathBuf>> {
    Ok(crate::registry::import::bundle_files(&[
        folder.to_path_buf()
    ])?)
}

/// One file done: its number (from 1), of how many, its name and its outcome in words.
#[derive(Debug, Clone, PartialEq)]
pub struct FileDone {
    pub n: usize,
    pub of: usize,
    pub name: String,
    pub outcome: Localized,
    /// Whether a person has something to do about it.
    pub needs_person: bool,
}

/// What an import did, for the outcome's words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    pub files: usize,
    pub merged: u64,
    pub again: u64,
    pub held: u64,
    pub refused: u64,
    pub revisions: MergeCounts,
    /// Devices waiting for approval (their bundles held).
    pub pending_devices: u64,
    /// Families waiting in the work queue (quarantine and conflicts).
    pub queue: u64,
    /// Every file's line.
    pub lines: Vec<FileDone>,
    /// Short ids of the devices whose bundles were merged (receipts go back to them).
    pub devices: Vec<uuid::Uuid>,
}

/// Imports `files`, sending a [`FileDone`] per file as it is saved.
pub fn run(
    office: &Office,
    files: &[PathBuf],
    now: DateTime<FixedOffset>,
    updates: &Updates<FileDone>,
) -> Result<Imported> {
    // Shared, not alone: the store orders its own write transactions, and the screens' readings go on
    // while a long import runs (the session was checked when the import started).
    let reg = office.read();
    let of = files.len();
    let mut out = Imported {
        files: of,
        ..Imported::default()
    };
    let outcomes = reg.import_files(files, now, |i, f, o| {
        let name = f
            .file_name()
            .map(|n| clean(&n.to_string_lossy()).into_owned())
            .unwrap_or_default();
        updates.send(FileDone {
            n: i + 1,
            of,
            name,
            outcome: words(o),
            needs_person: o.needs_operator(),
        });
    })?;
    for (f, o) in files.iter().zip(&outcomes) {
        match o {
            FileOutcome::Merged(b) => {
                out.merged += 1;
                out.revisions.add(&b.merged);
                if !out.devices.contains(&b.device) {
                    out.devices.push(b.device);
                }
            }
            FileOutcome::AlreadyImported { .. } => out.again += 1,
            FileOutcome::Held { .. } => out.held += 1,
            FileOutcome::Refused { reason } => {
                out.refused += 1;
                tracing::info!(file = %clean(&f.display().to_string()), reason = %reason, "refused");
            }
        }
    }
    if out.merged > 0 {
        let snapshot = crate::registry::snapshot(&reg)?;
        reg.log_import(now, out.merged, out.revisions, snapshot)?;
    }
    let attention = reg.attention()?;
    out.pending_devices = attention.pending_devices;
    out.queue = attention.open_quarantine + attention.open_conflicts;
    Ok(out)
}

/// One file's outcome in words.
pub fn words(o: &FileOutcome) -> Localized {
    match o {
        FileOutcome::Merged(b) => {
            let m = &b.merged;
            Localized::new(
                format!(
                    "digabung: {} diterima, {} duplikat, {} karantina, {} konflik baru",
                    m.accepted, m.duplicates, m.quarantined, m.conflicts
                ),
                format!(
                    "merged: {} accepted, {} duplicate, {} quarantined, {} new conflict(s)",
                    m.accepted, m.duplicates, m.quarantined, m.conflicts
                ),
            )
        }
        FileOutcome::AlreadyImported { bundle } => {
            let day = bundle.imported_at.format("%d-%m-%Y");
            Localized::new(
                format!("sudah diimpor pada {day}; tidak ada yang berubah"),
                format!("already imported on {day}; nothing changed"),
            )
        }
        FileOutcome::Held { device, .. } => Localized::new(
            format!(
                "ditahan: perangkat {} ({}) belum disetujui — lihat Perangkat",
                clean(&device.name),
                crate::bundle::short(device.id)
            ),
            format!(
                "held: device {} ({}) is not approved yet — see Devices",
                clean(&device.name),
                crate::bundle::short(device.id)
            ),
        ),
        FileOutcome::Refused { reason } => match reason.rsplit_once(" / ") {
            Some((en, id)) => Localized::new(
                format!("ditolak: {}", clean(id.trim())),
                format!("refused: {}", clean(en.trim())),
            ),
            None => Localized::new(
                format!("ditolak: {}", clean(reason)),
                format!("refused: {}", clean(reason)),
            ),
        },
    }
}
