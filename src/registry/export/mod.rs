//! Families as a person opens them in a spreadsheet: one table of families and one per repeat group of the
//! form (`anggota`: one row per member), written as CSV files or as the sheets of one XLSX workbook.
//! Streaming: families are pushed one at a time, so a province never sits in memory.
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

use uuid::Uuid;

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
}

pub type Result<T, E = ExportError> = std::result::Result<T, E>;

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
