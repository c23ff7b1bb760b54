//! Families as a person opens them in a spreadsheet: one table of families and one per repeat group of the
//! form (`anggota`: one row per member), written as CSV files or as the sheets of one XLSX workbook.
//! Streaming: families are pushed one at a time, so a province never sits in memory. This file is the use
//! case (which families, which files, written through [`crate::durable`]); `layout` makes the columns and
//! cells, `csv` and `xlsx` the formats.
//!
//! Columns of the family table: `record_id, state, device, revision, petugas, time, form_version`, then
//! every answered field of the given form in form order (notes, calculated fields and repeats left out):
//! a select field as its code(s) and `<name>_label` (Indonesian labels; several joined with "; "), a GPS
//! field as `<name>_lat, <name>_lon, <name>_accuracy`, any other field as one column. A repeat's table
//! starts with `record_id, no_urut` (the row's position in the roster, from 1) and the family's region
//! codes. A record of another form version is written with the columns of the form given: what that
//! version does not have stays empty. An answer that does not fit its field (a quarantined record) is
//! written as its raw JSON in the field's first column.
//!
//! CSV: RFC 4180 (quoted where needed, CRLF), UTF-8 with a byte order mark so Excel reads Indonesian
//! text right, a header row. Text starting with `=`, `+`, `-`, `@`, tab or CR, unless it is a number, gets
//! a leading `'` so a spreadsheet never runs it as a formula. XLSX cells are typed (text stays text, so
//! neither injection nor lost NIK digits), with at most [`XLSX_MAX_ROWS`] rows a sheet: beyond that the
//! export is refused before anything is written. The XLSX writer keeps finished rows in temporary files
//! (the system's temporary folder), not in memory.

mod csv;
mod layout;
mod xlsx;

pub use csv::{CsvExport, TableOut};
pub use layout::table_names;
pub use xlsx::{XLSX_MAX_ROWS, XlsxExport};

use std::io::Write;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::entries::FamilyEntry;
use super::{Registry, RegistryError};
use crate::durable::{
    self, ContentError, DirTarget, Existing, Options, Target, WriteError, Written,
};
use crate::form::Form;
use crate::model::record::Answers;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the {table} table: {source}")]
    Io {
        table: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the \"{sheet}\" sheet would need more than {limit} rows, the most an XLSX sheet holds; export \
         one kabupaten at a time (--kabupaten) or export CSV, which has no such limit"
    )]
    TooManyRows { sheet: String, limit: u32 },
    #[error("cannot write the XLSX workbook{}: {detail}", record.map(|r| format!(" (record {r})")).unwrap_or_default())]
    Xlsx {
        record: Option<Uuid>,
        detail: String,
    },
    /// Bad input: not a kabupaten/kota code.
    #[error("`{0}` is not a kabupaten/kota code (4 digits, e.g. 6472 or 64.72)")]
    Kabupaten(String),
    /// Bad input: the file's folder is not there.
    #[error("{} is not a folder", .0.display())]
    NoFolder(PathBuf),
    /// Refused: a file the export would write is already there (nothing was written).
    #[error("{} is already there; nothing was written", .0.display())]
    Exists(PathBuf),
    #[error("the household form is not built in")]
    NoForm,
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Write(Box<WriteError<ExportError>>),
}

impl ContentError for ExportError {
    fn as_io(&self) -> Option<&std::io::Error> {
        match self {
            ExportError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<WriteError<ExportError>> for ExportError {
    fn from(e: WriteError<ExportError>) -> Self {
        match e {
            WriteError::Content(e) => e,
            e => ExportError::Write(Box::new(e)),
        }
    }
}

pub type Result<T, E = ExportError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One file per table: FILE for families, FILE-<table>.csv beside it for each repeat group.
    Csv,
    /// One workbook, a sheet per table.
    Xlsx,
}

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct Request {
    pub format: ExportFormat,
    /// The file to write (for CSV, the family table's; the others are named after it).
    pub to: PathBuf,
    /// Only families of this kabupaten/kota (as [`kabupaten_code`] writes it).
    pub kabupaten: Option<String>,
    /// A file already there is refused ([`Existing::Refuse`]) or replaced ([`Existing::Replace`]).
    pub existing: Existing,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// Families exported.
    pub families: u64,
    /// Each file with its data rows (for XLSX, the rows of every sheet).
    pub files: Vec<(PathBuf, u64)>,
}

/// `6472`, `64.72` → `64.72` (as the form's lists write kabupaten codes).
pub fn kabupaten_code(s: &str) -> Result<String> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let (Some(a), Some(b)) = (digits.get(..2), digits.get(2..)) else {
        return Err(ExportError::Kabupaten(s.to_string()));
    };
    if digits.len() != 4 || s.chars().any(|c| !c.is_ascii_digit() && c != '.') {
        return Err(ExportError::Kabupaten(s.to_string()));
    }
    Ok(format!("{a}.{b}"))
}

/// The files an export of `form` to `to` writes, the family table's first (see [`table_names`]).
pub fn files(form: &Form, format: ExportFormat, to: &Path) -> Vec<PathBuf> {
    match format {
        ExportFormat::Xlsx => vec![to.to_path_buf()],
        ExportFormat::Csv => {
            let stem = to.with_extension("");
            table_names(form)
                .into_iter()
                .map(|table| {
                    if table == form.id {
                        to.to_path_buf()
                    } else {
                        let mut s = stem.as_os_str().to_owned();
                        s.push(format!("-{table}.csv"));
                        PathBuf::from(s)
                    }
                })
                .collect()
        }
    }
}

/// Exports the registry's families of the household form (of one kabupaten/kota if asked). Every file
/// appears under its final name complete and synced, or not at all; a file already there is refused
/// unless the request says to replace it.
pub fn export(reg: &Registry, request: &Request) -> Result<Exported> {
    export_with(reg, request, &mut |_, _| {})
}

/// [`export`], telling `progress` (families read, of the registry's families) every thousand families.
pub fn export_with(
    reg: &Registry,
    request: &Request,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Exported> {
    let form = reg
        .catalog
        .latest(crate::model::household::FORM_ID)
        .ok_or(ExportError::NoForm)?;
    let to = &request.to;
    let folder = to.parent().unwrap_or(Path::new(""));
    if !folder.as_os_str().is_empty() && !folder.is_dir() {
        return Err(ExportError::NoFolder(folder.to_path_buf()));
    }
    let paths = files(form, request.format, to);
    if request.existing == Existing::Refuse
        && let Some(there) = paths.iter().find(|p| std::fs::symlink_metadata(p).is_ok())
    {
        return Err(ExportError::Exists(there.clone()));
    }
    let names = paths
        .iter()
        .map(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
                .ok_or_else(|| ExportError::NoFolder(p.clone()))
        })
        .collect::<Result<Vec<String>>>()?;
    let target = DirTarget::new(folder);
    // Large files: the read-back would double the time, and the data are in the registry still.
    let options = Options {
        existing: request.existing,
        // Every family's answers: the owner's alone.
        ..Options::refuse().private().unverified()
    };
    let keep = |f: &FamilyEntry| {
        f.family.form_id == form.id
            && request.kabupaten.as_ref().is_none_or(|k| {
                f.facts.as_ref().and_then(|x| x.kabkota.as_deref()) == Some(k.as_str())
            })
    };
    let mut families = 0;
    let mut rows = Vec::new();
    let mut written = Vec::new();
    match request.format {
        ExportFormat::Csv => {
            nested(
                &target,
                &names,
                &options,
                Vec::new(),
                &mut written,
                &mut |outs| {
                    let mut outs = outs.into_iter();
                    let mut csv = CsvExport::new(form, |_| {
                        // Lines are small: one write per 256 KiB, not per line.
                        outs.next()
                            .map(|w| std::io::BufWriter::with_capacity(256 * 1024, w))
                            .ok_or_else(|| std::io::Error::other("a table without a file"))
                    })?;
                    families = feed(reg, &keep, progress, |f, a| csv.push(f, a))?;
                    rows = csv.finish()?.into_iter().map(|t| t.rows).collect();
                    Ok(())
                },
            )?;
        }
        ExportFormat::Xlsx => {
            let name = names.first().map(String::as_str).unwrap_or_default();
            let mut x = XlsxExport::new(form)?;
            families = feed(reg, &keep, progress, |f, a| x.push(f, a))?;
            let mut workbook = Some(x);
            let mut sheets = Vec::new();
            let w = durable::write_safely(&target, name, &options, 0, &mut |w| {
                if let Some(x) = workbook.take() {
                    sheets = x.finish_into(w)?;
                }
                Ok(())
            })?;
            rows = vec![sheets.iter().map(|(_, n)| n).sum()];
            written.push(w);
        }
    }
    // Files in table order: `nested` finishes the innermost (last) table first.
    written.sort_by_key(|w| names.iter().position(|n| *n == w.name));
    Ok(Exported {
        families,
        files: written.into_iter().map(|w| w.path).zip(rows).collect(),
    })
}

/// Writes one file per name through [`durable::write_safely`], each nested in the one before, and hands
/// `body` a writer for each: a failure anywhere leaves none of them under its final name.
fn nested(
    target: &dyn Target,
    names: &[String],
    options: &Options,
    outs: Vec<&mut dyn Write>,
    written: &mut Vec<Written>,
    body: &mut dyn FnMut(Vec<&mut dyn Write>) -> Result<()>,
) -> Result<()> {
    let Some((first, rest)) = names.split_first() else {
        return body(outs);
    };
    let mut outs = Some(outs);
    let mut inner_written = Vec::new();
    let w = durable::write_safely(target, first, options, 0, &mut |w| {
        let mut all: Vec<&mut dyn Write> = outs
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|o| o as &mut dyn Write)
            .collect();
        all.push(w);
        nested(target, rest, options, all, &mut inner_written, body)
    })?;
    written.append(&mut inner_written);
    written.push(w);
    Ok(())
}

/// Hands every family `keep` selects, with its answers, to `push`; stops at the first failure. Tells
/// `progress` how many of the registry's families were read, every thousand.
fn feed(
    reg: &Registry,
    keep: &dyn Fn(&FamilyEntry) -> bool,
    progress: &mut dyn FnMut(u64, u64),
    mut push: impl FnMut(&super::family::Family, &Answers) -> Result<()>,
) -> Result<u64> {
    let total = reg.family_count()?;
    progress(0, total);
    let (mut n, mut read) = (0, 0u64);
    let mut failed = None;
    let done = reg.for_each_family(|f, rev| {
        read += 1;
        if read % 1000 == 0 {
            progress(read, total);
        }
        if keep(f) {
            n += 1;
            if let Err(e) = push(&f.family, &rev.answers) {
                failed = Some(e);
                return Err(RegistryError::Invalid("stopped".into()));
            }
        }
        Ok(())
    });
    match (done, failed) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(e.into()),
        (Ok(_), None) => {
            progress(total, total);
            Ok(n)
        }
    }
}

/// Families and answers the tests of every format write.
#[cfg(test)]
pub(super) mod fixtures {
    use super::super::family::{Family, FamilyState};
    use crate::app::demo::{self, FamilySpec, Rng};
    use crate::form::Form;
    use crate::form::catalog::Catalog;
    use crate::model::record::Answers;
    use chrono::{DateTime, NaiveDate};
    use serde_json::json;
    use uuid::Uuid;

    pub(super) fn form() -> &'static Form {
        Catalog::shared().unwrap().latest("keluarga").unwrap()
    }

    pub(super) fn family(n: u128, form_version: u64) -> Family {
        Family {
            record: Uuid::from_u128(n),
            state: FamilyState::Conflict,
            device: Uuid::from_u128(0xd),
            revision: 3,
            seq: 17,
            petugas: "PTG01".into(),
            at: DateTime::parse_from_rfc3339("2026-11-20T09:30:00+08:00").unwrap(),
            form_id: "keluarga".into(),
            form_version,
        }
    }

    pub(super) fn demo_answers(seed: u64) -> Answers {
        let spec = FamilySpec {
            interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        };
        demo::family(form(), &mut Rng::new(seed), &spec)
    }

    /// A family of an older version with free text that needs quoting and guarding, and answers that do
    /// not fit their fields.
    pub(super) fn tricky() -> Answers {
        let v = json!({
            "wilayah_kabkota": "64.01", "wilayah_kecamatan": "64.01.01",
            "alamat": "Jl. Mawar, No. \"5\"\nRT 1",
            "nama_kepala_keluarga": "=HYPERLINK(\"http://x\")",
            "rt": "-1",
            "catatan": "@SUM(A1)",
            "hp_responden": "+62812",
            "jenis_lantai": "8",
            "luas_lantai": "besar",
            "lokasi": {"lat": -0.5, "lon": 117.25},
            "anggota": [
                {"nama": "Siti, Aminah", "jaminan_kesehatan": ["1", "2"], "keberadaan": "1"},
                "not a member",
                {"nama": "-Budi", "jam_kerja": 40}
            ]
        });
        v.as_object().unwrap().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::form;
    use super::*;

    #[test]
    fn kabupaten_codes_with_or_without_the_dot() {
        assert_eq!(kabupaten_code("6472").unwrap(), "64.72");
        assert_eq!(kabupaten_code("64.72").unwrap(), "64.72");
        for bad in ["64x", "647", "64.721", "", "64-72", "٦٤٧٢"] {
            assert!(
                matches!(kabupaten_code(bad), Err(ExportError::Kabupaten(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn csv_files_are_named_after_the_family_file_xlsx_is_one() {
        let to = Path::new("out/keluarga.csv");
        assert_eq!(
            files(form(), ExportFormat::Csv, to),
            [
                PathBuf::from("out/keluarga.csv"),
                PathBuf::from("out/keluarga-anggota.csv")
            ]
        );
        assert_eq!(
            files(form(), ExportFormat::Csv, Path::new("data")),
            [PathBuf::from("data"), PathBuf::from("data-anggota.csv")]
        );
        assert_eq!(
            files(form(), ExportFormat::Xlsx, Path::new("k.xlsx")),
            [PathBuf::from("k.xlsx")]
        );
    }
}
