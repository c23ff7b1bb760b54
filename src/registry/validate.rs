//! What the registry checks and keeps of one revision, before any merge: its validation against its
//! form version (errors, unacknowledged warnings, drafts) and the summary a family's entry is made of
//! (petugas, time, form, NIKs, KK number, the report's facts). Pure: no storage, no I/O.

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};

use super::entries::Reason;
use crate::form::catalog::Catalog;
use crate::form::eval::evaluate;
use crate::form::schema::FieldKind;
use crate::form::{Form, Severity};
use crate::model::record::{Action, Revision};

/// The parts of a revision a family's entry is made of.
#[derive(Clone)]
pub(crate) struct RevisionSummary {
    pub petugas: String,
    pub at: DateTime<FixedOffset>,
    pub form_id: String,
    pub form_version: u64,
    pub niks: Vec<String>,
    pub kk: Option<String>,
    pub facts: Option<super::facts::Facts>,
    /// A visit's base (from a work package), if it is one.
    pub base: Option<crate::model::record::VisitBase>,
    /// The revision's hash (`package::revision_hash`), when it was worked out beside the merge.
    pub hash: Option<String>,
}

pub(crate) fn summarize(catalog: &Catalog, rev: &Revision) -> RevisionSummary {
    let form = catalog.version(&rev.form_id, rev.form_version);
    let (niks, kk) = form
        .map(|f| identifiers(f, &rev.answers))
        .unwrap_or_default();
    RevisionSummary {
        petugas: rev.petugas.clone(),
        at: rev.at,
        form_id: rev.form_id.clone(),
        form_version: rev.form_version,
        niks,
        kk,
        facts: form.and_then(|f| super::facts_of(f, &rev.answers)),
        base: rev.base.as_deref().cloned(),
        hash: None,
    }
}

/// Why a revision from a bundle is held (empty: it is accepted): corrections pass, finals are
/// validated, drafts never belong in a bundle.
pub(crate) fn check(catalog: &Catalog, rev: &Revision) -> Vec<Reason> {
    match rev.action {
        Action::Corrected => Vec::new(),
        Action::Finalized => validate(catalog, rev),
        Action::Created | Action::Saved => vec![Reason::new(
            "not_final",
            "",
            "revisi draf tidak dikirim ke registri",
            "a draft revision is not sent to the registry",
        )],
    }
}

/// Checks a final revision against its form version on the day it was made: errors, and warnings the
/// tablet should have had acknowledged.
pub fn validate(catalog: &Catalog, rev: &Revision) -> Vec<Reason> {
    let Some(form) = catalog.version(&rev.form_id, rev.form_version) else {
        return vec![Reason::new(
            "unknown_form",
            "",
            format!(
                "formulir {} versi {} tidak dikenal registri ini: perbarui pendata di registri",
                rev.form_id, rev.form_version
            ),
            format!(
                "form {} version {} is unknown to this registry: update pendata at the registry",
                rev.form_id, rev.form_version
            ),
        )];
    };
    let acked: BTreeSet<&str> = rev.acknowledged.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for issue in evaluate(form, &rev.answers, rev.at.date_naive()).issues {
        match issue.severity {
            Severity::Error => out.push(Reason {
                code: issue.code.to_string(),
                path: issue.path.clone(),
                message: issue.message.clone(),
            }),
            Severity::Warning => {
                let key = format!("{} {}", issue.path, issue.code);
                if !acked.contains(key.as_str()) {
                    out.push(Reason {
                        code: "unacknowledged_warning".into(),
                        path: issue.path.clone(),
                        message: crate::model::Localized::new(
                            format!("peringatan belum dikonfirmasi: {}", issue.message.id),
                            format!("warning not acknowledged: {}", issue.message.en),
                        ),
                    });
                }
            }
        }
    }
    out
}

/// The NIKs and the KK number in a revision's answers, found through the form's field kinds (at the
/// top level and inside repeats). Only well-formed 16-digit values count.
pub fn identifiers(
    form: &Form,
    answers: &crate::model::record::Answers,
) -> (Vec<String>, Option<String>) {
    let mut niks = BTreeSet::new();
    let mut kk = None;
    let well_formed = |v: &serde_json::Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
    };
    for f in &form.fields {
        match (f.kind, f.container) {
            (FieldKind::Nik, crate::form::compile::Container::Top) => {
                if let Some(n) = answers.get(&f.name).and_then(well_formed) {
                    niks.insert(n);
                }
            }
            (FieldKind::Nik, crate::form::compile::Container::Repeat(r)) => {
                let Some(rep) = form.field_by_id(r) else {
                    continue;
                };
                if let Some(items) = answers.get(&rep.name).and_then(|v| v.as_array()) {
                    for it in items {
                        if let Some(n) = it.get(&f.name).and_then(well_formed) {
                            niks.insert(n);
                        }
                    }
                }
            }
            (FieldKind::Kk, crate::form::compile::Container::Top) if kk.is_none() => {
                kk = answers.get(&f.name).and_then(well_formed);
            }
            _ => {}
        }
    }
    (niks.into_iter().collect(), kk)
}
