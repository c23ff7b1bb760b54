//! XLSX: one workbook, a sheet per table, typed cells (text stays text: neither formulas nor lost NIK
//! digits), at most [`XLSX_MAX_ROWS`] rows a sheet; finished rows wait in temporary files, not in memory.

use std::io::Write;

use rust_xlsxwriter::{Workbook, XlsxError};
use uuid::Uuid;

use super::super::family::Family;
use super::layout::{Layout, SheetCell};
use super::{ExportError, Result};
use crate::form::Form;
use crate::model::record::Answers;

/// The most rows (header included) one XLSX sheet holds.
pub const XLSX_MAX_ROWS: u32 = 1_048_576;

/// Streaming XLSX export: one workbook, a sheet per table (named as [`table_names`]).
pub struct XlsxExport<'f> {
    layout: Layout<'f>,
    workbook: Workbook,
    /// Rows written per sheet, header included.
    rows: Vec<u32>,
    max_rows: u32,
}

fn xlsx_err(record: Option<Uuid>) -> impl Fn(XlsxError) -> ExportError {
    move |e| ExportError::Xlsx {
        record,
        detail: e.to_string(),
    }
}

impl<'f> XlsxExport<'f> {
    pub fn new(form: &'f Form) -> Result<Self> {
        Self::with_row_limit(form, XLSX_MAX_ROWS)
    }

    fn with_row_limit(form: &'f Form, max_rows: u32) -> Result<Self> {
        let layout = Layout::new(form);
        let mut workbook = Workbook::new();
        let err = xlsx_err(None);
        for t in &layout.tables {
            let sheet = workbook
                .add_worksheet_with_constant_memory()
                .map_err(&err)?;
            // Sheet names hold at most 31 characters; form and field names are [a-z0-9_].
            let name: String = t.name.chars().take(31).collect();
            sheet.set_name(name).map_err(&err)?;
            sheet.set_freeze_panes(1, 0).map_err(&err)?;
            for (col, h) in t.headers.iter().enumerate() {
                sheet.write_string(0, column(col)?, h).map_err(&err)?;
            }
        }
        let rows = vec![1; layout.tables.len()];
        Ok(XlsxExport {
            layout,
            workbook,
            rows,
            max_rows,
        })
    }

    /// Writes a family's row and the rows of its repeats; refuses (writing nothing of this family) when a
    /// sheet would grow past the XLSX limit.
    pub fn push(&mut self, family: &Family, answers: &Answers) -> Result<()> {
        let rows = self.layout.rows(family, answers);
        let mut need = self.rows.clone();
        for (t, _) in &rows {
            if let Some(n) = need.get_mut(*t) {
                *n += 1;
                if *n > self.max_rows {
                    let sheet = self
                        .layout
                        .tables
                        .get(*t)
                        .map(|t| t.name.clone())
                        .unwrap_or_default();
                    return Err(ExportError::TooManyRows {
                        sheet,
                        limit: self.max_rows,
                    });
                }
            }
        }
        let err = xlsx_err(Some(family.record));
        for (t, cells) in rows {
            let Some(row) = self.rows.get_mut(t) else {
                continue;
            };
            let sheet = self.workbook.worksheet_from_index(t).map_err(&err)?;
            for (col, cell) in cells.iter().enumerate() {
                let col = column(col)?;
                match cell {
                    SheetCell::Empty => {}
                    SheetCell::Text(s) => {
                        let s = crate::model::printable::clean_text(s);
                        sheet.write_string(*row, col, &*s).map_err(&err)?;
                    }
                    SheetCell::Num(n) => {
                        sheet.write_number(*row, col, *n).map_err(&err)?;
                    }
                }
            }
            *row += 1;
        }
        Ok(())
    }

    /// Writes the workbook to `out`; returns each sheet's name and data rows.
    pub fn finish<W: Write + Send>(mut self, out: W) -> Result<Vec<(String, u64)>> {
        self.workbook.save_to_writer(out).map_err(xlsx_err(None))?;
        Ok(self
            .layout
            .tables
            .iter()
            .zip(&self.rows)
            .map(|(t, r)| (t.name.clone(), u64::from(r.saturating_sub(1))))
            .collect())
    }
}

impl XlsxExport<'_> {
    /// Writes the workbook to `out`, which need not be `Send` as the XLSX writer wants (the durable
    /// writer's is not): the workbook is written on a scoped thread and its bytes come back here in chunks.
    pub fn finish_into(self, out: &mut dyn Write) -> Result<Vec<(String, u64)>> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        std::thread::scope(|scope| {
            let saving = scope.spawn(move || {
                self.finish(std::io::BufWriter::with_capacity(256 * 1024, Chunks(tx)))
            });
            let mut failed = None;
            for chunk in rx {
                if let Err(e) = out.write_all(&chunk) {
                    failed = Some(e);
                    // Dropping the receiver stops the writer.
                    break;
                }
            }
            let saved = saving.join().map_err(|_| ExportError::Xlsx {
                record: None,
                detail: "the workbook writer stopped unexpectedly".into(),
            })?;
            match failed {
                Some(source) => Err(ExportError::Io {
                    table: "XLSX".into(),
                    source,
                }),
                None => saved,
            }
        })
    }
}

/// Bytes handed to another thread, a chunk per write.
struct Chunks(std::sync::mpsc::SyncSender<Vec<u8>>);

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn column(i: usize) -> Result<u16> {
    u16::try_from(i)
        .ok()
        .filter(|c| *c < 16_384)
        .ok_or_else(|| ExportError::Xlsx {
            record: None,
            detail: format!("the form has more than 16384 columns (column {i})"),
        })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{demo_answers, family, form, tricky};
    use super::*;
    use serde_json::json;
    use std::io::{Cursor, Read};

    fn unzip(bytes: &[u8], name: &str) -> String {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut text = String::new();
        zip.by_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn xlsx_has_a_sheet_per_table_with_typed_cells() {
        let answers = demo_answers(3);
        let mut x = XlsxExport::new(form()).unwrap();
        x.push(&family(1, form().version), &answers).unwrap();
        x.push(&family(2, 2025010101), &tricky()).unwrap();
        let mut bytes = Vec::new();
        let sheets = x.finish(Cursor::new(&mut bytes)).unwrap();
        let members = answers["anggota"].as_array().unwrap().len() as u64;
        assert_eq!(
            sheets,
            [
                ("keluarga".to_string(), 2),
                ("anggota".to_string(), members + 2)
            ]
        );
        let workbook = unzip(&bytes, "xl/workbook.xml");
        assert!(workbook.contains("name=\"keluarga\"") && workbook.contains("name=\"anggota\""));
        let fam = unzip(&bytes, "xl/worksheets/sheet1.xml");
        for text in [
            "jenis_lantai_label",
            &Uuid::from_u128(2).to_string(),
            "<t>Tanah</t>",
            // Text stays text in XLSX: no apostrophe, and never a formula.
            "<t>=HYPERLINK(\"http://x\")</t>",
            answers["no_kk"].as_str().unwrap(),
        ] {
            assert!(fam.contains(text), "{text} in {fam}");
        }
        assert!(!fam.contains("<f>"));
        assert!(fam.contains("<v>117.25</v>"), "GPS as numbers");
        let mem = unzip(&bytes, "xl/worksheets/sheet2.xml");
        assert!(mem.contains("<t>Siti, Aminah</t>"));
        let first = answers["anggota"][0]["nama"].as_str().unwrap();
        assert!(mem.contains(first));
    }

    #[test]
    fn xlsx_refuses_rows_past_the_limit_and_writes_nothing_of_that_family() {
        let mut one = tricky();
        one["anggota"] = json!([{"nama": "Satu"}]);
        let mut x = XlsxExport::with_row_limit(form(), 3).unwrap();
        x.push(&family(1, 1), &one).unwrap();
        // The members' sheet holds its header, Satu and one more row: this family's two members do not fit.
        let err = x.push(&family(2, 1), &tricky()).unwrap_err();
        assert!(
            matches!(&err, ExportError::TooManyRows { sheet, limit: 3 } if sheet == "anggota"),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("--kabupaten") && msg.contains("CSV"), "{msg}");
        let mut bytes = Vec::new();
        let sheets = x.finish(Cursor::new(&mut bytes)).unwrap();
        assert_eq!(
            sheets,
            [("keluarga".to_string(), 1), ("anggota".to_string(), 1)]
        );
        let fam = unzip(&bytes, "xl/worksheets/sheet1.xml");
        assert!(!fam.contains(&Uuid::from_u128(2).to_string()));
    }
}
