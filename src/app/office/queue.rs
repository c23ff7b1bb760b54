//! The office's work queue: quarantine, conflicts and update conflicts in one list, and their decisions.
//! Plain data in and out; the screen (`ui::office::queue`) shows it. Conflicts the registry keeps per
//! shared number (a KK and each of its NIKs) are one item per pair of families, so one decision settles
//! the pair. Every decision carries the operator's reason into the audit trail (`Registry::session`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::Office;
use crate::form::{FieldKind, Form};
use crate::model::Localized;
use crate::model::household as hh;
use crate::model::printable::clean;
use crate::model::record::Answers;
use crate::registry::queue::{ConflictView, Filter, MemberView, QuarantineView};
use crate::registry::storage::Storage;
use crate::registry::{ConflictKind, Registry, RegistryError};

/// What kind of work an item is (the filter's kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A revision that failed validation, waiting to be released or rejected.
    Quarantine,
    /// Two families share a NIK or KK number, or one family was revised on two devices.
    Conflict,
    /// A visit of a family that changed at the registry since its work package was written.
    Update,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Quarantine, Kind::Conflict, Kind::Update];
}

/// What one conflict item is about, in more detail than its [`Kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum About {
    /// Quarantined: why is in the item's reasons.
    Invalid,
    TwoDevices,
    /// Shared numbers: how many NIKs, and whether the KK number too.
    Shared {
        niks: usize,
        kk: bool,
    },
    Update,
}

/// Which registry entries an item stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemKey {
    Quarantine {
        device: Uuid,
        seq: u64,
    },
    /// The open conflicts of one pair of families (or of one family's revisions).
    Conflicts(Vec<u64>),
}

/// One revision taking part in an item: a side of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub record: Uuid,
    pub device: Uuid,
    pub seq: u64,
    pub revision: u32,
    /// The head of the family's name in that revision.
    pub name: Option<String>,
    pub kabupaten: Option<String>,
    pub kabupaten_name: Option<String>,
    pub desa: Option<String>,
    pub desa_name: Option<String>,
}

impl Side {
    fn of(v: &MemberView) -> Side {
        Side {
            record: v.member.record,
            device: v.member.device,
            seq: v.member.seq,
            revision: v.member.revision,
            name: v.name.clone(),
            kabupaten: v.kabupaten.clone(),
            kabupaten_name: v.kabupaten_name.clone(),
            desa: v.desa.clone(),
            desa_name: v.desa_name.clone(),
        }
    }

    /// The desa as a person reads it: its name, or its code.
    pub fn desa_text(&self) -> String {
        self.desa_name
            .clone()
            .or_else(|| self.desa.clone())
            .unwrap_or_else(|| "—".into())
    }
}

/// One line of the work queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: ItemKey,
    pub kind: Kind,
    pub about: About,
    /// The revisions to compare, one per family (or per version of one family); a quarantined
    /// revision first, then the family's version in the registry now if it has one.
    pub sides: Vec<Side>,
    /// Why a quarantined revision is held.
    pub reasons: Vec<Localized>,
    pub detected_at: DateTime<FixedOffset>,
}

impl Item {
    /// The families' names, joined.
    pub fn names(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for s in &self.sides {
            let n = s.name.as_deref().unwrap_or("—");
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names.join(" · ")
    }

    /// Whether its families' regions pass (a region filter holds when one of the sides is there).
    fn in_region(&self, f: &Filter) -> bool {
        self.sides.iter().any(|s| {
            f.matches_member(&MemberView {
                member: crate::registry::Member {
                    record: s.record,
                    device: s.device,
                    revision: s.revision,
                    seq: s.seq,
                },
                name: None,
                kabupaten: s.kabupaten.clone(),
                kabupaten_name: None,
                desa: s.desa.clone(),
                desa_name: None,
            })
        }) || (f.kabupaten.is_none() && f.desa.is_none())
    }
}

/// Which items the screen shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// Region codes, with or without dots.
    pub kabupaten: Option<String>,
    pub desa: Option<String>,
    pub kind: Option<Kind>,
}

impl QueueFilter {
    fn regions(&self) -> Filter {
        Filter {
            kabupaten: self.kabupaten.clone(),
            desa: self.desa.clone(),
            kind: None,
        }
    }

    pub fn matches(&self, item: &Item) -> bool {
        self.kind.is_none_or(|k| k == item.kind) && item.in_region(&self.regions())
    }
}

/// The open work: every item, and the kabupaten and desa they are in (for the filter's choices).
#[derive(Debug, Clone, Default)]
pub struct Queue {
    pub items: Vec<Item>,
    /// (code, name) of every kabupaten/kota and desa an item is in, by code.
    pub kabupaten: Vec<(String, String)>,
    pub desa: Vec<(String, String)>,
}

/// The registry's error in both languages (the English is what the CLI says).
pub fn registry_text(e: &RegistryError) -> Localized {
    let en = e.to_string();
    let id = match e {
        RegistryError::Operator(m) | RegistryError::Invalid(m) => m.clone(),
        _ => format!("registri tidak dapat dibaca atau ditulis: {en}"),
    };
    Localized::new(id, en)
}

/// Every open item of the work queue: quarantine first, then conflicts by pair, oldest first.
pub fn load(office: &Office) -> Result<Queue, Localized> {
    let reg = office.read();
    let all = Filter::default();
    let quarantined = reg
        .quarantine_views(false, &all)
        .map_err(|e| registry_text(&e))?;
    let conflicts = reg
        .conflict_views(false, &all)
        .map_err(|e| registry_text(&e))?;
    drop(reg);
    let mut items: Vec<Item> = quarantined.iter().map(quarantine_item).collect();
    items.extend(conflict_items(conflicts));
    let mut kabupaten = BTreeMap::new();
    let mut desa = BTreeMap::new();
    for s in items.iter().flat_map(|i| &i.sides) {
        if let Some(k) = &s.kabupaten {
            kabupaten.insert(k.clone(), s.kabupaten_name.clone().unwrap_or_default());
        }
        if let Some(d) = &s.desa {
            desa.insert(d.clone(), s.desa_name.clone().unwrap_or_default());
        }
    }
    Ok(Queue {
        items,
        kabupaten: kabupaten.into_iter().collect(),
        desa: desa.into_iter().collect(),
    })
}

fn quarantine_item(v: &QuarantineView) -> Item {
    Item {
        key: ItemKey::Quarantine {
            device: v.entry.device,
            seq: v.entry.seq,
        },
        kind: Kind::Quarantine,
        about: About::Invalid,
        sides: std::iter::once(Side::of(&v.family))
            .chain(v.current.as_ref().map(Side::of))
            .collect(),
        reasons: v.entry.reasons.iter().map(|r| r.localized()).collect(),
        detected_at: v.entry.held_at,
    }
}

/// Conflicts of different families sharing numbers become one item per set of families; a family
/// revised twice (on two devices, or a stale visit) is an item of its own.
fn conflict_items(views: Vec<ConflictView>) -> Vec<Item> {
    let mut pairs: BTreeMap<BTreeSet<Uuid>, Vec<ConflictView>> = BTreeMap::new();
    let mut out = Vec::new();
    for v in views {
        let kind = v.conflict.kind;
        if kind.is_one_family() {
            out.push(Item {
                key: ItemKey::Conflicts(vec![v.conflict.id]),
                kind: if kind == ConflictKind::Update {
                    Kind::Update
                } else {
                    Kind::Conflict
                },
                about: if kind == ConflictKind::Update {
                    About::Update
                } else {
                    About::TwoDevices
                },
                sides: v.families.iter().map(Side::of).collect(),
                reasons: Vec::new(),
                detected_at: v.conflict.detected_at,
            });
        } else {
            let records = v.conflict.members.iter().map(|m| m.record).collect();
            pairs.entry(records).or_default().push(v);
        }
    }
    for group in pairs.into_values() {
        let mut sides: Vec<Side> = Vec::new();
        for m in group.iter().flat_map(|v| &v.families) {
            if !sides.iter().any(|s| s.record == m.member.record) {
                sides.push(Side::of(m));
            }
        }
        let niks = group
            .iter()
            .filter(|v| v.conflict.kind == ConflictKind::SharedNik)
            .count();
        let kk = group
            .iter()
            .any(|v| v.conflict.kind == ConflictKind::SharedKk);
        let detected_at = group
            .iter()
            .map(|v| v.conflict.detected_at)
            .min()
            .unwrap_or_default();
        out.push(Item {
            key: ItemKey::Conflicts(group.iter().map(|v| v.conflict.id).collect()),
            kind: Kind::Conflict,
            about: About::Shared { niks, kk },
            sides,
            reasons: Vec::new(),
            detected_at,
        });
    }
    out
}

/// One answer compared across the sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The question's label from the form (with the member's number for a roster answer).
    pub label: Localized,
    /// The answer in each side, as a person reads it (a choice's label, not its code).
    pub values: Vec<String>,
    /// Whether the sides disagree.
    pub differs: bool,
}

/// Who made one side's revision, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    pub device_name: String,
    pub petugas: String,
    pub at: DateTime<FixedOffset>,
}

/// The sides of an item side by side.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comparison {
    /// One per side (`None`: its revision was not kept, as a line too long).
    pub made: Vec<Option<Made>>,
    pub rows: Vec<Row>,
}

/// The item's revisions side by side, every answer of the form in order.
pub fn compare(office: &Office, item: &Item) -> Result<Comparison, Localized> {
    let reg = office.read();
    let devices: HashMap<Uuid, String> = reg
        .devices()
        .map_err(|e| registry_text(&e))?
        .into_iter()
        .map(|d| (d.id, clean(&d.name).into_owned()))
        .collect();
    let mut made = Vec::new();
    let mut answers = Vec::new();
    let mut form = None;
    for s in &item.sides {
        let rev = reg
            .db
            .stored_revision(s.device, s.seq)
            .map_err(|e| registry_text(&e))?;
        made.push(rev.as_ref().map(|r| Made {
            device_name: devices.get(&r.device).cloned().unwrap_or_default(),
            petugas: clean(&r.petugas).into_owned(),
            at: r.at,
        }));
        if let Some(r) = &rev {
            form = form.or_else(|| reg.catalog.version(&r.form_id, r.form_version));
        }
        answers.push(rev.map(|r| r.answers).unwrap_or_default());
    }
    let form = form.or_else(|| reg.catalog.latest(hh::FORM_ID));
    let rows = form.map(|f| answer_rows(f, &answers)).unwrap_or_default();
    Ok(Comparison { made, rows })
}

/// Every answer of `form` in the form's order, one value per answers given: top-level answers, then
/// each roster member's. Notes and photos are left out.
pub fn answer_rows(form: &Form, answers: &[Answers]) -> Vec<Row> {
    let mut rows = Vec::new();
    for field in &form.fields {
        if !matches!(field.container, crate::form::compile::Container::Top) {
            continue;
        }
        if field.kind == FieldKind::Repeat {
            let count = answers
                .iter()
                .map(|a| {
                    a.get(&field.name)
                        .and_then(|v| v.as_array())
                        .map_or(0, Vec::len)
                })
                .max()
                .unwrap_or(0);
            for i in 0..count {
                for child in field.children.iter().filter_map(|c| form.field_by_id(*c)) {
                    let values = answers.iter().map(|a| {
                        a.get(&field.name)
                            .and_then(|v| v.get(i))
                            .and_then(|m| m.get(&child.name))
                    });
                    if let Some(row) = row(form, child, values, Some(i)) {
                        rows.push(row);
                    }
                }
            }
        } else {
            let values = answers.iter().map(|a| a.get(&field.name));
            if let Some(row) = row(form, field, values, None) {
                rows.push(row);
            }
        }
    }
    rows
}

fn row<'a>(
    form: &Form,
    field: &crate::form::Field,
    values: impl Iterator<Item = Option<&'a serde_json::Value>>,
    member: Option<usize>,
) -> Option<Row> {
    if matches!(field.kind, FieldKind::Note | FieldKind::Photo) {
        return None;
    }
    let raw: Vec<Option<&serde_json::Value>> = values.collect();
    if raw.iter().all(Option::is_none) {
        return None;
    }
    let differs = raw.windows(2).any(|w| w.first() != w.get(1));
    let values = raw.iter().map(|v| shown(form, field, *v)).collect();
    let label = match member {
        None => field.label.clone(),
        Some(i) => Localized::new(
            format!("Anggota {} · {}", i + 1, field.label.id),
            format!("Member {} · {}", i + 1, field.label.en),
        ),
    };
    Some(Row {
        label,
        values,
        differs,
    })
}

/// An answer as a person reads it: a choice's label with its code, several joined, numbers as such.
fn shown(form: &Form, field: &crate::form::Field, v: Option<&serde_json::Value>) -> String {
    use serde_json::Value as J;
    let choice = |code: &str| {
        form.choices_of(field)
            .and_then(|l| l.get(code))
            .map_or_else(|| code.to_string(), |c| format!("{} ({code})", c.label.id))
    };
    let text = match v {
        None | Some(J::Null) => return "—".into(),
        Some(J::String(s)) if field.choices.is_some() => choice(s),
        Some(J::String(s)) => s.clone(),
        Some(J::Array(a)) => a
            .iter()
            .map(|x| match x {
                J::String(s) => choice(s),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(J::Number(n)) if field.choices.is_some() => choice(&n.to_string()),
        // A location as the tablet records it: latitude, longitude and its accuracy.
        Some(J::Object(o)) if o.contains_key("lat") && o.contains_key("lon") => {
            let num = |k: &str| o.get(k).and_then(J::as_f64);
            let mut t = format!(
                "{:.5}, {:.5}",
                num("lat").unwrap_or_default(),
                num("lon").unwrap_or_default()
            );
            if let Some(a) = num("accuracy_m") {
                t.push_str(&format!(" (± {a:.0} m)"));
            }
            t
        }
        Some(other) => other.to_string(),
    };
    clean(&text).into_owned()
}

/// How to decide one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Quarantine: let the revision in despite its reasons.
    Release,
    /// Quarantine: confirm the rejection (the tablet corrects the family).
    Reject,
    /// Conflict: keep side N (from 0); the others are overruled.
    Keep(usize),
    /// Shared numbers: one family — side N (from 0) stays, the other becomes its update.
    Same(usize),
    /// Shared numbers: different families.
    Distinct,
}

impl Choice {
    /// Whether the choice is one for this item.
    pub fn fits(self, item: &Item) -> bool {
        match self {
            Choice::Release | Choice::Reject => item.kind == Kind::Quarantine,
            Choice::Keep(n) => item.kind != Kind::Quarantine && n < item.sides.len(),
            Choice::Same(n) => matches!(item.about, About::Shared { .. }) && n < item.sides.len(),
            Choice::Distinct => matches!(item.about, About::Shared { .. }),
        }
    }
}

/// The reason as recorded: trimmed, and required.
fn reason_of(reason: &str) -> Result<String, Localized> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(Localized::new(
            "tulis alasan keputusan dulu",
            "write the reason for the decision first",
        ));
    }
    Ok(r.to_string())
}

/// Decides one item with the operator's reason (recorded in the audit trail with who decided). A
/// pair's conflicts are decided together; one that an earlier one of them settled is left as it is.
pub fn decide(
    office: &Office,
    item: &Item,
    choice: Choice,
    reason: &str,
    now: DateTime<FixedOffset>,
) -> Result<(), Localized> {
    let reason = reason_of(reason)?;
    if !choice.fits(item) {
        return Err(Localized::new(
            "keputusan ini tidak cocok untuk butir ini",
            "this decision does not fit this item",
        ));
    }
    let mut reg = office.write();
    reg.session.reason = Some(reason);
    let done = decide_in(&reg, item, choice, now);
    reg.session.reason = None;
    done.map_err(|e| registry_text(&e))
}

fn decide_in(
    reg: &Registry,
    item: &Item,
    choice: Choice,
    now: DateTime<FixedOffset>,
) -> crate::registry::Result<()> {
    match (&item.key, choice) {
        (ItemKey::Quarantine { device, seq }, Choice::Release | Choice::Reject) => {
            let key = format!("{device}:{seq}");
            reg.decide_quarantine(&key, choice == Choice::Release, now)
                .map(drop)
        }
        (ItemKey::Conflicts(ids), _) => {
            let mut decided = 0;
            for id in ids {
                let Some(c) = reg.db.conflict(*id)?.filter(|c| c.is_open()) else {
                    continue; // settled by the pair's decision just made
                };
                let pick = |n: usize| -> Option<usize> {
                    let side = item.sides.get(n)?;
                    c.members
                        .iter()
                        .position(|m| {
                            if c.kind.is_one_family() {
                                m.device == side.device && m.seq == side.seq
                            } else {
                                m.record == side.record
                            }
                        })
                        .map(|p| p + 1)
                };
                match choice {
                    Choice::Keep(n) => reg.keep(*id, pick(n).unwrap_or(0), now).map(drop)?,
                    Choice::Same(n) => reg.same(*id, pick(n).unwrap_or(0), now).map(drop)?,
                    Choice::Distinct => reg.distinct(*id, now).map(drop)?,
                    Choice::Release | Choice::Reject => {}
                }
                decided += 1;
            }
            if decided == 0 {
                return Err(RegistryError::Invalid(
                    "sudah diputuskan sebelumnya / already decided".into(),
                ));
            }
            Ok(())
        }
        _ => Err(RegistryError::Invalid(
            "keputusan ini tidak cocok untuk butir ini / this decision does not fit this item"
                .into(),
        )),
    }
}

/// What a decision for many items did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkDone {
    pub decided: usize,
    /// Items left open, with why.
    pub skipped: Vec<Localized>,
}

/// Decides every item of `items` (the filtered set the screen shows) the same way, with one reason;
/// each item is decided and audited as if alone. Items the choice does not fit are left open and
/// counted as skipped; `progress` hears how many are done. A failure to sign in or of the store stops
/// the run (what was decided stays decided).
pub fn decide_many(
    office: &Office,
    items: &[Item],
    choice: Choice,
    reason: &str,
    now: DateTime<FixedOffset>,
    mut progress: impl FnMut(usize),
) -> Result<BulkDone, Localized> {
    let reason = reason_of(reason)?;
    let mut done = BulkDone::default();
    for (i, item) in items.iter().enumerate() {
        if !choice.fits(item) {
            done.skipped.push(Localized::new(
                format!("{}: keputusan ini tidak cocok", item.names()),
                format!("{}: this decision does not fit", item.names()),
            ));
            continue;
        }
        let mut reg = office.write();
        reg.session.reason = Some(reason.clone());
        let r = decide_in(&reg, item, choice, now);
        reg.session.reason = None;
        drop(reg);
        match r {
            Ok(()) => done.decided += 1,
            Err(RegistryError::Invalid(why)) => done.skipped.push(Localized::new(
                format!("{}: {why}", item.names()),
                format!("{}: {why}", item.names()),
            )),
            Err(e) => return Err(registry_text(&e)),
        }
        progress(i + 1);
    }
    Ok(done)
}
