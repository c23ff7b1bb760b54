//! `registry prelist import`: families from outside this registry (another registry's `registry export`,
//! last year's list) in the CSV layout `registry export` writes — `FILE` for the families and
//! `FILE-anggota.csv` beside it for the members — become registry families, so that work packages can
//! list them. Every row is read and validated first; one bad row (named by row, column and why) and
//! nothing is imported. The families' revisions are the registry's own: a device entry "prelist" that
//! signs nothing and is never sent a receipt.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::entries::{DeviceEntry, DeviceState};
use super::merge::Merge;
use super::storage::{Final, Pack, Storage, Tables, Transaction};
use super::{Registry, RegistryError, Result};
use crate::bundle::manifest::SeqRange;
use crate::form::compile::Container;
use crate::form::{Field, FieldKind, Form};
use crate::model::household as hh;
use crate::model::record::{Action, Answers, Revision, Status};

/// What an import of a prelist did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PrelistImported {
    pub families: u64,
    pub members: u64,
    pub device: Uuid,
}

/// One table of a CSV file: its header and rows (row numbers from 2: the header is row 1).
struct Sheet {
    header: HashMap<String, usize>,
    rows: Vec<(usize, Vec<String>)>,
}

impl Sheet {
    fn read(path: &Path) -> Result<Sheet> {
        let text = std::fs::read_to_string(path).map_err(super::io(path))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut rows = parse_csv(text).into_iter();
        let header = rows
            .next()
            .ok_or_else(|| RegistryError::Invalid(format!("{} is empty", path.display())))?
            .into_iter()
            .enumerate()
            .map(|(i, h)| (h, i))
            .collect();
        Ok(Sheet {
            header,
            rows: rows
                .enumerate()
                .filter(|(_, r)| !(r.len() == 1 && r.first().is_some_and(String::is_empty)))
                .map(|(i, r)| (i + 2, r))
                .collect(),
        })
    }

    fn cell<'a>(&self, row: &'a [String], column: &str) -> Option<&'a str> {
        let i = *self.header.get(column)?;
        row.get(i).map(|s| unguard(s)).filter(|s| !s.is_empty())
    }
}

/// RFC 4180: quoted fields with `""`, CRLF or LF line ends.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The export guards text a spreadsheet would run as a formula with a leading `'`: taken off here.
fn unguard(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => s,
    }
}

/// One field's answer from its columns, or why not.
fn answer(sheet: &Sheet, row: &[String], f: &Field) -> std::result::Result<Option<Json>, String> {
    let n = &f.name;
    Ok(match f.kind {
        FieldKind::Gps => {
            let num = |c: &str| sheet.cell(row, &format!("{n}_{c}")).map(str::parse::<f64>);
            match (num("lat"), num("lon")) {
                (Some(Ok(lat)), Some(Ok(lon))) => {
                    let mut o = Map::new();
                    o.insert("lat".into(), Json::from(lat));
                    o.insert("lon".into(), Json::from(lon));
                    if let Some(Ok(a)) = num("accuracy") {
                        o.insert("accuracy_m".into(), Json::from(a));
                    }
                    Some(Json::Object(o))
                }
                (None, None) => None,
                _ => return Err("latitude and longitude must both be numbers".into()),
            }
        }
        kind => match sheet.cell(row, n) {
            None => None,
            Some(text) => Some(match kind {
                FieldKind::SelectMultiple => Json::Array(
                    text.split_whitespace()
                        .map(|c| Json::String(c.into()))
                        .collect(),
                ),
                FieldKind::Integer | FieldKind::Decimal => {
                    let v: f64 = text
                        .parse()
                        .map_err(|_| format!("`{text}` is not a number"))?;
                    crate::form::value::Value::Num(v).to_json()
                }
                _ => Json::String(text.to_string()),
            }),
        },
    })
}

/// The prelist pseudo-device of a registry: an id that follows from its signing key.
fn prelist_device(signing_key: &str) -> Uuid {
    let h = Sha256::digest(format!("pendata-prelist:{signing_key}"));
    let mut b = [0u8; 16];
    b.copy_from_slice(h.get(..16).unwrap_or(&[0; 16]));
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// The members' file beside `file`: `keluarga.csv` → `keluarga-anggota.csv`.
fn members_file(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!("{stem}-{}.csv", hh::MEMBERS))
}

impl<S: Storage> Registry<S> {
    /// Imports the families of an exported CSV (and its members' file): all or nothing.
    pub fn import_prelist(
        &self,
        file: &Path,
        now: DateTime<FixedOffset>,
    ) -> Result<PrelistImported> {
        self.check_allowed(super::Role::Operator)?;
        let families = Sheet::read(file)?;
        let members_path = members_file(file);
        let members = if members_path.exists() {
            Some(Sheet::read(&members_path)?)
        } else {
            None
        };
        let parsed = self.parse_prelist(file, &families, members.as_ref(), &members_path)?;
        self.store_prelist(parsed, now)
    }

    /// Every row as a family's answers (form version, record id); the first problems, by row and
    /// column, refuse the whole file.
    fn parse_prelist(
        &self,
        file: &Path,
        families: &Sheet,
        members: Option<&Sheet>,
        members_path: &Path,
    ) -> Result<Vec<Parsed>> {
        let mut problems = Vec::new();
        let mut by_record = members.map(members_by_record).unwrap_or_default();
        let mut out = Vec::new();
        for (n, row) in &families.rows {
            let at = |col: &str, why: String| {
                format!("{}: row {n}, column {col}: {why}", file.display())
            };
            let version = families
                .cell(row, "form_version")
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v as u64);
            let form = match version {
                Some(v) => self.catalog.version(hh::FORM_ID, v),
                None => self.catalog.latest(hh::FORM_ID),
            };
            let Some(form) = form else {
                problems.push(at(
                    "form_version",
                    "not a form version this program has".into(),
                ));
                continue;
            };
            let id = match families.cell(row, "record_id") {
                Some(t) => match Uuid::parse_str(t) {
                    Ok(id) => id,
                    Err(_) => {
                        problems.push(at("record_id", format!("`{t}` is not a family id")));
                        continue;
                    }
                },
                None => Uuid::now_v7(),
            };
            if self.db.family(id)?.is_some() {
                problems.push(at(
                    "record_id",
                    format!("family {id} is already in this registry"),
                ));
                continue;
            }
            let mut answers = Answers::new();
            for f in form.fields.iter().filter(|f| f.container == Container::Top) {
                if !f.kind.is_answered() {
                    continue;
                }
                match answer(families, row, f) {
                    Ok(Some(v)) => {
                        answers.insert(f.name.clone(), v);
                    }
                    Ok(None) => {}
                    Err(why) => problems.push(at(&f.name, why)),
                }
            }
            if let (Some(m), Some(roster)) = (members, form.field(hh::MEMBERS)) {
                let rows = by_record.remove(&id.to_string()).unwrap_or_default();
                let list = roster_of(form, roster, m, rows, members_path, &mut problems);
                if !list.is_empty() {
                    answers.insert(hh::MEMBERS.into(), Json::Array(list));
                }
            }
            // Errors refuse the file; warnings are the list's own business, acknowledged as it comes.
            let ev = crate::form::evaluate(form, &answers, chrono::Local::now().date_naive());
            for i in ev.errors() {
                let col = if i.path.is_empty() { "-" } else { &i.path };
                problems.push(at(
                    col,
                    format!("{} / {} [{}]", i.message.id, i.message.en, i.code),
                ));
            }
            let acknowledged = ev
                .warnings()
                .map(|w| format!("{} {}", w.path, w.code))
                .collect();
            out.push(Parsed {
                id,
                form,
                answers,
                acknowledged,
            });
        }
        if !problems.is_empty() {
            let more = problems.len().saturating_sub(20);
            problems.truncate(20);
            return Err(RegistryError::Invalid(format!(
                "nothing was imported; fix these rows and import again:\n{}{}",
                problems.join("\n"),
                if more > 0 {
                    format!("\n… and {more} more")
                } else {
                    String::new()
                }
            )));
        }
        Ok(out)
    }

    /// Stores the families in one transaction, as revisions of the prelist device.
    fn store_prelist(
        &self,
        families: Vec<Parsed>,
        now: DateTime<FixedOffset>,
    ) -> Result<PrelistImported> {
        let device = prelist_device(&self.keys.public.signing_key);
        let mut packer = self
            .db
            .packer()
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let txn = self.db.begin()?;
        let mut members = 0;
        let count = families.len() as u64;
        {
            let mut t = txn.tables()?;
            if t.device(device)?.is_none() {
                t.put_device(&DeviceEntry {
                    id: device,
                    name: "Prelist (impor daftar / imported lists)".into(),
                    public_key: self.keys.public.signing_key.clone(),
                    state: DeviceState::Approved,
                    first_seen: now,
                    changed_at: now,
                    age_recipient: None,
                    wilayah: None,
                })?;
            }
            let mut seq = self.db.coverage(device)?.last().map_or(0, |r| r.to);
            let mut records = Vec::new();
            for p in families {
                let id = p.id;
                let answers = p.answers;
                seq += 1;
                members += answers
                    .get(hh::MEMBERS)
                    .and_then(Json::as_array)
                    .map_or(0, Vec::len) as u64;
                let rev = Revision {
                    record: id,
                    number: 1,
                    seq,
                    action: Action::Finalized,
                    status: Status::Final,
                    form_id: p.form.id.clone(),
                    form_version: p.form.version,
                    answers,
                    petugas: "prelist".into(),
                    device,
                    at: now,
                    reason: None,
                    acknowledged: p.acknowledged,
                    base: None,
                };
                let line = serde_json::to_vec(&rev)
                    .map_err(|e| RegistryError::Invalid(format!("cannot write a revision: {e}")))?;
                let packed = packer
                    .pack(&line)
                    .map_err(|e| RegistryError::Invalid(e.to_string()))?;
                t.add_revision(device.as_u128(), seq, &packed)?;
                t.put_final(
                    id.as_u128(),
                    &Final {
                        device: device.as_u128(),
                        number: 1,
                        seq,
                        at_ms: now.timestamp_millis(),
                        candidate: true,
                    },
                )?;
                t.add_coverage(device.as_u128(), SeqRange { from: seq, to: seq })?;
                records.push(id.as_u128());
            }
            let mut merge = Merge::new(&mut t, self.catalog, now, HashMap::new());
            for r in records {
                merge.recompute(r)?;
            }
            let actor = self.authorize(merge.tables(), super::Role::Operator)?;
            let objects = vec![format!("device:{device}")];
            let detail = Some(format!("{count} families, {members} members"));
            self.audit_in(
                merge.tables(),
                &actor,
                now,
                "prelist.import",
                objects,
                detail,
            )?;
        }
        txn.commit()?;
        Ok(PrelistImported {
            families: count,
            members,
            device,
        })
    }
}

/// A member's row: its order (`no_urut`), its cells, its row number.
type MemberRow<'a> = (u64, &'a [String], usize);

/// The members' rows per family id, in their order.
fn members_by_record(m: &Sheet) -> BTreeMap<String, Vec<MemberRow<'_>>> {
    let mut out: BTreeMap<String, Vec<MemberRow<'_>>> = BTreeMap::new();
    for (n, row) in &m.rows {
        let id = m.cell(row, "record_id").unwrap_or_default().to_string();
        let order = m
            .cell(row, "no_urut")
            .and_then(|s| s.parse::<f64>().ok())
            .map_or(0, |v| v as u64);
        out.entry(id).or_default().push((order, row, *n));
    }
    for rows in out.values_mut() {
        rows.sort_by_key(|r| r.0);
    }
    out
}

/// A family's roster from its members' rows; problems named by row and column.
fn roster_of(
    form: &Form,
    roster: &Field,
    m: &Sheet,
    rows: Vec<MemberRow<'_>>,
    path: &Path,
    problems: &mut Vec<String>,
) -> Vec<Json> {
    let mut list = Vec::new();
    for (_, row, n) in rows {
        let mut member = Answers::new();
        for f in roster.children.iter().filter_map(|c| form.field_by_id(*c)) {
            if !f.kind.is_answered() {
                continue;
            }
            match answer(m, row, f) {
                Ok(Some(v)) => {
                    member.insert(f.name.clone(), v);
                }
                Ok(None) => {}
                Err(why) => problems.push(format!(
                    "{}: row {n}, column {}: {why}",
                    path.display(),
                    f.name
                )),
            }
        }
        list.push(Json::Object(member));
    }
    list
}

/// A row read and checked: the family's id, its form version, its answers and the warnings it came with.
struct Parsed {
    id: Uuid,
    form: &'static Form,
    answers: Answers,
    acknowledged: Vec<String>,
}
