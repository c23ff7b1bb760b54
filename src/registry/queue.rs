//! The operator's work queue of conflicts, fit for a person: each conflict with its families' names
//! (cleaned through `model::printable`), kabupaten/kota and desa (code and name) and kind; filtered by
//! kabupaten, desa and kind; and one decision for a whole filtered set, each recorded in the audit
//! trail like a single one. Read-only except [`Registry::decide_all`].

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::entries::{Conflict, ConflictKind, Member};
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
        let text = |v: Option<&serde_json::Value>| {
            v.and_then(serde_json::Value::as_str)
                .map(|s| clean(s.trim()).into_owned())
        };
        let mut out = Vec::new();
        for c in self.conflicts(all)? {
            let mut families = Vec::with_capacity(c.members.len());
            for m in &c.members {
                let rev = self.db.stored_revision(m.device, m.seq)?;
                let a = rev.as_ref().map(|r| &r.answers);
                let desa = text(a.and_then(|a| a.get(hh::DESA)));
                let kabupaten = text(a.and_then(|a| a.get(hh::KABKOTA)));
                families.push(MemberView {
                    member: *m,
                    name: text(a.and_then(|a| a.get(hh::HEAD_NAME))),
                    kabupaten_name: kabupaten.as_ref().and_then(|k| regions.get(k)).cloned(),
                    kabupaten,
                    desa_name: desa.as_ref().and_then(|d| regions.get(d)).cloned(),
                    desa,
                });
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
        if self.session.reason.as_deref().is_none_or(str::is_empty) {
            return Err(RegistryError::Invalid(
                "a decision for many conflicts needs a reason (--reason TEXT) / keputusan massal wajib disertai alasan"
                    .into(),
            ));
        }
        self.check_allowed(super::Role::Operator)?;
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
