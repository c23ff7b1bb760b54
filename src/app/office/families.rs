//! The office's families: search as one types (name, NIK, KK, desa), and a family's page with its
//! current answers and its whole history (every revision received, what became of it, and the
//! decisions about it with who made them, from the audit trail).
//!
//! NIK and KK numbers and desa codes are looked up in the registry's indexes. Names are in the
//! families' revisions only (the store keeps no index of them), so the screen builds a [`NameIndex`]
//! once, in the background, by reading every family; a name search then scans that in memory.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::Office;
use super::queue::{Row, answer_rows, registry_text};
use crate::model::Localized;
use crate::model::household as hh;
use crate::model::printable::clean;
use crate::registry::entries::{QuarantineState, desa_number, id_number};
pub use crate::registry::family::FamilyState;
use crate::registry::storage::{Index, Storage};
use crate::registry::{FamilyEntry, Registry};

/// The most results a search returns.
pub const LIMIT: usize = 100;

/// One family found.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyRow {
    pub record: Uuid,
    /// The head of the family's name in its current revision.
    pub name: String,
    pub kk: Option<String>,
    pub desa: Option<String>,
    pub desa_name: Option<String>,
    pub state: FamilyState,
}

/// What a search found: at most [`LIMIT`] families, and whether there were more.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub query: String,
    pub rows: Vec<FamilyRow>,
    pub more: bool,
    /// The name index given was built before the latest bundle was merged: build it again.
    pub stale: bool,
}

/// Every family's head's name, lower-cased, for searching by name in memory.
#[derive(Debug, Default)]
pub struct NameIndex {
    /// The names, each followed by `\n` (a query has no line break, so a match stays in one name).
    names: String,
    /// Where each name starts in `names`, and its family.
    starts: Vec<u32>,
    records: Vec<u128>,
    /// How many bundles were merged when it was built (new families come only with bundles, imported
    /// or merged when their device is approved).
    stamp: usize,
}

impl NameIndex {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The families whose name holds `query` (lower-cased), in record order, at most `limit` + 1.
    fn find(&self, query: &str, limit: usize) -> Vec<Uuid> {
        let q = query.to_lowercase();
        let mut out = Vec::new();
        let mut last = None;
        for (at, _) in self.names.match_indices(&q) {
            let at = u32::try_from(at).unwrap_or(u32::MAX);
            let i = self.starts.partition_point(|s| *s <= at).saturating_sub(1);
            if last == Some(i) {
                continue;
            }
            last = Some(i);
            if let Some(r) = self.records.get(i) {
                out.push(Uuid::from_u128(*r));
            }
            if out.len() > limit {
                break;
            }
        }
        out
    }
}

/// How many families the name index reads under one hold of the registry: between two parts a
/// decision or an import gets its turn.
const PART: usize = 20_000;

/// Reads every family's current name (a scan of the registry: seconds for a million families, in parts
/// of [`PART`], so decisions are not held up); `progress` hears how many were read after each part.
pub fn name_index(office: &Office, mut progress: impl FnMut(u64)) -> Result<NameIndex, Localized> {
    let text = |e| registry_text(&e);
    let mut ix = NameIndex {
        stamp: merged_bundles(&office.read()).map_err(text)?,
        ..NameIndex::default()
    };
    let mut after = None;
    loop {
        let reg = office.read();
        let last = reg
            .db
            .families_with_revisions_from(after, PART, |f, rev| {
                let name = rev
                    .answers
                    .get(hh::HEAD_NAME)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("");
                ix.starts
                    .push(u32::try_from(ix.names.len()).unwrap_or(u32::MAX));
                ix.names.push_str(&name.to_lowercase().replace('\n', " "));
                ix.names.push('\n');
                ix.records.push(f.family.record.as_u128());
                Ok(())
            })
            .map_err(text)?;
        drop(reg);
        match last {
            Some(l) => after = Some(l),
            None => break,
        }
        progress(ix.len() as u64);
    }
    Ok(ix)
}

/// The families `query` names: a 16-digit NIK or KK number (the indexes), a desa code or a desa's
/// name (the desa index), or part of the head's name (`names`, when it is built). At most [`LIMIT`].
pub fn search(office: &Office, names: Option<&NameIndex>, query: &str) -> Result<Found, Localized> {
    let q = query.trim();
    let mut found = Found {
        query: query.to_string(),
        ..Found::default()
    };
    if q.chars().count() < 2 {
        return Ok(found);
    }
    let reg = office.read();
    let text = |e| registry_text(&e);
    let mut records: Vec<Uuid> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |r: Uuid, records: &mut Vec<Uuid>| {
        if seen.insert(r) {
            records.push(r);
        }
    };
    if let Some(n) = id_number(q) {
        for index in [Index::Nik, Index::Kk] {
            for r in reg.db.indexed(index, n).map_err(text)? {
                add(r, &mut records);
            }
        }
    }
    let digits_only = q.chars().all(|c| c.is_ascii_digit() || c == '.');
    let desa_codes: Vec<String> = if digits_only {
        vec![q.to_string()]
    } else if q.chars().count() >= 3 {
        let ql = q.to_lowercase();
        reg.region_names()
            .into_iter()
            .filter(|(code, name)| code.len() > 8 && name.to_lowercase().contains(&ql))
            .map(|(code, _)| code)
            .collect()
    } else {
        Vec::new()
    };
    for code in desa_codes {
        let Some(n) = desa_number(&code) else {
            continue;
        };
        reg.db
            .families_in_desa(n, |f| {
                if records.len() <= LIMIT {
                    add(f.family.record, &mut records);
                }
                Ok(())
            })
            .map_err(text)?;
    }
    if !digits_only && let Some(ix) = names {
        found.stale = ix.stamp != merged_bundles(&reg).map_err(text)?;
        for r in ix.find(q, LIMIT) {
            add(r, &mut records);
        }
    }
    found.more = records.len() > LIMIT;
    records.truncate(LIMIT);
    let regions = reg.region_names();
    for r in records {
        if let Some(f) = reg.family(r).map_err(text)? {
            found.rows.push(row_of(&reg, &f, &regions).map_err(text)?);
        }
    }
    Ok(found)
}

fn merged_bundles(reg: &Registry) -> crate::registry::Result<usize> {
    Ok(reg.bundles()?.len())
}

fn row_of(
    reg: &Registry,
    f: &FamilyEntry,
    regions: &HashMap<String, String>,
) -> crate::registry::Result<FamilyRow> {
    let rev = reg.db.stored_revision(f.family.device, f.family.seq)?;
    let get = |k: &str| {
        rev.as_ref()
            .and_then(|r| r.answers.get(k))
            .and_then(serde_json::Value::as_str)
            .map(|s| clean(s.trim()).into_owned())
    };
    let desa = get(hh::DESA).or_else(|| f.facts.as_ref().and_then(|x| x.desa.clone()));
    Ok(FamilyRow {
        record: f.family.record,
        name: get(hh::HEAD_NAME).unwrap_or_else(|| "—".into()),
        kk: f.kk.clone(),
        desa_name: desa.as_ref().and_then(|d| regions.get(d)).cloned(),
        desa,
        state: f.family.state,
    })
}

/// What became of a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The family's version now.
    Current,
    /// Accepted, and a later version took its place.
    Earlier,
    /// In quarantine, waiting for an operator.
    Waiting,
    /// Rejected by an operator, or overruled by a conflict decision.
    Rejected,
    /// Valid, and waiting in an open conflict.
    InConflict,
}

/// A decision about a revision, from the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionLine {
    /// The audit trail's action code (`conflict.keep`, `quarantine.release`, …).
    pub action: String,
    /// Who decided (the operator's name and role).
    pub who: String,
    pub at: DateTime<FixedOffset>,
    pub reason: Option<String>,
}

/// One revision of the family, as received.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryLine {
    pub revision: u32,
    pub device: Uuid,
    pub device_name: String,
    pub petugas: String,
    /// Device time of the revision.
    pub at: Option<DateTime<FixedOffset>>,
    pub outcome: Outcome,
    pub decisions: Vec<DecisionLine>,
}

/// A family's page.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyPage {
    pub family: FamilyRow,
    /// Its current answers (one value per row).
    pub current: Vec<Row>,
    /// Every revision received, oldest first.
    pub history: Vec<HistoryLine>,
}

/// A family's page: its current answers and every revision with what became of it and who decided.
pub fn page(office: &Office, record: Uuid) -> Result<Option<FamilyPage>, Localized> {
    let reg = office.read();
    let text = |e| registry_text(&e);
    let Some(f) = reg.family(record).map_err(text)? else {
        return Ok(None);
    };
    let regions = reg.region_names();
    let family = row_of(&reg, &f, &regions).map_err(text)?;
    let current_rev = reg
        .db
        .stored_revision(f.family.device, f.family.seq)
        .map_err(text)?;
    let current = current_rev
        .as_ref()
        .and_then(|r| {
            reg.catalog
                .version(&r.form_id, r.form_version)
                .map(|form| answer_rows(form, std::slice::from_ref(&r.answers)))
        })
        .unwrap_or_default();
    let history = history(&reg, &f).map_err(text)?;
    Ok(Some(FamilyPage {
        family,
        current,
        history,
    }))
}

fn history(reg: &Registry, f: &FamilyEntry) -> crate::registry::Result<Vec<HistoryLine>> {
    let record = f.family.record;
    let devices: HashMap<Uuid, String> = reg
        .devices()?
        .into_iter()
        .map(|d| (d.id, clean(&d.name).into_owned()))
        .collect();
    let quarantine: HashMap<(Uuid, u64), QuarantineState> = reg
        .quarantine(true)?
        .into_iter()
        .filter(|q| q.record == record)
        .map(|q| ((q.device, q.seq), q.state))
        .collect();
    let conflicts: Vec<_> = reg
        .conflicts(true)?
        .into_iter()
        .filter(|c| c.members.iter().any(|m| m.record == record))
        .collect();
    let audit: Vec<_> = reg
        .db
        .audit()?
        .into_iter()
        .filter(|a| a.objects.iter().any(|o| o == &format!("family:{record}")))
        .collect();
    let mut out = Vec::new();
    for fin in reg.db.finals_of(record)? {
        let device = Uuid::from_u128(fin.device);
        let rev = reg.db.stored_revision(device, fin.seq)?;
        let key = format!("revision:{device}:{}", fin.seq);
        let in_conflicts: Vec<String> = conflicts
            .iter()
            .filter(|c| {
                c.members
                    .iter()
                    .any(|m| m.device == device && m.seq == fin.seq)
            })
            .map(|c| format!("conflict:{}", c.id))
            .collect();
        let open_conflict = conflicts.iter().any(|c| {
            c.is_open()
                && c.members
                    .iter()
                    .any(|m| m.device == device && m.seq == fin.seq)
        });
        let outcome = if device == f.family.device && fin.seq == f.family.seq {
            if open_conflict {
                Outcome::InConflict
            } else {
                Outcome::Current
            }
        } else {
            match quarantine.get(&(device, fin.seq)) {
                Some(QuarantineState::Open) => Outcome::Waiting,
                Some(QuarantineState::Rejected) => Outcome::Rejected,
                _ if open_conflict => Outcome::InConflict,
                _ => Outcome::Earlier,
            }
        };
        let decisions = audit
            .iter()
            .filter(|a| {
                a.objects
                    .iter()
                    .any(|o| o == &key || in_conflicts.contains(o))
            })
            .map(|a| DecisionLine {
                action: a.action.clone(),
                who: a.actor.to_string(),
                at: a.at,
                reason: a.reason.clone(),
            })
            .collect();
        out.push(HistoryLine {
            revision: fin.number,
            device,
            device_name: devices.get(&device).cloned().unwrap_or_default(),
            petugas: rev
                .as_ref()
                .map(|r| clean(&r.petugas).into_owned())
                .unwrap_or_default(),
            at: rev.as_ref().map(|r| r.at),
            outcome,
            decisions,
        });
    }
    out.sort_by_key(|h| (h.at, h.revision));
    Ok(out)
}
