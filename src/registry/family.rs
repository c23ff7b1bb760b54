//! What the registry holds about one family, as its outputs (CSV/XLSX export, reports) see it. Pure data:
//! the registry store fills these in; the outputs never touch redb.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a family stands in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FamilyState {
    /// Its current revision passed validation and is in no open conflict.
    Accepted,
    /// Its current revision is valid but waits for an operator's decision (same NIK or KK in another
    /// family, or revised by two devices).
    Conflict,
    /// None of its revisions is accepted: each failed validation (waiting in quarantine, or rejected)
    /// or was overruled by a conflict decision. Reports call it "Tidak diterima / Not accepted";
    /// "quarantine" (`registry quarantine list`) means only revisions waiting for an operator.
    Quarantined,
}

impl FamilyState {
    pub const ALL: [FamilyState; 3] = [
        FamilyState::Accepted,
        FamilyState::Conflict,
        FamilyState::Quarantined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FamilyState::Accepted => "accepted",
            FamilyState::Conflict => "conflict",
            FamilyState::Quarantined => "quarantined",
        }
    }
}

/// The registry's facts about a family's current revision (its answers travel next to it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Family {
    pub record: Uuid,
    pub state: FamilyState,
    /// The device that made the current revision, its revision number and sequence position there.
    pub device: Uuid,
    pub revision: u32,
    pub seq: u64,
    pub petugas: String,
    /// Device time of the current revision.
    pub at: DateTime<FixedOffset>,
    pub form_id: String,
    pub form_version: u64,
}
