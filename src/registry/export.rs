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

use std::io::Write;

use rust_xlsxwriter::{Workbook, XlsxError};
use serde_json::Value as Json;
use uuid::Uuid;

use super::facts;
use super::family::Family;
use crate::form::compile::Container;
use crate::form::value::{Value, format_num, parse_answer};
use crate::form::{Field, FieldId, FieldKind, Form};
use crate::model::record::Answers;

/// The most rows (header included) one XLSX sheet holds.
pub const XLSX_MAX_ROWS: u32 = 1_048_576;

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

/// One cell of a row.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Empty,
    Text(String),
    Num(f64),
}

/// A table: the family table or one repeat group's.
struct Table {
    name: String,
    repeat: Option<FieldId>,
    fields: Vec<FieldId>,
    headers: Vec<String>,
}

/// Which columns each table has, from the form.
struct Layout<'f> {
    form: &'f Form,
    tables: Vec<Table>,
    /// Region fields copied into every repeat row.
    region: Vec<&'f Field>,
}

const FAMILY_META: [&str; 7] = [
    "record_id",
    "state",
    "device",
    "revision",
    "petugas",
    "time",
    "form_version",
];

fn field_headers(f: &Field, out: &mut Vec<String>) {
    let n = &f.name;
    match f.kind {
        FieldKind::SelectOne | FieldKind::SelectMultiple => {
            out.extend([n.clone(), format!("{n}_label")]);
        }
        FieldKind::Gps => out.extend(["lat", "lon", "accuracy"].map(|p| format!("{n}_{p}"))),
        _ => out.push(n.clone()),
    }
}

fn width(f: &Field) -> usize {
    match f.kind {
        FieldKind::SelectOne | FieldKind::SelectMultiple => 2,
        FieldKind::Gps => 3,
        _ => 1,
    }
}

impl<'f> Layout<'f> {
    fn new(form: &'f Form) -> Layout<'f> {
        let answered = |ids: &mut dyn Iterator<Item = &'f Field>| -> Vec<FieldId> {
            ids.filter(|f| f.kind.is_answered()).map(|f| f.id).collect()
        };
        let region: Vec<&Field> = [facts::KABKOTA, facts::KECAMATAN, facts::DESA]
            .into_iter()
            .filter_map(|n| form.field(n))
            .filter(|f| f.container == Container::Top)
            .collect();
        let top = answered(&mut form.fields.iter().filter(|f| f.container == Container::Top));
        let mut headers: Vec<String> = FAMILY_META.iter().map(|s| (*s).to_string()).collect();
        top.iter()
            .filter_map(|id| form.field_by_id(*id))
            .for_each(|f| field_headers(f, &mut headers));
        let mut tables = vec![Table {
            name: form.id.clone(),
            repeat: None,
            fields: top,
            headers,
        }];
        for rep in form
            .fields
            .iter()
            .filter(|f| f.kind == FieldKind::Repeat && f.container == Container::Top)
        {
            let fields = answered(&mut rep.children.iter().filter_map(|id| form.field_by_id(*id)));
            let mut headers = vec!["record_id".to_string(), "no_urut".to_string()];
            headers.extend(region.iter().map(|f| f.name.clone()));
            fields
                .iter()
                .filter_map(|id| form.field_by_id(*id))
                .for_each(|f| field_headers(f, &mut headers));
            tables.push(Table {
                name: rep.name.clone(),
                repeat: Some(rep.id),
                fields,
                headers,
            });
        }
        Layout {
            form,
            tables,
            region,
        }
    }

    /// The family's rows: (table index, cells).
    fn rows(&self, family: &Family, answers: &Answers) -> Vec<(usize, Vec<Cell>)> {
        let mut out = Vec::new();
        for (t, table) in self.tables.iter().enumerate() {
            match table.repeat {
                None => {
                    let mut row = Vec::with_capacity(table.headers.len());
                    row.extend([
                        Cell::Text(family.record.to_string()),
                        Cell::Text(family.state.as_str().into()),
                        Cell::Text(family.device.to_string()),
                        Cell::Num(f64::from(family.revision)),
                        Cell::Text(family.petugas.clone()),
                        Cell::Text(family.at.to_rfc3339()),
                        Cell::Num(family.form_version as f64),
                    ]);
                    self.field_cells(&table.fields, answers, &mut row);
                    out.push((t, row));
                }
                Some(rep) => {
                    let Some(rep) = self.form.field_by_id(rep) else {
                        continue;
                    };
                    let Some(Json::Array(items)) = answers.get(&rep.name) else {
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        let Some(item) = item.as_object() else {
                            continue;
                        };
                        let mut row = Vec::with_capacity(table.headers.len());
                        row.push(Cell::Text(family.record.to_string()));
                        row.push(Cell::Num((i + 1) as f64));
                        for f in &self.region {
                            row.push(match answers.get(&f.name) {
                                Some(Json::String(s)) => Cell::Text(s.clone()),
                                _ => Cell::Empty,
                            });
                        }
                        self.field_cells(&table.fields, item, &mut row);
                        out.push((t, row));
                    }
                }
            }
        }
        out
    }

    fn field_cells(&self, fields: &[FieldId], answers: &Answers, row: &mut Vec<Cell>) {
        for f in fields.iter().filter_map(|id| self.form.field_by_id(*id)) {
            let start = row.len();
            self.cells(f, answers.get(&f.name), row);
            row.resize(start + width(f), Cell::Empty);
        }
    }

    /// The cells of one answer (at most `width(f)`; the caller pads).
    fn cells(&self, f: &Field, answer: Option<&Json>, row: &mut Vec<Cell>) {
        let Some(answer) = answer else { return };
        let value = match parse_answer(f.kind, answer) {
            Ok(v) => v,
            Err(_) => return row.push(Cell::Text(answer.to_string())),
        };
        let label = |code: &str| {
            self.form
                .choices_of(f)
                .and_then(|l| l.get(code))
                .map(|c| c.label.id.clone())
                .unwrap_or_default()
        };
        match value {
            Value::Null => {}
            Value::Str(code) if f.kind == FieldKind::SelectOne => {
                let l = label(&code);
                row.extend([Cell::Text(code), Cell::Text(l)]);
            }
            Value::Multi(codes) => {
                let labels: Vec<String> = codes.iter().map(|c| label(c)).collect();
                row.extend([Cell::Text(codes.join(" ")), Cell::Text(labels.join("; "))]);
            }
            Value::Gps(g) => {
                row.extend([Cell::Num(g.lat), Cell::Num(g.lon)]);
                row.push(g.accuracy_m.map_or(Cell::Empty, Cell::Num));
            }
            Value::Num(n) => row.push(Cell::Num(n)),
            v => row.push(Cell::Text(v.to_text())),
        }
    }
}

/// A finished table: its name, data rows written (header not counted) and the writer given for it.
pub struct TableOut<W> {
    pub name: String,
    pub rows: u64,
    pub out: W,
}

struct CsvTable<W> {
    name: String,
    rows: u64,
    out: W,
}

/// Streaming CSV export: one file per table.
pub struct CsvExport<'f, W: Write> {
    layout: Layout<'f>,
    tables: Vec<CsvTable<W>>,
    line: String,
}

/// The tables a form exports to, in order: the family table (named after the form, `keluarga`), then one
/// per repeat group (`anggota`). CSV files and XLSX sheets take these names.
pub fn table_names(form: &Form) -> Vec<String> {
    Layout::new(form)
        .tables
        .into_iter()
        .map(|t| t.name)
        .collect()
}

impl<'f, W: Write> CsvExport<'f, W> {
    /// Opens one writer per table (`open` gets the table's name, see [`table_names`]) and writes the byte
    /// order mark and the header row to each.
    pub fn new(form: &'f Form, mut open: impl FnMut(&str) -> std::io::Result<W>) -> Result<Self> {
        let layout = Layout::new(form);
        let mut tables = Vec::with_capacity(layout.tables.len());
        let mut line = String::new();
        for t in &layout.tables {
            let io = |source| ExportError::Io {
                table: t.name.clone(),
                source,
            };
            let mut out = open(&t.name).map_err(io)?;
            line.clear();
            line.push('\u{feff}');
            let header: Vec<Cell> = t.headers.iter().map(|h| Cell::Text(h.clone())).collect();
            csv_line(&header, &mut line);
            out.write_all(line.as_bytes()).map_err(io)?;
            tables.push(CsvTable {
                name: t.name.clone(),
                rows: 0,
                out,
            });
        }
        Ok(CsvExport {
            layout,
            tables,
            line,
        })
    }

    /// Writes a family's row and the rows of its repeats.
    pub fn push(&mut self, family: &Family, answers: &Answers) -> Result<()> {
        for (t, row) in self.layout.rows(family, answers) {
            let Some(table) = self.tables.get_mut(t) else {
                continue;
            };
            self.line.clear();
            csv_line(&row, &mut self.line);
            table
                .out
                .write_all(self.line.as_bytes())
                .map_err(|source| ExportError::Io {
                    table: table.name.clone(),
                    source,
                })?;
            table.rows += 1;
        }
        Ok(())
    }

    /// Flushes every writer and hands them back (to sync the files, say).
    pub fn finish(self) -> Result<Vec<TableOut<W>>> {
        self.tables
            .into_iter()
            .map(|mut t| {
                t.out.flush().map_err(|source| ExportError::Io {
                    table: t.name.clone(),
                    source,
                })?;
                Ok(TableOut {
                    name: t.name,
                    rows: t.rows,
                    out: t.out,
                })
            })
            .collect()
    }
}

fn csv_line(cells: &[Cell], line: &mut String) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        match cell {
            Cell::Empty => {}
            Cell::Num(n) => line.push_str(&format_num(*n)),
            Cell::Text(s) => csv_field(s, line),
        }
    }
    line.push_str("\r\n");
}

/// One text field: guarded against formula injection, quoted when it holds `,`, `"`, CR or LF.
fn csv_field(s: &str, line: &mut String) {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.trim().parse::<f64>().is_err();
    let quote = s.contains([',', '"', '\r', '\n']);
    if quote {
        line.push('"');
    }
    if risky {
        line.push('\'');
    }
    if quote {
        line.push_str(&s.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(s);
    }
}

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
                    Cell::Empty => {}
                    Cell::Text(s) => {
                        sheet.write_string(*row, col, s).map_err(&err)?;
                    }
                    Cell::Num(n) => {
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
    use super::*;
    use crate::app::demo::{self, FamilySpec, Rng};
    use crate::form::catalog::Catalog;
    use crate::registry::family::FamilyState;
    use chrono::{DateTime, NaiveDate};
    use serde_json::json;
    use std::io::{Cursor, Read};

    fn form() -> &'static Form {
        Catalog::shared().unwrap().latest("keluarga").unwrap()
    }

    fn family(n: u128, form_version: u64) -> Family {
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

    fn demo_answers(seed: u64) -> Answers {
        let spec = FamilySpec {
            interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        };
        demo::family(form(), &mut Rng::new(seed), &spec)
    }

    /// A family of an older version with free text that needs quoting and guarding, and answers that do
    /// not fit their fields.
    fn tricky() -> Answers {
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

    /// RFC 4180, as a spreadsheet reads it.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') if field.is_empty() => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(
            field.is_empty() && row.is_empty(),
            "the file ends with CRLF"
        );
        rows
    }

    struct Sheet {
        rows: Vec<Vec<String>>,
    }

    impl Sheet {
        fn parse(bytes: &[u8]) -> Sheet {
            let text = std::str::from_utf8(bytes).unwrap();
            let text = text.strip_prefix('\u{feff}').expect("a byte order mark");
            Sheet {
                rows: parse_csv(text),
            }
        }

        fn get(&self, row: usize, column: &str) -> &str {
            let col = self.rows[0]
                .iter()
                .position(|h| h == column)
                .unwrap_or_else(|| panic!("no column {column}"));
            &self.rows[row][col]
        }
    }

    fn export_csv(families: &[(Family, Answers)]) -> (Sheet, Sheet) {
        let mut csv = CsvExport::new(form(), |_| Ok(Vec::new())).unwrap();
        for (f, a) in families {
            csv.push(f, a).unwrap();
        }
        let out = csv.finish().unwrap();
        let names: Vec<(&str, u64)> = out.iter().map(|t| (t.name.as_str(), t.rows)).collect();
        let members = families
            .iter()
            .map(|(_, a)| {
                a["anggota"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| m.is_object())
                    .count() as u64
            })
            .sum();
        assert_eq!(
            names,
            [("keluarga", families.len() as u64), ("anggota", members)]
        );
        (Sheet::parse(&out[0].out), Sheet::parse(&out[1].out))
    }

    #[test]
    fn csv_columns_values_and_labels() {
        let form = form();
        let answers = demo_answers(5);
        let (fam, mem) = export_csv(&[(family(1, form.version), answers.clone())]);
        let head = &fam.rows[0];
        assert_eq!(&head[..7], FAMILY_META);
        for absent in ["info_provinsi", "anggota", "nama", "umur"] {
            assert!(!head.iter().any(|h| h == absent), "{absent}");
        }
        assert!(fam.rows.iter().all(|r| r.len() == head.len()));
        assert!(mem.rows.iter().all(|r| r.len() == mem.rows[0].len()));
        assert_eq!(
            &mem.rows[0][..5],
            [
                "record_id",
                "no_urut",
                "wilayah_kabkota",
                "wilayah_kecamatan",
                "wilayah_desa"
            ]
        );

        assert_eq!(fam.get(1, "record_id"), Uuid::from_u128(1).to_string());
        assert_eq!(fam.get(1, "state"), "conflict");
        assert_eq!(fam.get(1, "revision"), "3");
        assert_eq!(fam.get(1, "time"), "2026-11-20T09:30:00+08:00");
        assert_eq!(fam.get(1, "form_version"), form.version.to_string());
        let label = |field: &str, code: &str| {
            let f = form.field(field).unwrap();
            form.choices_of(f)
                .unwrap()
                .get(code)
                .unwrap()
                .label
                .id
                .clone()
        };
        for field in [
            "jenis_lantai",
            "wilayah_kabkota",
            "wilayah_desa",
            "hasil_pendataan",
        ] {
            let code = answers[field].as_str().unwrap();
            assert_eq!(fam.get(1, field), code);
            assert_eq!(fam.get(1, &format!("{field}_label")), label(field, code));
        }
        assert!(
            fam.get(1, "wilayah_kabkota_label").starts_with("K"),
            "Kabupaten/Kota …"
        );
        assert_eq!(
            fam.get(1, "lokasi_lat"),
            answers["lokasi"]["lat"].as_f64().unwrap().to_string()
        );
        assert_eq!(fam.get(1, "no_kk"), answers["no_kk"].as_str().unwrap());

        let members = answers["anggota"].as_array().unwrap();
        assert_eq!(mem.rows.len(), members.len() + 1);
        for (i, m) in members.iter().enumerate() {
            assert_eq!(mem.get(i + 1, "record_id"), Uuid::from_u128(1).to_string());
            assert_eq!(mem.get(i + 1, "no_urut"), (i + 1).to_string());
            assert_eq!(
                mem.get(i + 1, "wilayah_desa"),
                answers["wilayah_desa"].as_str().unwrap()
            );
            assert_eq!(mem.get(i + 1, "nik"), m["nik"].as_str().unwrap());
            assert_eq!(
                mem.get(i + 1, "hubungan_label"),
                label("hubungan", m["hubungan"].as_str().unwrap())
            );
        }
    }

    #[test]
    fn csv_quotes_guards_and_keeps_an_older_version_s_gaps() {
        let (fam, mem) = export_csv(&[
            (family(1, form().version), demo_answers(9)),
            (family(2, 2025010101), tricky()),
        ]);
        assert_eq!(fam.get(2, "form_version"), "2025010101");
        assert_eq!(fam.get(2, "alamat"), "Jl. Mawar, No. \"5\"\nRT 1");
        assert_eq!(
            fam.get(2, "nama_kepala_keluarga"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(fam.get(2, "catatan"), "'@SUM(A1)");
        // Numbers are not formulas: left as they are.
        assert_eq!(fam.get(2, "rt"), "-1");
        assert_eq!(fam.get(2, "hp_responden"), "+62812");
        assert_eq!(fam.get(2, "jenis_lantai_label"), "Tanah");
        // Not a number: written as its raw JSON.
        assert_eq!(fam.get(2, "luas_lantai"), "\"besar\"");
        assert_eq!(fam.get(2, "lokasi_lon"), "117.25");
        assert_eq!(fam.get(2, "lokasi_accuracy"), "");
        // Fields this record does not have stay empty.
        for empty in [
            "no_kk",
            "hasil_pendataan",
            "hasil_pendataan_label",
            "wilayah_desa",
        ] {
            assert_eq!(fam.get(2, empty), "", "{empty}");
        }
        assert_eq!(fam.get(2, "wilayah_kecamatan_label"), "Batu Sopang");

        let rows: Vec<usize> = (1..mem.rows.len())
            .filter(|r| mem.get(*r, "record_id") == Uuid::from_u128(2).to_string())
            .collect();
        let [a, b] = rows[..] else {
            panic!("two members: {rows:?}")
        };
        assert_eq!(mem.get(a, "nama"), "Siti, Aminah");
        assert_eq!(mem.get(a, "jaminan_kesehatan"), "1 2");
        assert_eq!(
            mem.get(a, "jaminan_kesehatan_label"),
            "JKN/BPJS Kesehatan PBI (iuran dibayar pemerintah); JKN/BPJS Kesehatan mandiri"
        );
        assert_eq!(mem.get(a, "keberadaan_label"), "Tinggal bersama keluarga");
        assert_eq!(mem.get(a, "wilayah_kabkota"), "64.01");
        // The roster's third row keeps its number though the second is not a member.
        assert_eq!(mem.get(b, "no_urut"), "3");
        assert_eq!(mem.get(b, "nama"), "'-Budi");
        assert_eq!(mem.get(b, "jam_kerja"), "40");
    }

    #[test]
    fn csv_quoting_on_the_wire() {
        let mut line = String::new();
        csv_line(
            &[
                Cell::Text("a,b".into()),
                Cell::Text("say \"hi\"".into()),
                Cell::Empty,
                Cell::Num(-2.5),
                Cell::Text("=1+1".into()),
                Cell::Text("=x,y".into()),
                Cell::Text("-7".into()),
                Cell::Text("line\r\nnext".into()),
            ],
            &mut line,
        );
        assert_eq!(
            line,
            "\"a,b\",\"say \"\"hi\"\"\",,-2.5,'=1+1,\"'=x,y\",-7,\"line\r\nnext\"\r\n"
        );
    }

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
