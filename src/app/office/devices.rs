//! The office's devices: every tablet the registry has seen (pending, approved, revoked) with what an
//! operator compares before trusting it (the key fingerprint the tablet's Settings and `pendata device`
//! show), and the decisions on it: approve, revoke, discard a revoked device's held bundles. Each
//! decision is recorded with the signed-in operator and the reason given (`Registry::session`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::Office;
use super::session::Result;
use crate::bundle::keys::key_fingerprint;
use crate::bundle::short;
use crate::model::printable::clean;
pub use crate::registry::DeviceState;

/// One device as the Devices screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub id: Uuid,
    /// The id as printed everywhere (`bundle::short`).
    pub short: String,
    pub name: String,
    pub state: DeviceState,
    /// The key fingerprint, in the form the tablet shows it.
    pub fingerprint: String,
    /// The region a kabupaten/kota registry was enrolled for at a province (none for a tablet).
    pub wilayah: Option<String>,
    /// Petugas codes seen in the families it sent.
    pub petugas: Vec<String>,
    pub first_seen: DateTime<FixedOffset>,
    /// When its first and last merged bundles were made.
    pub first_bundle: Option<DateTime<FixedOffset>>,
    pub last_bundle: Option<DateTime<FixedOffset>>,
    pub bundles: usize,
    /// Bundles held until a decision, and when the first of them arrived.
    pub held: usize,
    pub held_since: Option<DateTime<FixedOffset>>,
}

/// Every device, pending first, then approved, then revoked, by name. Reads every family once (the
/// petugas seen): run it in a background task.
pub fn list(office: &Office) -> Result<Vec<DeviceRow>> {
    let reg = office.read();
    let bundles = reg.bundles()?;
    let pending = reg.pending_bundles()?;
    let mut petugas: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
    reg.family_entries(|f| {
        petugas
            .entry(f.family.device)
            .or_default()
            .insert(clean(&f.family.petugas).into_owned());
    })?;
    let mut rows: Vec<DeviceRow> = reg
        .devices()?
        .into_iter()
        .map(|d| {
            let mine = bundles.iter().filter(|b| b.device == d.id);
            DeviceRow {
                id: d.id,
                short: short(d.id),
                name: clean(&d.name).into_owned(),
                state: d.state,
                fingerprint: key_fingerprint(&d.public_key),
                wilayah: crate::registry::upward_import::region(&d),
                petugas: petugas
                    .remove(&d.id)
                    .map(|s| s.into_iter().collect())
                    .unwrap_or_default(),
                first_seen: d.first_seen,
                first_bundle: mine.clone().map(|b| b.created_at).min(),
                last_bundle: mine.clone().map(|b| b.created_at).max(),
                bundles: mine.count(),
                held: pending.iter().filter(|p| p.device == d.id).count(),
                held_since: pending
                    .iter()
                    .filter(|p| p.device == d.id)
                    .map(|p| p.received_at)
                    .min(),
            }
        })
        .collect();
    let order = |s: DeviceState| match s {
        DeviceState::Pending => 0,
        DeviceState::Approved => 1,
        DeviceState::Revoked => 2,
    };
    rows.sort_by(|a, b| (order(a.state), &a.name).cmp(&(order(b.state), &b.name)));
    Ok(rows)
}

/// A decision on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Revoke,
    /// Discard the bundles held from a revoked device.
    DiscardHeld,
}

/// What a decision did, for the screen's message: the device's new state and how many bundles it
/// merged (approve) or discarded.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub state: DeviceState,
    pub bundles: usize,
}

/// Makes `decision` on `device` with `reason`, recorded with the signed-in operator.
pub fn decide(
    office: &Office,
    device: Uuid,
    decision: Decision,
    reason: &str,
    now: DateTime<FixedOffset>,
) -> Result<Decided> {
    let mut reg = office.write();
    let reason = clean(reason.trim()).chars().take(500).collect::<String>();
    reg.session.reason = (!reason.is_empty()).then_some(reason);
    let id = device.simple().to_string();
    let out = match decision {
        Decision::Approve => reg.approve(&id, now).map(|(d, merged)| Decided {
            state: d.state,
            bundles: merged.len(),
        }),
        Decision::Revoke => reg.revoke(&id, now).map(|d| Decided {
            state: d.state,
            bundles: 0,
        }),
        Decision::DiscardHeld => reg.discard_held(&id, now).map(|gone| Decided {
            state: DeviceState::Revoked,
            bundles: gone.len(),
        }),
    };
    reg.session.reason = None;
    Ok(out?)
}
