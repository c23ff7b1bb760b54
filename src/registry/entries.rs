//! What the registry keeps, as documents: devices, bundles merged and held, families, quarantined
//! revisions, conflicts and import runs. Any storage holds these (the redb store as JSON documents); add
//! fields with defaults, never change meanings.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::family::Family;
use crate::bundle::manifest::{Counts, ExportKind, SeqRange};
use crate::model::Localized;

/// A NIK or KK number (16 digits) as the indexes key it: a fixed-width number compares and stores
/// faster than its text. `None` for anything else (only well-formed numbers are indexed).
pub fn id_number(text: &str) -> Option<u64> {
    if text.len() == 16 && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// A desa code as the desa index keys it: its digits (`64.72.01.1001` → 6472011001). `None` when it has
/// no digits or more than a u64 holds (not a region code: such a family is in no desa a package can name).
pub fn desa_number(code: &str) -> Option<u64> {
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Seen in a bundle, not yet trusted: its bundles are held.
    Pending,
    Approved,
    /// Its bundles are refused.
    Revoked,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Pending => "pending",
            DeviceState::Approved => "approved",
            DeviceState::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub id: Uuid,
    pub name: String,
    /// Ed25519 public key (hex) the device signs with.
    pub public_key: String,
    pub state: DeviceState,
    pub first_seen: DateTime<FixedOffset>,
    pub changed_at: DateTime<FixedOffset>,
    /// The device's age recipient (`age1…`) from its newest bundle: work packages are encrypted to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_recipient: Option<String>,
    /// A kabupaten/kota registry enrolled at a province: the region it was enrolled for, pinned (its
    /// later bundles must name the same). `None` for tablets (and entries older than it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wilayah: Option<String>,
}

/// What one bundle's merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeCounts {
    /// Revisions newly stored (finals that passed validation, and corrections kept as history).
    pub accepted: u64,
    /// Revisions the registry already had.
    pub duplicates: u64,
    pub quarantined: u64,
    /// Conflicts opened (or reopened) by this bundle.
    pub conflicts: u64,
    /// Positions the registry already had with different contents (a reset or forged tablet): not
    /// stored, reported for an operator.
    #[serde(default)]
    pub mismatched: u64,
}

impl MergeCounts {
    pub fn add(&mut self, o: &MergeCounts) {
        self.accepted += o.accepted;
        self.duplicates += o.duplicates;
        self.quarantined += o.quarantined;
        self.conflicts += o.conflicts;
        self.mismatched += o.mismatched;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleEntry {
    pub bundle_id: Uuid,
    pub device: Uuid,
    pub file_name: String,
    pub file_sha256: String,
    pub sequence: SeqRange,
    pub kind: ExportKind,
    pub created_at: DateTime<FixedOffset>,
    pub imported_at: DateTime<FixedOffset>,
    pub counts: Counts,
    pub merged: MergeCounts,
    /// SHA-256 of the signed manifest's bytes: a later file reusing the bundle id with another
    /// manifest is a forgery, not the same bundle. (Absent in entries older than it.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingBundle {
    pub bundle_id: Uuid,
    pub device: Uuid,
    /// Where the held copy lives, relative to the registry folder.
    pub file: String,
    pub file_sha256: String,
    pub sequence: SeqRange,
    pub received_at: DateTime<FixedOffset>,
}

/// The registry's view of a family plus what keeps its indexes right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyEntry {
    pub family: Family,
    /// NIKs and KK number of the current revision, as indexed.
    #[serde(default)]
    pub niks: Vec<String>,
    #[serde(default)]
    pub kk: Option<String>,
    /// The report's facts about the current revision.
    #[serde(default)]
    pub facts: Option<super::facts::Facts>,
    /// The current revision's hash (`package::revision_hash`), when the merge that made it current
    /// read it from a bundle: a work package and a visit's merge take it from here instead of
    /// reading, parsing and serializing the revision again. Absent in entries written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_hash: Option<String>,
}

/// Why a revision is held: a stable code, where in the answers, and a message in both languages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    #[serde(default)]
    pub path: String,
    pub message: Localized,
}

impl Reason {
    pub fn new(code: &str, path: &str, id: impl Into<String>, en: impl Into<String>) -> Reason {
        Reason {
            code: code.into(),
            path: path.into(),
            message: Localized::new(id, en),
        }
    }

    /// One line for a receipt or a listing: `anggota[1].nik: NIK harus 16 digit`.
    pub fn localized(&self) -> Localized {
        if self.path.is_empty() {
            self.message.clone()
        } else {
            Localized::new(
                format!("{}: {}", self.path, self.message.id),
                format!("{}: {}", self.path, self.message.en),
            )
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineState {
    /// Waits for an operator; the tablet is told it was rejected.
    Open,
    /// An operator let it in despite the reasons.
    Released,
    /// An operator confirmed the rejection (or a conflict decision overruled it).
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub device: Uuid,
    pub seq: u64,
    pub record: Uuid,
    pub revision: u32,
    pub bundle: Uuid,
    pub reasons: Vec<Reason>,
    pub state: QuarantineState,
    pub held_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub decided_at: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// One family (record) revised on two devices.
    TwoDevices,
    /// One NIK in two families.
    SharedNik,
    /// One KK number in two families.
    SharedKk,
    /// A visit (from a work package) of a family that changed at the registry since the package's
    /// base, or two visits of the same base: an operator compares the versions.
    Update,
}

impl ConflictKind {
    /// Whether its members are revisions of one family (decided by keeping one revision), not
    /// different families sharing a number.
    pub fn is_one_family(self) -> bool {
        matches!(self, ConflictKind::TwoDevices | ConflictKind::Update)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::TwoDevices => "two_devices",
            ConflictKind::SharedNik => "shared_nik",
            ConflictKind::SharedKk => "shared_kk",
            ConflictKind::Update => "update",
        }
    }
}

/// One revision taking part in a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Member {
    pub record: Uuid,
    pub device: Uuid,
    pub revision: u32,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    /// The operator kept this revision; the others were overruled.
    Kept { member: Member },
    /// The operator confirmed these are different families (for the members listed).
    Distinct,
    /// Nothing is shared any more (a later revision fixed it).
    Dissolved,
    /// The operator found the two are one family: `merged` (entered as new) became an update of
    /// `kept` (the registry's family).
    Same { kept: Uuid, merged: Uuid },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: u64,
    pub kind: ConflictKind,
    /// The NIK, the KK number or the record id they share.
    pub key: String,
    pub members: Vec<Member>,
    pub detected_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub decision: Option<Decision>,
    #[serde(default)]
    pub decided_at: Option<DateTime<FixedOffset>>,
}

impl Conflict {
    pub fn is_open(&self) -> bool {
        self.decision.is_none()
    }

    pub fn table_key(kind: ConflictKind, key: &str) -> String {
        match kind {
            ConflictKind::TwoDevices => format!("record:{key}"),
            ConflictKind::SharedNik => format!("nik:{key}"),
            ConflictKind::SharedKk => format!("kk:{key}"),
            ConflictKind::Update => format!("update:{key}"),
        }
    }
}

/// One `registry import` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportEntry {
    pub number: u64,
    pub at: DateTime<FixedOffset>,
    pub bundles: u64,
    pub merged: MergeCounts,
    /// The report's snapshot after this import ("changes since the previous import").
    #[serde(default)]
    pub snapshot: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageState {
    /// Issued: its families are out for a visit.
    Open,
    /// Withdrawn by an operator: its families may go into another package.
    Cancelled,
}

/// A work package issued to a device (`registry::package`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageEntry {
    pub package_id: Uuid,
    pub device: Uuid,
    pub desa: Vec<String>,
    pub created_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub due: Option<chrono::NaiveDate>,
    pub expires: chrono::NaiveDate,
    #[serde(default)]
    pub note: Option<String>,
    /// The file written (its name, as on the stick).
    pub file_name: String,
    /// The families it lists, with the hash of the revision each is based on.
    pub families: Vec<(Uuid, String)>,
    pub state: PackageState,
    #[serde(default)]
    pub changed_at: Option<DateTime<FixedOffset>>,
}

/// What an operator may do (`registry::operators`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Imports and decides (devices, quarantine, conflicts, packages).
    Operator,
    /// Also adds and disables operators, revokes devices and discards a revoked device's bundles.
    Supervisor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
        }
    }
}

/// A person who signs in to the registry (since format 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorEntry {
    pub name: String,
    pub role: Role,
    /// The passphrase as an argon2id PHC string; never the passphrase itself.
    pub passphrase_hash: String,
    pub enabled: bool,
    pub created_at: DateTime<FixedOffset>,
    pub changed_at: DateTime<FixedOffset>,
}

/// Who made a decision: a signed-in operator, or (while the registry has no operators) the computer's
/// account that ran the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Actor {
    Operator { name: String, role: Role },
    Account { name: String },
}

impl Actor {
    pub fn name(&self) -> &str {
        match self {
            Actor::Operator { name, .. } | Actor::Account { name } => name,
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Operator { name, role } => write!(f, "{name} ({})", role.as_str()),
            Actor::Account { name } => write!(f, "account {name}"),
        }
    }
}

/// One line of the audit trail (since format 4): who did what to which objects, and why. Objects are
/// ids (device, bundle, family record, conflict, package), never names or identity numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub number: u64,
    pub at: DateTime<FixedOffset>,
    pub actor: Actor,
    /// A stable code: `device.approve`, `conflict.keep`, `import`, …
    pub action: String,
    pub objects: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Counts and outcomes (an import's files merged, held, refused), no personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a kabupaten/kota decided about forwarding a family (pengesahan, since format 6): endorsed with
/// the reference and date of the musyawarah desa/kelurahan minutes (berita acara), or held back with a
/// reason. One per family, the latest; every decision is also a line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndorsementEntry {
    pub record: Uuid,
    /// The family's current revision when it was decided (device, sequence position, number): a later
    /// revision needs a new decision.
    pub device: Uuid,
    pub seq: u64,
    pub revision: u32,
    pub decision: Endorsement,
    pub at: DateTime<FixedOffset>,
    pub actor: Actor,
    /// The audit line that records it.
    pub audit: u64,
    /// An endorsement's position in the kabupaten's upward sequence (1, 2, …): what `registry forward`
    /// selects by, as a tablet's export selects by its change sequence. A hold has one only when the
    /// family was forwarded before: the province is told it is withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// The family's revision (device, sequence position) last forwarded before this decision, if any:
    /// forwarding sends the family's revisions after it (`registry::forward`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<(Uuid, u64)>,
    /// At a province: when the upward bundle that brought this decision was imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<DateTime<FixedOffset>>,
}

/// A kabupaten/kota's decision about forwarding a family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Endorsement {
    /// Approved for forwarding to the province (disahkan).
    Endorsed {
        /// The reference of the minutes (nomor berita acara).
        minutes: String,
        /// The date of the musyawarah desa/kelurahan.
        date: chrono::NaiveDate,
    },
    /// Held back (ditahan), with the reason (and the minutes of the meeting that decided it, if
    /// any). Of a family forwarded before, the province is told it is withdrawn.
    Held {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minutes: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        date: Option<chrono::NaiveDate>,
    },
}

impl EndorsementEntry {
    /// Whether it still speaks for the family's current revision.
    pub fn is_current(&self, f: &Family) -> bool {
        self.device == f.device && self.seq == f.seq
    }

    /// The family's revision last forwarded, counting this decision's own if it was forwarded
    /// (an endorsement at a position up to `watermark`).
    pub fn last_forwarded(&self, watermark: u64) -> Option<(Uuid, u64)> {
        let sent = matches!(self.decision, Endorsement::Endorsed { .. })
            && self.position.is_some_and(|p| p <= watermark);
        if sent {
            Some((self.device, self.seq))
        } else {
            self.since
        }
    }
}

/// What a registry keeps of each device bundle of format 2 it merged (since registry format 6): the
/// manifest's exact bytes, the device's signature of them and the SHA-256 of each revision line. With a
/// revision's line bytes (kept as the tablet sent them), it proves the line was signed by its device:
/// a kabupaten forwards it to the province with the revisions it endorsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custody {
    pub manifest: Vec<u8>,
    pub signature: [u8; 64],
    /// 32 bytes per line, in line order.
    pub line_hashes: Vec<u8>,
}

impl Custody {
    /// `u32 LE manifest length, manifest, 64-byte signature, line hashes`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.manifest.len() + 64 + self.line_hashes.len());
        let len = u32::try_from(self.manifest.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.manifest);
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(&self.line_hashes);
        out
    }

    /// The inverse of [`Custody::to_bytes`]; `None` for bytes it did not make.
    pub fn from_bytes(b: &[u8]) -> Option<Custody> {
        let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        let manifest = b.get(4..4usize.checked_add(len)?)?.to_vec();
        let rest = b.get(4 + len..)?;
        let signature: [u8; 64] = rest.get(..64)?.try_into().ok()?;
        let line_hashes = rest.get(64..)?.to_vec();
        (line_hashes.len() % 32 == 0).then_some(Custody {
            manifest,
            signature,
            line_hashes,
        })
    }

    /// Whether a line (without its newline) is one of the signed lines.
    pub fn lists(&self, line: &[u8]) -> bool {
        use sha2::Digest as _;
        let h = sha2::Sha256::digest(line);
        self.line_hashes.chunks_exact(32).any(|c| c == h.as_slice())
    }
}

/// The province's evaluation of a family a kabupaten/kota forwarded (since format 6): accepted, or
/// returned with a reason. One per family, the latest; every decision is also a line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationEntry {
    pub record: Uuid,
    /// The revision evaluated (device, sequence position).
    pub device: Uuid,
    pub seq: u64,
    pub decision: Evaluation,
    pub at: DateTime<FixedOffset>,
    pub actor: Actor,
    pub audit: u64,
}

/// The province's decision on a forwarded family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Evaluation {
    Accepted,
    Returned { reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pengesahan decisions stored by registry format 6 before withdrawals (no `since`, no `received`,
    /// a hold without minutes) still read, as what they were.
    #[test]
    fn endorsements_stored_before_withdrawals_still_read() {
        let held = r#"{"record":"0193a5b0-0000-7000-8000-000000000001","device":"0193a5b0-0000-7000-8000-000000000002","seq":7,"revision":2,"decision":{"kind":"held","reason":"cek"},"at":"2026-11-30T10:00:00+08:00","actor":{"kind":"account","name":"ana"},"audit":3}"#;
        let e: EndorsementEntry = serde_json::from_str(held).unwrap();
        assert_eq!(
            e.decision,
            Endorsement::Held {
                reason: "cek".into(),
                minutes: None,
                date: None
            }
        );
        assert_eq!((e.position, e.since, e.received), (None, None, None));
        assert_eq!(e.last_forwarded(10), None);
        let endorsed = held
            .replace(
                r#"{"kind":"held","reason":"cek"}"#,
                r#"{"kind":"endorsed","minutes":"BA/1","date":"2026-11-30"}"#,
            )
            .replace(r#""audit":3}"#, r#""audit":3,"position":4}"#);
        let e: EndorsementEntry = serde_json::from_str(&endorsed).unwrap();
        assert_eq!(e.position, Some(4));
        // Forwarded once the watermark passed its position: the revision the next decision starts after.
        assert_eq!(e.last_forwarded(3), None);
        assert_eq!(e.last_forwarded(4), Some((e.device, 7)));
        // Written back as it was read: no new fields appear for an old entry.
        assert_eq!(serde_json::to_string(&e).unwrap(), endorsed);
    }
}
