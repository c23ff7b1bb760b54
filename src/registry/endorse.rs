//! Pengesahan at a kabupaten/kota registry: operators endorse families for forwarding to the province —
//! one, a desa's, or every one — with the reference and date of the musyawarah desa/kelurahan minutes
//! (berita acara), or hold them back with a reason. Each run is one write transaction: the decisions
//! (`EndorsementEntry`, one per family, the latest) and one audit line naming who decided.
//!
//! Only families whose current revision is accepted can be endorsed (a family in quarantine or in a
//! conflict waits for that decision first); any family can be held back. A decision speaks for the
//! revision current when it was made: a later revision of the family needs a new one.

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::entries::{Endorsement, EndorsementEntry, FamilyEntry, Role, desa_number};
use super::family::FamilyState;
use super::storage::{Storage, Tables, Transaction};
use super::{Registry, RegistryError, Result};
use crate::bundle::keys::Level;
use crate::model::printable::clean;

/// The store's counter of the upward sequence: the last position given to an endorsement.
pub const UPWARD_LAST: &str = "upward_last";
/// The store's counter of the last position forwarded (`registry forward --since-last`).
pub const UPWARD_WATERMARK: &str = "upward_watermark";

/// The longest minutes reference or hold reason kept.
pub const MAX_TEXT: usize = 200;

/// Which families a decision is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Family(Uuid),
    /// A desa/kelurahan code (`64.72.01.1001`).
    Desa(String),
    All,
}

/// What a pengesahan run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Endorsed {
    /// Families decided now (endorsed, or held back).
    pub decided: Vec<Uuid>,
    /// Families that already had this decision on their current revision (nothing changed).
    pub unchanged: u64,
    /// Families not endorsed because their current revision is not accepted (quarantine, conflict).
    pub not_accepted: Vec<Uuid>,
    /// Of the families held back now, those forwarded before: the next forward withdraws them at the
    /// province.
    pub withdrawing: u64,
    /// The audit line that records the run (none when nothing was decided).
    pub audit: Option<u64>,
}

fn invalid(id: impl std::fmt::Display, en: impl std::fmt::Display) -> RegistryError {
    RegistryError::Invalid(format!("{en} / {id}"))
}

/// The decision with its texts checked: a minutes reference and a hold reason are printable, not empty,
/// at most [`MAX_TEXT`] characters.
pub fn checked(decision: Endorsement) -> Result<Endorsement> {
    let text = |t: &str, what_id: &str, what_en: &str| -> Result<String> {
        let t: String = clean(t.trim()).into_owned();
        if t.is_empty() {
            return Err(invalid(
                format!("{what_id} tidak boleh kosong"),
                format!("the {what_en} must not be empty"),
            ));
        }
        if t.chars().count() > MAX_TEXT {
            return Err(invalid(
                format!("{what_id} lebih dari {MAX_TEXT} karakter"),
                format!("the {what_en} is longer than {MAX_TEXT} characters"),
            ));
        }
        Ok(t)
    };
    Ok(match decision {
        Endorsement::Endorsed { minutes, date } => Endorsement::Endorsed {
            minutes: text(&minutes, "nomor berita acara", "minutes reference")?,
            date,
        },
        Endorsement::Held {
            reason,
            minutes,
            date,
        } => Endorsement::Held {
            reason: text(&reason, "alasan penahanan", "reason for holding back")?,
            minutes: minutes
                .map(|m| text(&m, "nomor berita acara", "minutes reference"))
                .transpose()?,
            date,
        },
    })
}

impl<S: Storage> Registry<S> {
    /// Endorses the selected families for forwarding, or holds them back (`decision`), in one
    /// transaction with one audit line. Only at a kabupaten/kota registry.
    pub fn endorse(
        &self,
        selection: &Selection,
        decision: Endorsement,
        now: DateTime<FixedOffset>,
    ) -> Result<Endorsed> {
        if self.keys.public.level != Level::Kabupaten {
            return Err(invalid(
                "pengesahan hanya di registri kabupaten/kota (registry init --level kabupaten); provinsi mengevaluasi usulan yang diteruskan",
                "pengesahan is made at a kabupaten/kota registry (registry init --level kabupaten); a province evaluates the proposals forwarded to it",
            ));
        }
        let decision = checked(decision)?;
        let families = self.selected(selection)?;
        let txn = self.db.begin()?;
        let done = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Operator)?;
            let mut done = Endorsed::default();
            let mut fresh = Vec::new();
            let watermark = t.counter(UPWARD_WATERMARK)?;
            for f in &families {
                let record = f.family.record;
                let endorsing = matches!(decision, Endorsement::Endorsed { .. });
                if endorsing && f.family.state != FamilyState::Accepted {
                    done.not_accepted.push(record);
                    continue;
                }
                let held = t.endorsement(record.as_u128())?;
                if held
                    .as_ref()
                    .is_some_and(|e| e.is_current(&f.family) && e.decision == decision)
                {
                    done.unchanged += 1;
                    continue;
                }
                let since = held.as_ref().and_then(|e| e.last_forwarded(watermark));
                fresh.push(EndorsementEntry {
                    record,
                    device: f.family.device,
                    seq: f.family.seq,
                    revision: f.family.revision,
                    decision: decision.clone(),
                    at: now,
                    actor: actor.clone(),
                    audit: 0,
                    position: None,
                    since,
                    received: None,
                });
            }
            if !fresh.is_empty() {
                let (action, detail) = match &decision {
                    Endorsement::Endorsed { minutes, date } => {
                        ("family.endorse", format!("minutes {minutes} of {date}"))
                    }
                    Endorsement::Held { reason, .. } => ("family.hold", format!("held: {reason}")),
                };
                let objects = fresh.iter().map(|e| format!("family:{}", e.record));
                let n =
                    self.audit_in(&mut t, &actor, now, action, objects.collect(), Some(detail))?;
                let mut last = t.counter(UPWARD_LAST)?;
                for mut e in fresh {
                    e.audit = n;
                    // A hold of a family the province has is a withdrawal, forwarded like an
                    // endorsement; a hold of one never forwarded stays here.
                    let endorsing = matches!(e.decision, Endorsement::Endorsed { .. });
                    done.withdrawing += u64::from(!endorsing && e.since.is_some());
                    if endorsing || e.since.is_some() {
                        last += 1;
                        e.position = Some(last);
                    }
                    t.put_endorsement(&e)?;
                    done.decided.push(e.record);
                }
                t.set_counter(UPWARD_LAST, last)?;
                done.audit = Some(n);
            }
            done
        };
        txn.commit()?;
        Ok(done)
    }

    /// The families a selection names (a family that does not exist is refused).
    pub(crate) fn selected(&self, selection: &Selection) -> Result<Vec<FamilyEntry>> {
        let mut out = Vec::new();
        match selection {
            Selection::Family(id) => {
                out.push(self.db.family(*id)?.ok_or_else(|| {
                    invalid(
                        format!("keluarga {id} tidak ada di registri ini"),
                        format!("family {id} is not in this registry"),
                    )
                })?);
            }
            Selection::Desa(code) => {
                let n = desa_number(code).ok_or_else(|| {
                    invalid(
                        format!("`{code}` bukan kode desa/kelurahan"),
                        format!("`{code}` is not a desa/kelurahan code"),
                    )
                })?;
                self.db.families_in_desa(n, |f| {
                    out.push(f.clone());
                    Ok(())
                })?;
            }
            Selection::All => {
                self.db.families(|f| {
                    out.push(f.clone());
                    Ok(())
                })?;
            }
        }
        Ok(out)
    }

    /// Every family's latest pengesahan decision, in record order.
    pub fn endorsements(&self) -> Result<Vec<EndorsementEntry>> {
        self.db.endorsements()
    }
}
