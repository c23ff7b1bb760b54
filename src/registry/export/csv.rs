//! CSV: one file per table, RFC 4180 (quoted where needed, CRLF), UTF-8 with a byte order mark, a header
//! row, and text that a spreadsheet would run as a formula guarded with a leading `'`.

use std::io::Write;

use super::super::family::Family;
use super::layout::{Layout, SheetCell};
use super::{ExportError, Result};
use crate::form::Form;
use crate::form::value::format_num;
use crate::model::record::Answers;

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
            let header: Vec<SheetCell> = t
                .headers
                .iter()
                .map(|h| SheetCell::Text(h.clone()))
                .collect();
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

fn csv_line(cells: &[SheetCell], line: &mut String) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        match cell {
            SheetCell::Empty => {}
            SheetCell::Num(n) => line.push_str(&format_num(*n)),
            SheetCell::Text(s) => csv_field(s, line),
        }
    }
    line.push_str("\r\n");
}

/// One text field: control characters and direction overrides replaced (`model::printable`), guarded
/// against formula injection, quoted when it holds `,`, `"`, CR or LF.
fn csv_field(s: &str, line: &mut String) {
    let s = &*crate::model::printable::clean_text(s);
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{demo_answers, family, form, tricky};
    use super::super::layout::FAMILY_META;
    use super::*;
    use uuid::Uuid;

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
                SheetCell::Text("a,b".into()),
                SheetCell::Text("say \"hi\"".into()),
                SheetCell::Empty,
                SheetCell::Num(-2.5),
                SheetCell::Text("=1+1".into()),
                SheetCell::Text("=x,y".into()),
                SheetCell::Text("-7".into()),
                SheetCell::Text("line\r\nnext".into()),
            ],
            &mut line,
        );
        assert_eq!(
            line,
            "\"a,b\",\"say \"\"hi\"\"\",,-2.5,'=1+1,\"'=x,y\",-7,\"line\r\nnext\"\r\n"
        );
    }

    #[test]
    fn control_characters_and_direction_overrides_never_reach_a_cell() {
        let mut line = String::new();
        csv_field("Siti\u{1b}[2J\u{0}\u{202e}nimdA\nRT 1", &mut line);
        assert_eq!(line, "\"Siti\u{fffd}[2J\u{fffd}\u{fffd}nimdA\nRT 1\"");
    }
}
