//! The province's evaluation of the families its kabupaten/kota forwarded (`registry evaluate`): accept,
//! or return with a reason — one family, a desa's or a kabupaten/kota's — in one transaction with one
//! audit line; and the figures per kabupaten/kota (`registry proposals`): families received (new, or an
//! update of one received before), accepted, returned, waiting. Only families that came in an upward
//! bundle (the province keeps the kabupaten's endorsement of each, `upward_import`) are evaluated.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::endorse::Selection;
use super::entries::{Endorsement, Evaluation, EvaluationEntry, Role};
use super::report::About;
use super::report::proposals::{Proposal, ProposalState, ProposalsReport, totals};
use super::storage::{Storage, Tables, Transaction};
use super::{Registry, RegistryError, Result};
use crate::bundle::keys::Level;
use crate::model::printable::clean;

/// What an evaluation run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Evaluated {
    pub decided: Vec<Uuid>,
    /// Families with this decision on their current revision already.
    pub unchanged: u64,
    /// Selected families that no kabupaten/kota forwarded (not evaluated).
    pub not_forwarded: u64,
    /// Selected families their kabupaten/kota withdrew (held back after forwarding): not evaluated.
    pub withdrawn: u64,
    pub audit: Option<u64>,
}

/// One kabupaten/kota's line of the proposals report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KabupatenFigures {
    pub kabkota: String,
    /// Families received from it.
    pub received: u64,
    /// Of those, new proposals (usulan baru) …
    pub new: u64,
    /// … or visits of families sent out in a work package (updates).
    pub updated: u64,
    pub accepted: u64,
    pub returned: u64,
    /// Not evaluated yet, or received again since its evaluation.
    pub waiting: u64,
    /// Withdrawn by the kabupaten/kota (held back after forwarding): not evaluated.
    pub withdrawn: u64,
}

fn invalid(id: impl std::fmt::Display, en: impl std::fmt::Display) -> RegistryError {
    RegistryError::Invalid(format!("{en} / {id}"))
}

impl<S: Storage> Registry<S> {
    /// Accepts or returns the selected forwarded families. `Selection::All` is read as every family;
    /// a kabupaten/kota is `Selection::Desa` of its code (`64.72`: its families' desa codes start so).
    pub fn evaluate(
        &self,
        selection: &Selection,
        decision: Evaluation,
        now: DateTime<FixedOffset>,
    ) -> Result<Evaluated> {
        if self.keys.public.level != Level::Provinsi {
            return Err(invalid(
                "evaluasi hanya di registri provinsi",
                "evaluation is made at a province's registry",
            ));
        }
        let decision = match decision {
            Evaluation::Returned { reason } => {
                let reason: String = clean(reason.trim()).chars().take(500).collect();
                if reason.is_empty() {
                    return Err(invalid(
                        "berikan alasan pengembalian: --reason TEXT",
                        "give the reason for returning: --reason TEXT",
                    ));
                }
                Evaluation::Returned { reason }
            }
            d => d,
        };
        let forwarded: BTreeMap<Uuid, _> = self
            .db
            .endorsements()?
            .into_iter()
            .map(|e| (e.record, e))
            .collect();
        let families = self.chosen(selection)?;
        let txn = self.db.begin()?;
        let done = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Operator)?;
            let mut done = Evaluated::default();
            let held: BTreeMap<Uuid, EvaluationEntry> = self
                .db
                .evaluations()?
                .into_iter()
                .map(|e| (e.record, e))
                .collect();
            let mut fresh = Vec::new();
            for f in families {
                match forwarded.get(&f.family.record).map(|e| &e.decision) {
                    None => {
                        done.not_forwarded += 1;
                        continue;
                    }
                    Some(Endorsement::Held { .. }) => {
                        done.withdrawn += 1;
                        continue;
                    }
                    Some(Endorsement::Endorsed { .. }) => {}
                }
                let same = held.get(&f.family.record).is_some_and(|e| {
                    e.device == f.family.device && e.seq == f.family.seq && e.decision == decision
                });
                if same {
                    done.unchanged += 1;
                    continue;
                }
                fresh.push((f.family.record, f.family.device, f.family.seq));
            }
            if !fresh.is_empty() {
                let (action, detail) = match &decision {
                    Evaluation::Accepted => ("family.evaluate.accept", None),
                    Evaluation::Returned { reason } => (
                        "family.evaluate.return",
                        Some(format!("returned: {reason}")),
                    ),
                };
                let objects = fresh.iter().map(|(r, ..)| format!("family:{r}")).collect();
                let n = self.audit_in(&mut t, &actor, now, action, objects, detail)?;
                for (record, device, seq) in fresh {
                    t.put_evaluation(&EvaluationEntry {
                        record,
                        device,
                        seq,
                        decision: decision.clone(),
                        at: now,
                        actor: actor.clone(),
                        audit: n,
                    })?;
                    done.decided.push(record);
                }
                done.audit = Some(n);
            }
            done
        };
        txn.commit()?;
        Ok(done)
    }

    /// The families of a selection; a code of two dotted parts (`64.72`) is a kabupaten/kota (the
    /// other selections as pengesahan reads them).
    fn chosen(&self, selection: &Selection) -> Result<Vec<super::FamilyEntry>> {
        let Selection::Desa(code) = selection else {
            return self.selected(selection);
        };
        if code.matches('.').count() != 1 {
            return self.selected(selection);
        }
        let mut out = Vec::new();
        self.db.families(|f| {
            if f.facts.as_ref().and_then(|x| x.kabkota.as_deref()) == Some(code.as_str()) {
                out.push(f.clone());
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The proposals per kabupaten/kota: received (new or updated), accepted, returned, waiting,
    /// withdrawn.
    pub fn proposals(&self) -> Result<Vec<KabupatenFigures>> {
        Ok(totals(&self.proposal_list()?))
    }

    /// The proposals report at `now`: the figures per kabupaten/kota with their course per month and
    /// the welfare indicators of its families, with the data's cut-off (the newest import).
    pub fn proposals_report(&self, now: DateTime<FixedOffset>) -> Result<ProposalsReport> {
        let list = self.proposal_list()?;
        let welfare = super::report(self, None)?;
        let about = About {
            registry: self.keys.public.name.clone(),
            made_at: now,
            data_cut_off: self.imports()?.last().map(|i| i.at),
        };
        Ok(ProposalsReport::build(&list, &welfare, about))
    }

    /// Every forwarded family with where it stands.
    fn proposal_list(&self) -> Result<Vec<Proposal>> {
        let evaluations: BTreeMap<Uuid, EvaluationEntry> = self
            .db
            .evaluations()?
            .into_iter()
            .map(|e| (e.record, e))
            .collect();
        let mut out = Vec::new();
        for e in self.db.endorsements()? {
            let Some(f) = self.db.family(e.record)? else {
                continue;
            };
            let kabkota = f
                .facts
                .as_ref()
                .and_then(|x| x.kabkota.clone())
                .unwrap_or_default();
            // A visit of a family the registry sent out (its revision names the base it updates) is an
            // update; anything else a new proposal.
            let update = self
                .db
                .stored_revision(f.family.device, f.family.seq)?
                .is_some_and(|r| r.base.is_some());
            let state = match evaluations.get(&e.record) {
                _ if matches!(e.decision, Endorsement::Held { .. }) => ProposalState::Withdrawn,
                Some(v) if v.device == f.family.device && v.seq == f.family.seq => {
                    match v.decision {
                        Evaluation::Accepted => ProposalState::Accepted(v.at),
                        Evaluation::Returned { .. } => ProposalState::Returned(v.at),
                    }
                }
                _ => ProposalState::Waiting,
            };
            out.push(Proposal {
                kabkota,
                update,
                received: e.received.unwrap_or(e.at),
                state,
            });
        }
        Ok(out)
    }
}
