//! What the office hands out: receipts to the sticks of the devices whose bundles are on them, the
//! report (HTML, with the date and the data's cut-off) and the CSV/XLSX export written to a folder, and
//! the work packages written so far (read only).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::Office;
use super::session::{OfficeError, Result};
use crate::durable::Existing;
use crate::model::Localized;
use crate::model::printable::clean;

/// A receipt written (or not) for a device found on a stick.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptDone {
    /// The device as its bundles' file names give it (short id).
    pub device: String,
    /// The file written, or why not.
    pub outcome: std::result::Result<ReceiptFigures, Localized>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptFigures {
    pub file: String,
    pub accepted: u64,
    pub rejected: usize,
    pub waiting: u64,
}

/// Writes a receipt onto the stick at `drive` for each device whose bundle files are on it.
pub fn receipts_to(
    office: &Office,
    drive: &Path,
    now: DateTime<FixedOffset>,
) -> Result<Vec<ReceiptDone>> {
    let files = crate::registry::import::bundle_files(&[drive.to_path_buf()])?;
    let devices: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.file_name()?.to_str().map(str::to_string))
        .filter_map(|n| crate::bundle::parse_file_name(&n).map(|i| i.device))
        .collect();
    let reg = office.read();
    Ok(devices
        .into_iter()
        .map(|device| {
            let outcome = reg
                .write_receipt(&device, drive, now)
                .map(|w| ReceiptFigures {
                    file: w
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    accepted: w.accepted_positions,
                    rejected: w.receipt.rejected.len(),
                    waiting: w.held_for_conflicts,
                })
                .map_err(|e| super::session::registry_text(&e));
            ReceiptDone { device, outcome }
        })
        .collect())
}

/// Where reports and exports go unless the operator types another folder: the user's documents.
pub fn default_folder(office: &Office) -> PathBuf {
    directories::UserDirs::new()
        .and_then(|u| u.document_dir().map(Path::to_path_buf))
        .unwrap_or_else(|| office.dir().to_path_buf())
}

/// Writes the HTML report (the registry's name, the date, the data's cut-off) into `folder`.
pub fn write_report(office: &Office, folder: &Path, now: DateTime<FixedOffset>) -> Result<PathBuf> {
    let reg = office.read();
    let report = crate::registry::report_now(&reg, now)?;
    let path = folder.join(format!("laporan-{}.html", now.format("%Y%m%d-%H%M")));
    report
        .save(
            crate::registry::report::ReportFormat::Html,
            &path,
            Existing::Refuse,
        )
        .map(|w| w.path)
        .map_err(|e| OfficeError::Output(e.to_string()))
}

/// Which export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

/// Exports every family to `folder` as CSV (a file per table) or XLSX; the files written and their rows.
/// `progress` hears (families read, of all) as it goes.
pub fn export(
    office: &Office,
    format: Format,
    folder: &Path,
    now: DateTime<FixedOffset>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<(PathBuf, u64)>> {
    use crate::registry::export::{ExportFormat, Request};
    let (format, ext) = match format {
        Format::Csv => (ExportFormat::Csv, "csv"),
        Format::Xlsx => (ExportFormat::Xlsx, "xlsx"),
    };
    let request = Request {
        format,
        to: folder.join(format!("keluarga-{}.{ext}", now.format("%Y%m%d-%H%M"))),
        kabupaten: None,
        existing: Existing::Refuse,
    };
    let reg = office.read();
    crate::registry::export::export_with(&reg, &request, progress)
        .map(|e| e.files)
        .map_err(|e| OfficeError::Output(e.to_string()))
}

/// Opens a file with the computer's program for it (the report in the browser).
pub fn open_file(path: &Path) -> Result<()> {
    #[cfg(windows)]
    let spawned = std::process::Command::new("cmd")
        .args(["/C", "start", ""])
        .arg(path)
        .spawn();
    #[cfg(not(windows))]
    let spawned = std::process::Command::new("xdg-open").arg(path).spawn();
    spawned
        .map(drop)
        .map_err(|e| OfficeError::Output(format!("{}: {e}", path.display())))
}

/// A work package as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageRow {
    pub short: String,
    pub device: String,
    pub desa: String,
    pub families: usize,
    pub created: DateTime<FixedOffset>,
    pub expires: NaiveDate,
    pub state: String,
}

/// The work packages written, newest first.
pub fn packages(office: &Office) -> Result<Vec<PackageRow>> {
    let reg = office.read();
    let devices = reg.devices()?;
    let mut rows: Vec<PackageRow> = reg
        .packages()?
        .into_iter()
        .map(|p| PackageRow {
            short: crate::bundle::short(p.package_id),
            device: devices.iter().find(|d| d.id == p.device).map_or_else(
                || crate::bundle::short(p.device),
                |d| clean(&d.name).into_owned(),
            ),
            desa: p.desa.join(", "),
            families: p.families.len(),
            created: p.created_at,
            expires: p.expires,
            state: format!("{:?}", p.state).to_lowercase(),
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.created));
    Ok(rows)
}
