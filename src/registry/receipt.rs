//! The receipt for a device: every position of its sequence the registry covers is accepted, except the
//! revisions held in quarantine (rejected, with reasons) and those waiting in a conflict (neither, until
//! an operator decides); signed with the registry's key and written onto the stick.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};

use uuid::Uuid;

use super::entries::{ConflictKind, DeviceState, QuarantineState, Reason};
use super::storage::{Storage, Tables, Transaction};
use super::{Registry, RegistryError, Result};
use crate::bundle::manifest::SeqRange;
use crate::bundle::receipt::{Receipt, Rejection, VisitMerged, VisitResult};
use crate::model::record::Revision;

use crate::bundle::short;

/// A receipt written for a device.
#[derive(Debug, Clone)]
pub struct WrittenReceipt {
    pub path: PathBuf,
    pub receipt: Receipt,
    /// Positions accepted, and revisions held back for a conflict (neither accepted nor rejected yet).
    pub accepted_positions: u64,
    pub held_for_conflicts: u64,
}

/// Removes `held` positions from sorted, disjoint `ranges`.
pub fn subtract(ranges: &[SeqRange], held: &BTreeSet<u64>) -> Vec<SeqRange> {
    let mut out = Vec::new();
    for r in ranges {
        let mut from = r.from;
        for &h in held.range(r.from..=r.to) {
            if h > from {
                out.push(SeqRange { from, to: h - 1 });
            }
            from = h + 1;
        }
        if from <= r.to {
            out.push(SeqRange { from, to: r.to });
        }
    }
    out
}

impl<S: Storage> Registry<S> {
    /// The receipt for a device, with the positions it accepts and the revisions held for conflicts.
    pub fn receipt(&self, device: &str, now: DateTime<FixedOffset>) -> Result<(Receipt, u64, u64)> {
        let d = self.find_device(device)?;
        if d.state != DeviceState::Approved {
            return Err(RegistryError::Invalid(format!(
                "device {} ({}) is {}: approve it first (`pendata registry devices DIR approve {}`)",
                short(d.id),
                d.name,
                d.state.as_str(),
                short(d.id)
            )));
        }
        let coverage = self.coverage(d.id)?;
        let mut held = BTreeSet::new();
        let mut rejected = Vec::new();
        for q in self.quarantine(true)? {
            if q.device != d.id || q.state == QuarantineState::Released {
                continue;
            }
            held.insert(q.seq);
            rejected.push(Rejection {
                record: q.record,
                revision: q.revision,
                seq: q.seq,
                reasons: q.reasons.iter().map(Reason::localized).collect(),
            });
        }
        // At a kabupaten/kota: the families the province returned, with its reason.
        if self.keys.public.level == crate::bundle::keys::Level::Kabupaten {
            for e in self.db.evaluations()? {
                if e.device != d.id || held.contains(&e.seq) {
                    continue;
                }
                if let super::entries::Evaluation::Returned { reason } = &e.decision {
                    let revision = self
                        .db
                        .stored_revision(e.device, e.seq)?
                        .map_or(0, |r| r.number);
                    held.insert(e.seq);
                    rejected.push(Rejection {
                        record: e.record,
                        revision,
                        seq: e.seq,
                        reasons: vec![crate::model::Localized::new(
                            format!("dikembalikan oleh provinsi: {reason}"),
                            format!("returned by the province: {reason}"),
                        )],
                    });
                }
            }
        }
        let mut conflict_held = 0u64;
        for c in self.conflicts(false)? {
            for m in c.members.iter().filter(|m| m.device == d.id) {
                if held.insert(m.seq) {
                    conflict_held += 1;
                }
            }
        }
        let accepted = subtract(&coverage, &held);
        let positions = accepted.iter().map(|r| r.to - r.from + 1).sum();
        let mut receipt = Receipt::new(&self.keys.public.name, d.id, now, accepted, rejected);
        receipt.visits = self.visit_results(d.id)?;
        Ok((receipt, positions, conflict_held))
    }

    /// The device's visits: those that are their family's version now, and those waiting in an
    /// update conflict.
    fn visit_results(&self, device: Uuid) -> Result<Vec<VisitResult>> {
        // The family entries say whose revision is current: only those of this device are read.
        let mut current = Vec::new();
        self.db.families(|fam| {
            if fam.family.device == device {
                current.push(fam.family.seq);
            }
            Ok(())
        })?;
        let mut out = Vec::new();
        if !current.is_empty() {
            let txn = self.db.begin()?;
            let t = txn.tables()?;
            for seq in current {
                let rev = t.revision(device.as_u128(), seq)?;
                if rev.base.is_some() {
                    out.push(VisitResult {
                        record: rev.record,
                        seq: rev.seq,
                        outcome: visit_outcome(&rev),
                        merged: VisitMerged::Updated,
                    });
                }
            }
            // Read only: dropped without a commit.
        }
        for c in self.conflicts(false)? {
            if c.kind != ConflictKind::Update {
                continue;
            }
            for m in c.members.iter().filter(|m| m.device == device) {
                if !out.iter().any(|v| v.seq == m.seq) {
                    out.push(VisitResult {
                        record: m.record,
                        seq: m.seq,
                        outcome: None,
                        merged: VisitMerged::Conflict,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Writes the signed receipt for a device into `to` (durably; beside a receipt of the same name, under
    /// a new name: two receipts in one second on one stick are both kept).
    pub fn write_receipt(
        &self,
        device: &str,
        to: &Path,
        now: DateTime<FixedOffset>,
    ) -> Result<WrittenReceipt> {
        let (receipt, accepted_positions, held_for_conflicts) = self.receipt(device, now)?;
        if !to.is_dir() {
            return Err(RegistryError::Invalid(format!(
                "{} is not a folder (give the stick's folder with --to)",
                to.display()
            )));
        }
        let written = crate::durable::write_bytes(
            &to.join(receipt.file_name()),
            &receipt.sign(&self.keys.signing),
            &crate::durable::Options::new_name(),
        )?;
        Ok(WrittenReceipt {
            path: written.path,
            receipt,
            accepted_positions,
            held_for_conflicts,
        })
    }
}

/// The outcome a visit recorded (`status_kunjungan`).
fn visit_outcome(rev: &Revision) -> Option<String> {
    rev.answers
        .get(crate::model::household::VISIT_STATUS)
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracting_held_positions_splits_ranges() {
        let r = [SeqRange { from: 1, to: 10 }, SeqRange { from: 15, to: 20 }];
        let held: BTreeSet<u64> = [1, 5, 6, 10, 16, 30].into_iter().collect();
        let got: Vec<(u64, u64)> = subtract(&r, &held).iter().map(|r| (r.from, r.to)).collect();
        assert_eq!(got, vec![(2, 4), (7, 9), (15, 15), (17, 20)]);
        assert_eq!(subtract(&r, &BTreeSet::new()), r.to_vec());
    }
}
