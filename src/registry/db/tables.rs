//! Every redb table of the registry store (`registry.redb`), in one place: since format 1 unless its
//! comment names a later one. Values are JSON documents of `registry::entries` or fixed-width tuples where a table
//! is large.

use redb::{MultimapTableDefinition, TableDefinition};

/// `format_version` (u32 JSON), `next_conflict` (u64 JSON), `imports` (u64 JSON).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Device id → DeviceEntry.
pub const DEVICES: TableDefinition<u128, &[u8]> = TableDefinition::new("devices");
/// Bundle id → BundleEntry: every bundle merged.
pub const BUNDLES: TableDefinition<u128, &[u8]> = TableDefinition::new("bundles");
/// SHA-256 of a bundle file (hex) → bundle id: the same file twice is recognised before decrypting.
pub const FILE_HASHES: TableDefinition<&str, u128> = TableDefinition::new("file_hashes");
/// Bundle id → PendingBundle: held (not merged) until its device is approved.
pub const PENDING: TableDefinition<u128, &[u8]> = TableDefinition::new("pending");
/// (device, first position) → last position: the parts of each device's change sequence received.
pub const COVERAGE: TableDefinition<(u128, u64), u64> = TableDefinition::new("coverage");
/// (device, sequence position) → the revision's exact JSON line from the bundle, zstd-compressed with the
/// line dictionary its frame names (`zstd -d -D schemas/dict/registry-lines-1.zdict` gives the line back
/// byte for byte; lines stored before 2026-11-30 have no dictionary: `zstd -d`).
pub const REVISIONS: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("revisions");
/// (record, device, revision number) → (sequence position, device time in ms, candidate): the final
/// revisions received. A candidate passed validation (or was released) and was not overruled.
pub const FINALS: TableDefinition<(u128, u128, u32), (u64, i64, bool)> =
    TableDefinition::new("finals");
/// Record → FamilyEntry: the current view of each family.
pub const FAMILIES: TableDefinition<u128, &[u8]> = TableDefinition::new("families");
/// Since format 2. (NIK as a number, record) → (): the records whose current revision lists the NIK (see [`crate::registry::entries::id_number`]).
pub const NIK_INDEX: TableDefinition<(u64, u128), ()> = TableDefinition::new("nik_index");
/// Since format 2. (KK number as a number, record) → (): the records whose current revision has it.
pub const KK_INDEX: TableDefinition<(u64, u128), ()> = TableDefinition::new("kk_index");
/// Since format 4. (desa code's digits as a number, record) → (): the families whose entry names that desa
/// (see [`crate::registry::entries::desa_number`]), so a work package reads only its desa's families.
pub const DESA_INDEX: TableDefinition<(u64, u128), ()> = TableDefinition::new("desa_index");
/// Format 1's indexes (text → records), read only to bring a store up to format 2.
pub(super) const NIKS_V1: MultimapTableDefinition<&str, u128> =
    MultimapTableDefinition::new("niks");
pub(super) const KKS_V1: MultimapTableDefinition<&str, u128> = MultimapTableDefinition::new("kks");

/// (device, sequence position) → QuarantineEntry.
pub const QUARANTINE: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("quarantine");
/// Conflict id → Conflict.
pub const CONFLICTS: TableDefinition<u64, &[u8]> = TableDefinition::new("conflicts");
/// Conflict key (`nik:…`, `kk:…`, `record:…`) → the id of the latest conflict on it.
pub const CONFLICT_KEYS: TableDefinition<&str, u64> = TableDefinition::new("conflict_keys");
/// Record → ids of the open conflicts it is in.
pub const OPEN_BY_RECORD: MultimapTableDefinition<u128, u64> =
    MultimapTableDefinition::new("open_by_record");
/// Attachments (photos) of merged bundles: SHA-256 (hex) → bytes.
pub const ATTACHMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("attachments");
/// Since format 3. Package id → PackageEntry: work packages issued.
pub const PACKAGES: TableDefinition<u128, &[u8]> = TableDefinition::new("packages");
/// Since format 3. Record → the id of the open package it is in (a family is in at most one).
pub const PACKAGED: TableDefinition<u128, u128> = TableDefinition::new("packaged");
/// Since format 3. Record → (the family it was merged into as an update, the base hash its revisions
/// count from).
pub const ALIASES: TableDefinition<u128, (u128, &str)> = TableDefinition::new("aliases");
/// Since format 3. Family → the records merged into it.
pub const ALIASED: MultimapTableDefinition<u128, u128> = MultimapTableDefinition::new("aliased");
/// Import number → ImportEntry (summary and the report snapshot after it).
pub const IMPORTS: TableDefinition<u64, &[u8]> = TableDefinition::new("imports");
/// Since format 4. Operator name → OperatorEntry.
pub const OPERATORS: TableDefinition<&str, &[u8]> = TableDefinition::new("operators");
/// Since format 4. Number → AuditEntry: who decided or imported what, in order.
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Since format 6. Record → EndorsementEntry: a kabupaten/kota's latest pengesahan decision on the family.
pub const ENDORSEMENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("endorsements");
/// Since format 6. Bundle id → `Custody::to_bytes`: the signed manifest, its signature and the line
/// hashes of each device bundle of format 2 merged (what forwarding carries upward).
pub const CUSTODY: TableDefinition<u128, &[u8]> = TableDefinition::new("custody");
/// Since format 6. Record → EvaluationEntry: a province's latest evaluation of a forwarded family.
pub const EVALUATIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("evaluations");
