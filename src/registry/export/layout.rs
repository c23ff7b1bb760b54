//! The columns of each table an export writes — the family table and one per repeat group — from the form,
//! and the typed cells of a family's rows.

use serde_json::Value as Json;

use super::super::facts;
use super::super::family::Family;
use crate::form::compile::Container;
use crate::form::value::{Value, parse_answer};
use crate::form::{Field, FieldId, FieldKind, Form};
use crate::model::record::Answers;

/// One cell of a row.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SheetCell {
    Empty,
    Text(String),
    Num(f64),
}

/// The columns of one table: the family table or one repeat group's.
pub(super) struct TableColumns {
    pub(super) name: String,
    repeat: Option<FieldId>,
    fields: Vec<FieldId>,
    pub(super) headers: Vec<String>,
}

/// Which columns each table has, from the form.
pub(super) struct Layout<'f> {
    form: &'f Form,
    pub(super) tables: Vec<TableColumns>,
    /// Region fields copied into every repeat row.
    region: Vec<&'f Field>,
}

pub(super) const FAMILY_META: [&str; 7] = [
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
    pub(super) fn new(form: &'f Form) -> Layout<'f> {
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
        let mut tables = vec![TableColumns {
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
            tables.push(TableColumns {
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
    pub(super) fn rows(&self, family: &Family, answers: &Answers) -> Vec<(usize, Vec<SheetCell>)> {
        let mut out = Vec::new();
        for (t, table) in self.tables.iter().enumerate() {
            match table.repeat {
                None => {
                    let mut row = Vec::with_capacity(table.headers.len());
                    row.extend([
                        SheetCell::Text(family.record.to_string()),
                        SheetCell::Text(family.state.as_str().into()),
                        SheetCell::Text(family.device.to_string()),
                        SheetCell::Num(f64::from(family.revision)),
                        SheetCell::Text(family.petugas.clone()),
                        SheetCell::Text(family.at.to_rfc3339()),
                        SheetCell::Num(family.form_version as f64),
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
                        row.push(SheetCell::Text(family.record.to_string()));
                        row.push(SheetCell::Num((i + 1) as f64));
                        for f in &self.region {
                            row.push(match answers.get(&f.name) {
                                Some(Json::String(s)) => SheetCell::Text(s.clone()),
                                _ => SheetCell::Empty,
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

    fn field_cells(&self, fields: &[FieldId], answers: &Answers, row: &mut Vec<SheetCell>) {
        for f in fields.iter().filter_map(|id| self.form.field_by_id(*id)) {
            let start = row.len();
            self.cells(f, answers.get(&f.name), row);
            row.resize(start + width(f), SheetCell::Empty);
        }
    }

    /// The cells of one answer (at most `width(f)`; the caller pads).
    fn cells(&self, f: &Field, answer: Option<&Json>, row: &mut Vec<SheetCell>) {
        let Some(answer) = answer else { return };
        let value = match parse_answer(f.kind, answer) {
            Ok(v) => v,
            Err(_) => return row.push(SheetCell::Text(answer.to_string())),
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
                row.extend([SheetCell::Text(code), SheetCell::Text(l)]);
            }
            Value::Multi(codes) => {
                let labels: Vec<String> = codes.iter().map(|c| label(c)).collect();
                row.extend([
                    SheetCell::Text(codes.join(" ")),
                    SheetCell::Text(labels.join("; ")),
                ]);
            }
            Value::Gps(g) => {
                row.extend([SheetCell::Num(g.lat), SheetCell::Num(g.lon)]);
                row.push(g.accuracy_m.map_or(SheetCell::Empty, SheetCell::Num));
            }
            Value::Num(n) => row.push(SheetCell::Num(n)),
            v => row.push(SheetCell::Text(v.to_text())),
        }
    }
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
