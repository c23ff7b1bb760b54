//! The province's decisions flowing down: the province writes a kabupaten/kota registry its receipt
//! (`registry receipt DIR --registry KAB --to FOLDER`: every forwarded family of that kabupaten/kota it
//! evaluated, accepted or returned with the reason); the kabupaten applies it (`registry upstream
//! receipt DIR FILE`: checked against its `upstream.pub`, kept as its evaluations), and its own receipts
//! to the tablets then reject the returned revisions with the province's reason (`registry::receipt`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::entries::{Actor, Evaluation, EvaluationEntry, Role};
use super::storage::{Storage, Tables, Transaction};
use super::upward_import::{is_kabupaten, kabupaten_id};
use super::{Registry, RegistryError, Result};
use crate::bundle::upward::{
    ProvinceDecision, UPWARD_RECEIPT_FORMAT, UPWARD_RECEIPT_FORMAT_VERSION, UpwardReceipt,
};

fn invalid(id: impl std::fmt::Display, en: impl std::fmt::Display) -> RegistryError {
    RegistryError::Invalid(format!("{en} / {id}"))
}

impl<S: Storage> Registry<S> {
    /// At a province: writes the receipt for a kabupaten/kota registry (its id or 8 hex digits, as
    /// `devices list` shows it) into `to`. Returns the file and how many decisions it carries.
    pub fn write_upward_receipt(
        &self,
        kabupaten: &str,
        to: &Path,
        now: DateTime<FixedOffset>,
    ) -> Result<(PathBuf, usize)> {
        let d = self.find_device(kabupaten)?;
        let Some(region) = super::upward_import::region(&d).filter(|_| is_kabupaten(&d)) else {
            return Err(invalid(
                format!("{} bukan registri kabupaten/kota", d.id),
                format!(
                    "{} is not a kabupaten/kota registry (a tablet's receipt: --device)",
                    d.id
                ),
            ));
        };
        let mut decisions = Vec::new();
        for e in self.db.evaluations()? {
            let Some(f) = self.db.family(e.record)? else {
                continue;
            };
            if f.facts.as_ref().and_then(|x| x.kabkota.as_deref()) != Some(region.as_str()) {
                continue;
            }
            let (accepted, reason) = match e.decision {
                Evaluation::Accepted => (true, None),
                Evaluation::Returned { reason } => (false, Some(reason)),
            };
            decisions.push(ProvinceDecision {
                record: e.record,
                device: e.device,
                seq: e.seq,
                accepted,
                reason,
            });
        }
        let r = UpwardReceipt {
            format: UPWARD_RECEIPT_FORMAT.into(),
            format_version: UPWARD_RECEIPT_FORMAT_VERSION,
            receipt_id: Uuid::now_v7(),
            created_at: now,
            province: self.keys.public.name.clone(),
            kabupaten: d.id,
            decisions,
        };
        let written = crate::durable::write_bytes(
            &to.join(r.file_name()),
            &r.sign(&self.keys.signing),
            &crate::durable::Options::new_name().private(),
        )?;
        Ok((written.path, r.decisions.len()))
    }

    /// At a kabupaten/kota: applies the province's receipt (signed by the province in `upstream.pub`,
    /// for this registry): its decisions become this registry's evaluations, in one transaction with an
    /// audit line. Returns (accepted, returned).
    pub fn apply_upward_receipt(
        &self,
        bytes: &[u8],
        now: DateTime<FixedOffset>,
    ) -> Result<(u64, u64)> {
        let province = self.upstream()?.ok_or_else(|| {
            invalid(
                "provinsi tujuan belum ditetapkan: pendata registry upstream set DIR PROVINSI.pub",
                "no province set: pendata registry upstream set DIR PROVINCE.pub",
            )
        })?;
        let key = province.verifying_key().map_err(|e| {
            invalid(
                format!("kunci provinsi: {e}"),
                format!("the province's key: {e}"),
            )
        })?;
        let r = UpwardReceipt::open(bytes, &key).map_err(|e| {
            invalid(
                format!("kuitansi ditolak: {e}"),
                format!("receipt refused: {e}"),
            )
        })?;
        if r.kabupaten != kabupaten_id(&self.keys.public.signing_key) {
            return Err(invalid(
                "kuitansi ini untuk registri kabupaten/kota lain",
                "this receipt is for another kabupaten/kota registry",
            ));
        }
        let txn = self.db.begin()?;
        let counts = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Operator)?;
            let (mut accepted, mut returned) = (0u64, 0u64);
            for d in &r.decisions {
                let decision = if d.accepted {
                    accepted += 1;
                    Evaluation::Accepted
                } else {
                    returned += 1;
                    Evaluation::Returned {
                        reason: d.reason.clone().unwrap_or_default(),
                    }
                };
                t.put_evaluation(&EvaluationEntry {
                    record: d.record,
                    device: d.device,
                    seq: d.seq,
                    decision,
                    at: r.created_at,
                    actor: Actor::Account {
                        name: format!("provinsi: {}", r.province),
                    },
                    audit: 0,
                })?;
            }
            self.audit_in(
                &mut t,
                &actor,
                now,
                "upstream.receipt",
                vec![format!("receipt:{}", r.receipt_id)],
                Some(format!(
                    "{accepted} accepted, {returned} returned by the province"
                )),
            )?;
            (accepted, returned)
        };
        txn.commit()?;
        Ok(counts)
    }
}
