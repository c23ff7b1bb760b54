//! The operator's work queue of conflicts, fit for a person: each conflict with its families' names
//! (cleaned through `model::printable`), kabupaten/kota and desa (code and name) and kind; filtered by
//! kabupaten, desa and kind; the quarantined revisions the same way; and one decision for a whole
//! filtered set, each recorded in the audit trail like a single one. Read-only except
//! [`Registry::decide_all`] and [`Registry::decide_quarantine_all`].

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use std::collections::HashMap;

use super::entries::{Conflict, ConflictKind, Member, QuarantineEntry};
use super::storage::Storage;
use super::{Registry, RegistryError, Result};
use crate::model::household as hh;
use crate::model::printable::clean;

/// One family (revision) of a conflict, as an operator reads it.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    #[serde(flatten)]
    pub member: Member,
    /// The head of the family's name in that revision.
    pub name: Option<String>,
    pub kabupaten: Option<String>,
    pub kabupaten_name: Option<String>,
    pub desa: Option<String>,
    pub desa_name: Option<String>,
}

/// A conflict with its families.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    #[serde(flatten)]
    pub conflict: Conflict,
    pub families: Vec<MemberView>,
}

/// Which conflicts: all given filters must hold (a region filter holds when one of the families is
/// there). Codes with or without dots (`64.72`, `6472`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kabupaten: Option<String>,
    pub desa: Option<String>,
    pub kind: Option<ConflictKind>,
}

fn digits(code: &str) -> String {
    code.chars().filter(char::is_ascii_digit).collect()
}

impl Filter {
    /// Whether one family's revision is in the filter's regions (the kind is not looked at).
    pub fn matches_member(&self, m: &MemberView) -> bool {
        let holds = |want: &Option<String>, have: Option<&String>| {
            want.as_ref()
                .is_none_or(|w| have.is_some_and(|c| digits(c) == digits(w)))
        };
        holds(&self.kabupaten, m.kabupaten.as_ref()) && holds(&self.desa, m.desa.as_ref())
    }

    pub fn matches(&self, v: &ConflictView) -> bool {
        let region = |want: &Option<String>, of: fn(&MemberView) -> Option<&String>| {
            want.as_ref().is_none_or(|w| {
                let w = digits(w);
                v.families
                    .iter()
                    .any(|m| of(m).is_some_and(|c| digits(c) == w))
            })
        };
        self.kind.is_none_or(|k| k == v.conflict.kind)
            && region(&self.kabupaten, |m| m.kabupaten.as_ref())
            && region(&self.desa, |m| m.desa.as_ref())
    }
}

/// A quarantined revision with its family's name and region.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineView {
    #[serde(flatten)]
    pub entry: QuarantineEntry,
    pub family: MemberView,
    /// The family's version in the registry now, when it has another one (what the held revision
    /// would replace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<MemberView>,
}

/// What a bulk quarantine decision did: the revisions decided (`DEVICE:SEQ`), and those left open
/// with the reason.
#[derive(Debug, Clone, Default)]
pub struct QuarantineBulk {
    pub decided: Vec<String>,
    pub skipped: Vec<(String, String)>,
}

/// How to decide every conflict of a filtered set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    /// Keep member N (from 1) of each.
    Keep(usize),
    /// Different families (shared NIK or KK only).
    Distinct,
    /// One family: member N stays, the other becomes its update (shared NIK or KK only).
    Same(usize),
}

/// What a bulk decision did: the conflicts decided, and those left open with the reason.
#[derive(Debug, Clone, Default)]
pub struct BulkOutcome {
    pub decided: Vec<u64>,
    pub skipped: Vec<(u64, String)>,
}

impl<S: Storage> Registry<S> {
    /// The conflicts (`all`: decided ones too) with their families, those `filter` lets through.
    pub fn conflict_views(&self, all: bool, filter: &Filter) -> Result<Vec<ConflictView>> {
        let regions = self.region_names();
        let mut out = Vec::new();
        for c in self.conflicts(all)? {
            let mut families = Vec::with_capacity(c.members.len());
            for m in &c.members {
                families.push(self.member_view(&regions, *m)?);
            }
            let v = ConflictView {
                conflict: c,
                families,
            };
            if filter.matches(&v) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// One revision as an operator reads it: its family's head's name, kabupaten and desa.
    fn member_view(&self, regions: &HashMap<String, String>, m: Member) -> Result<MemberView> {
        let text = |v: Option<&serde_json::Value>| {
            v.and_then(serde_json::Value::as_str)
                .map(|s| clean(s.trim()).into_owned())
        };
        let rev = self.db.stored_revision(m.device, m.seq)?;
        let a = rev.as_ref().map(|r| &r.answers);
        let desa = text(a.and_then(|a| a.get(hh::DESA)));
        let kabupaten = text(a.and_then(|a| a.get(hh::KABKOTA)));
        Ok(MemberView {
            member: m,
            name: text(a.and_then(|a| a.get(hh::HEAD_NAME))),
            kabupaten_name: kabupaten.as_ref().and_then(|k| regions.get(k)).cloned(),
            kabupaten,
            desa_name: desa.as_ref().and_then(|d| regions.get(d)).cloned(),
            desa,
        })
    }

    /// The quarantined revisions (`all`: decided ones too) with their family's name and region, those
    /// `filter`'s regions let through (its kind is about conflicts and is not looked at).
    pub fn quarantine_views(&self, all: bool, filter: &Filter) -> Result<Vec<QuarantineView>> {
        let regions = self.region_names();
        let region = Filter {
            kind: None,
            ..filter.clone()
        };
        let mut out = Vec::new();
        for q in self.quarantine(all)? {
            let m = Member {
                record: q.record,
                device: q.device,
                revision: q.revision,
                seq: q.seq,
            };
            let family = self.member_view(&regions, m)?;
            if region.matches_member(&family) {
                let current = match self.db.family(q.record)? {
                    Some(f) if (f.family.device, f.family.seq) != (q.device, q.seq) => {
                        let m = Member {
                            record: f.family.record,
                            device: f.family.device,
                            revision: f.family.revision,
                            seq: f.family.seq,
                        };
                        Some(self.member_view(&regions, m)?)
                    }
                    _ => None,
                };
                out.push(QuarantineView {
                    entry: q,
                    family,
                    current,
                });
            }
        }
        Ok(out)
    }

    /// Releases (`release`) or rejects every open quarantined revision `filter`'s regions let through,
    /// one transaction and one audit line each (with the session's reason, which a bulk decision must
    /// have). A revision that cannot be released (it was not kept) stays and is listed as skipped; a
    /// sign-in or storage failure stops the run (what was decided stays decided).
    pub fn decide_quarantine_all(
        &self,
        filter: &Filter,
        release: bool,
        now: DateTime<FixedOffset>,
    ) -> Result<QuarantineBulk> {
        self.bulk_allowed()?;
        let mut done = QuarantineBulk::default();
        for v in self.quarantine_views(false, filter)? {
            let key = format!("{}:{}", v.entry.device, v.entry.seq);
            match self.decide_quarantine(&key, release, now) {
                Ok(_) => done.decided.push(key),
                Err(RegistryError::Invalid(why)) => done.skipped.push((key, why)),
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// A decision for many needs a reason and someone who may decide.
    fn bulk_allowed(&self) -> Result<()> {
        if self
            .session
            .reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
        {
            return Err(RegistryError::Invalid(
                "a decision for many conflicts needs a reason (--reason TEXT) / keputusan massal wajib disertai alasan"
                    .into(),
            ));
        }
        self.check_allowed(super::Role::Operator).map(drop)
    }

    /// Decides every open conflict `filter` lets through the same way, one transaction and one audit
    /// line each (with the session's reason, which a bulk decision must have). A conflict the decision
    /// does not fit (`distinct` for one family revised twice) stays open and is listed as skipped; a
    /// sign-in or storage failure stops the run (what was decided stays decided).
    pub fn decide_all(
        &self,
        filter: &Filter,
        how: Bulk,
        now: DateTime<FixedOffset>,
    ) -> Result<BulkOutcome> {
        self.bulk_allowed()?;
        let mut done = BulkOutcome::default();
        for v in self.conflict_views(false, filter)? {
            let id = v.conflict.id;
            let r = match how {
                Bulk::Keep(n) => self.keep(id, n, now),
                Bulk::Distinct => self.distinct(id, now),
                Bulk::Same(n) => self.same(id, n, now),
            };
            match r {
                Ok(_) => done.decided.push(id),
                Err(RegistryError::Invalid(why)) => done.skipped.push((id, why)),
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}
