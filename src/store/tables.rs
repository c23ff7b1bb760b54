//! Every redb table of the device store, in one place. Values are JSON documents of the types in
//! `store::types` (compatibility promises: add fields with defaults, never change meanings).

use redb::{MultimapTableDefinition, TableDefinition};

/// `format_version` (u32 as JSON), `device` (DeviceInfo), `device_secret` (32 bytes), `last_export` (u64),
/// `device_age` (the age identity, text; since format 6).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Record id (UUIDv7 as u128) → RecordHead: the current view.
pub const RECORDS: TableDefinition<u128, &[u8]> = TableDefinition::new("records");

/// (newest change first, newest id first) → [`ListValue`]: the family list index (`store::list`),
/// derived from the heads. Since format 3; the sequence position since format 8.
pub const LIST: TableDefinition<(u64, u128), ListValue> = TableDefinition::new("list");

/// A row of the list index: (status code, sequence position of the head's latest revision, head's
/// name, KK, desa, address).
pub type ListValue = (
    u8,
    u64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// The list index as formats 3 to 7 wrote it (no sequence position): only deleted, by the migration
/// to format 8, which rebuilds it from the heads.
#[expect(
    clippy::type_complexity,
    reason = "a table definition spells out its key and value types"
)]
pub const LIST_V7: TableDefinition<(u64, u128), (u8, &str, &str, &str, &str)> =
    TableDefinition::new("list");

/// (record id, revision number from 1) → Revision: the append-only history.
pub const REVISIONS: TableDefinition<(u128, u32), &[u8]> = TableDefinition::new("revisions");

/// (record id, revision number) → action code (1 finalized, 2 corrected): the revisions that matter to
/// an export, so that it need not read a record's autosaves to find them. Since format 4.
pub const MILESTONES: TableDefinition<(u128, u32), u8> = TableDefinition::new("milestones");

/// Sequence position of a finalized revision → (record id, revision number, the lines an export
/// carries for it): the `Corrected` revisions of the record since its previous finalizing, oldest
/// first, then the finalized revision, each as the exact bytes `REVISIONS` holds, preceded by its
/// length (u32, little-endian) and its SHA-256 (since format 8: the bundle's line hash, made once). The export reads this one table as a range in sequence order: the
/// lines sit together, apart from the drafts and autosaves interleaved with them in `REVISIONS` (a
/// lookup per family into the whole history read 1.3 GB for 363 MB of lines at 100,000 families).
/// Written with the finalized revision, in the same transaction; never changed after, removed only
/// with a purged record. Since format 7.
pub const OUTBOX: TableDefinition<u64, (u128, u32, &[u8])> = TableDefinition::new("outbox");

/// First sequence position of a frame → (its last position, its index, one zstd frame of its lines): a
/// run of consecutive `OUTBOX` entries kept a second time, compressed, for the export to copy whole
/// (`store::frames`). Written in the transaction that finalizes the revision which fills one; dropped
/// with a purged family's entries. Since format 9.
pub const FRAMES: TableDefinition<u64, (u64, &[u8], &[u8])> = TableDefinition::new("frames");

/// Device change sequence (gap-free, from 1) → (record id, revision number).
pub const SEQUENCE: TableDefinition<u64, (u128, u32)> = TableDefinition::new("sequence");

/// Petugas code → Petugas.
pub const PETUGAS: TableDefinition<&str, &[u8]> = TableDefinition::new("petugas");

/// SHA-256 (hex) → attachment bytes.
pub const ATTACHMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("attachments");

/// Search term (normalised word, NIK, KK) → record ids.
pub const SEARCH: MultimapTableDefinition<&str, u128> = MultimapTableDefinition::new("search");

/// Bundle id (UUIDv7 as u128) → ExportLog: every bundle written, for the home screen and re-exports.
/// Created by the first export; absent in stores that never exported.
pub const EXPORTS: TableDefinition<u128, &[u8]> = TableDefinition::new("exports");

/// Receipt id → ReceiptLog: receipts applied (a receipt applies once).
pub const RECEIPTS: TableDefinition<u128, &[u8]> = TableDefinition::new("receipts");

/// Record id → PurgedRecord: accepted records removed from the tablet. Their sequence entries stay, so
/// the sequence keeps its numbers; readers skip them.
pub const PURGED: TableDefinition<u128, &[u8]> = TableDefinition::new("purged");

/// (record id, revision number, bundle id) → nothing: a final revision went out in that bundle. The
/// record's status is then Exported (a final head whose current revision is listed here reads as
/// Exported), and its export events are read from here and `EXPORTS`. Kept apart from the heads so that
/// marking a bundle of 100,000 families writes one small key each instead of rewriting every head.
/// Since format 5.
pub const EXPORTED: TableDefinition<(u128, u32, u128), ()> = TableDefinition::new("exported");

/// Package id → PackageLog: work packages applied (a package applies once). Since format 6.
pub const PACKAGES: TableDefinition<u128, &[u8]> = TableDefinition::new("packages");
