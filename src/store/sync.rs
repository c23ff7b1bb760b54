//! The store's side of sync: which revisions go into a bundle, marking them exported once the bundle is
//! verified on the stick, applying the registry's receipts, and purging accepted families. The bundle
//! format itself lives in `bundle`; `app` joins the two.

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, TableError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::frames::Outgoing;
use super::tables::{
    ATTACHMENTS, EXPORTED, EXPORTS, LIST, META, MILESTONES, OUTBOX, PURGED, RECEIPTS, RECORDS,
    REVISIONS, SEARCH, SEQUENCE,
};
use super::{RecordHead, Result, Status, StatusEvent, Store, StoreError, decode};
use crate::model::Localized;
use crate::model::record::{Action, attachment_refs};

/// The META key of the export watermark: the last sequence position an incremental export covered.
const WATERMARK: &str = "last_export";

/// One bundle written to a stick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportLog {
    pub bundle_id: Uuid,
    pub file: String,
    pub from: u64,
    pub to: u64,
    /// `incremental`, `all` or `range`.
    pub kind: String,
    pub at: DateTime<FixedOffset>,
    pub by: String,
    pub records: u64,
    pub revisions: u64,
    pub attachments: u64,
    pub size: u64,
    pub sha256: String,
    /// Its families were marked by the watermark (store format 8 on): their export events come from
    /// this log's positions. Before, each family got a key in the export table.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_position: bool,
}

/// A revision chosen for export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportItem {
    pub record: Uuid,
    pub revision: u32,
    pub seq: u64,
    /// When the revision was made (read from its bytes; `None` if they are not in this build's shape).
    pub at: Option<DateTime<FixedOffset>>,
}

/// What marking did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Marked {
    /// Final → Exported.
    pub exported: u64,
    /// Exported again (a re-export); the status stays.
    pub again: u64,
    /// Changed since the bundle was read (corrected, or already decided): left as they are.
    pub unchanged: u64,
}

/// One receipt as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLog {
    pub receipt_id: Uuid,
    pub registry: String,
    pub created_at: DateTime<FixedOffset>,
    pub applied_at: DateTime<FixedOffset>,
    pub outcome: ReceiptOutcome,
}

/// What a receipt changed on the tablet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptOutcome {
    pub accepted: u64,
    pub rejected: u64,
    /// Already in the state the receipt asks for (a receipt overlapping an earlier one).
    pub unchanged: u64,
    /// Rejections of a revision the petugas has since corrected: the newer revision stands.
    pub stale: u64,
    /// Rejections naming a record or revision this tablet does not have.
    pub unknown: u64,
    /// Records rejected by this receipt (to show and jump to).
    #[serde(default)]
    pub rejected_records: Vec<Uuid>,
}

/// A registry decision to apply: (record, revision, seq, reasons).
pub struct RejectionIn<'a> {
    pub record: Uuid,
    pub revision: u32,
    pub seq: u64,
    pub reasons: &'a [Localized],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PurgedRecord {
    purged_at: DateTime<FixedOffset>,
    revisions: u32,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub records: u64,
    pub revisions: u64,
    pub attachments: u64,
    pub attachment_bytes: u64,
}

/// Reads a table that older stores may not have yet.
pub(super) fn optional<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct SeqAction {
    seq: u64,
    action: Action,
}

#[derive(Deserialize)]
struct ActionOnly {
    action: Action,
}

/// The parts of a stored head that marking reads, borrowed from its bytes.
#[derive(Deserialize)]
struct HeadView<'a> {
    id: Uuid,
    status: Status,
    revision: u32,
    #[serde(default)]
    seq: u64,
    updated_at: DateTime<FixedOffset>,
    #[serde(borrow)]
    summary: SummaryView<'a>,
}

#[derive(Deserialize)]
struct SummaryView<'a> {
    #[serde(borrow, default)]
    head_name: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    no_kk: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    desa: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    address: std::borrow::Cow<'a, str>,
}

/// The export watermark as a read transaction sees it (0 before the first export).
pub(super) fn read_watermark(txn: &redb::ReadTransaction) -> Result<u64> {
    watermark_in(&txn.open_table(META)?)
}

/// The export watermark in an open META table.
pub(super) fn watermark_in(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64> {
    Ok(match meta.get(WATERMARK)? {
        Some(v) => decode(v.value(), "export watermark")?,
        None => 0,
    })
}

/// What makes a final head Exported, as one transaction sees it. An incremental or full export covers
/// every sequence position up to its end and moves the watermark there (since format 8 that is how it
/// marks its families: one value, not a row per family), so a final head whose latest revision sits at
/// or below the watermark went out. A `range` export, and the exports of formats 5 to 7, put a key per
/// revision in the export table instead.
pub(super) struct Marks<T> {
    pub(super) exported: T,
    pub(super) watermark: u64,
}

impl Marks<redb::ReadOnlyTable<(u128, u32, u128), ()>> {
    pub(super) fn read(txn: &redb::ReadTransaction) -> Result<Self> {
        Ok(Marks {
            exported: txn.open_table(EXPORTED)?,
            watermark: read_watermark(txn)?,
        })
    }
}

impl<'t> Marks<redb::Table<'t, (u128, u32, u128), ()>> {
    pub(super) fn write(txn: &'t redb::WriteTransaction) -> Result<Self> {
        let watermark = watermark_in(&txn.open_table(META)?)?;
        Ok(Marks {
            exported: txn.open_table(EXPORTED)?,
            watermark,
        })
    }
}

impl<T: ReadableTable<(u128, u32, u128), ()>> Marks<T> {
    /// Whether revision `revision` of record `id`, at sequence position `seq` (0: unknown), went out in
    /// a bundle.
    pub(super) fn is_exported(&self, id: u128, revision: u32, seq: u64) -> Result<bool> {
        Ok((seq != 0 && seq <= self.watermark) || is_exported(&self.exported, id, revision)?)
    }
}

/// Whether revision `revision` of record `id` has a key in the export table.
pub(super) fn is_exported(
    exported: &impl ReadableTable<(u128, u32, u128), ()>,
    id: u128,
    revision: u32,
) -> Result<bool> {
    Ok(exported
        .range((id, revision, 0)..=(id, revision, u128::MAX))?
        .next()
        .transpose()?
        .is_some())
}

/// Sets a final head's status to Exported when its current revision went out in a bundle.
pub(super) fn effective_status(
    head: &mut RecordHead,
    marks: &Marks<impl ReadableTable<(u128, u32, u128), ()>>,
) -> Result<()> {
    if head.status == Status::Final
        && marks.is_exported(head.id.as_u128(), head.revision, head.seq)?
    {
        head.status = Status::Exported;
    }
    Ok(())
}

/// The export log as the heads' events need it, read once for many heads: every bundle by id, and
/// the exports marked by the watermark (format 8 on) in a list.
pub(super) struct ExportEvents<'t> {
    txn: &'t redb::ReadTransaction,
    logs: std::collections::HashMap<u128, ExportLog>,
    by_position: Vec<ExportLog>,
}

impl<'t> ExportEvents<'t> {
    pub(super) fn read(txn: &'t redb::ReadTransaction) -> Result<ExportEvents<'t>> {
        let mut logs = std::collections::HashMap::new();
        let mut by_position = Vec::new();
        if let Some(t) = optional(txn, EXPORTS)? {
            for entry in t.iter()? {
                let (k, v) = entry?;
                let log: ExportLog = decode(v.value(), "export log")?;
                // Older exports marked each family with a key (or in the head): their events come
                // from there, not twice.
                if log.by_position {
                    by_position.push(log.clone());
                }
                logs.insert(k.value(), log);
            }
        }
        Ok(ExportEvents {
            txn,
            logs,
            by_position,
        })
    }

    /// Adds a record's exports to its events, in time order, for a head shown to a person (never
    /// stored): the bundles its export-table keys name, and the exports marked by the watermark whose
    /// positions cover one of its finalized revisions.
    pub(super) fn add_to(&self, head: &mut RecordHead) -> Result<()> {
        if self.logs.is_empty() {
            return Ok(());
        }
        let id = head.id.as_u128();
        let mut bundles = Vec::new();
        let exported = self.txn.open_table(EXPORTED)?;
        for m in exported.range((id, 0, 0)..=(id, u32::MAX, u128::MAX))? {
            bundles.push(m?.0.value().2);
        }
        let mut events: Vec<&ExportLog> = bundles.iter().filter_map(|b| self.logs.get(b)).collect();
        if !self.by_position.is_empty() {
            let milestones = self.txn.open_table(MILESTONES)?;
            let revisions = self.txn.open_table(REVISIONS)?;
            for m in milestones.range((id, 1)..=(id, u32::MAX))? {
                let (k, code) = m?;
                if code.value() != MILESTONE_FINALIZED {
                    continue;
                }
                let Some(raw) = revisions.get(k.value())? else {
                    continue;
                };
                let seq = seq_of(raw.value())?;
                events.extend(
                    self.by_position
                        .iter()
                        .filter(|l| l.from <= seq && seq <= l.to),
                );
            }
        }
        for log in events {
            head.events.push(StatusEvent {
                status: Status::Exported,
                at: log.at,
                by: Some(log.file.clone()),
                reasons: Vec::new(),
            });
        }
        head.events.sort_by_key(|e| e.at);
        Ok(())
    }
}

/// The sequence position of a stored revision. Revisions are written with `seq` among their first
/// fields, so a look at the start of the bytes answers; anything else is parsed in full.
pub(super) fn seq_of(raw: &[u8]) -> Result<u64> {
    const KEY: &[u8] = b"\"seq\":";
    let head = raw.get(..raw.len().min(200)).unwrap_or(raw);
    if let Some(at) = head.windows(KEY.len()).position(|w| w == KEY) {
        let digits = raw
            .get(at + KEY.len()..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit());
        let mut n = 0u64;
        let mut any = false;
        for &d in digits {
            any = true;
            n = match n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
            {
                Some(n) => n,
                None => return Ok(decode::<SeqOnly>(raw, "revision")?.seq),
            };
        }
        if any {
            return Ok(n);
        }
    }
    Ok(decode::<SeqOnly>(raw, "revision")?.seq)
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// Problems of the export table: marks of revisions that are gone, or of bundles never logged.
pub(super) fn check_exported(txn: &redb::ReadTransaction) -> Result<Vec<String>> {
    let exported = txn.open_table(EXPORTED)?;
    let revisions = txn.open_table(REVISIONS)?;
    let logs = optional(txn, EXPORTS)?;
    let mut problems = Vec::new();
    for m in exported.iter()? {
        let (id, n, bundle) = m?.0.value();
        if revisions.get((id, n))?.is_none() {
            problems.push(format!(
                "record {}: exported revision {n} is missing",
                Uuid::from_u128(id)
            ));
        }
        let logged = match &logs {
            Some(l) => l.get(bundle)?.is_some(),
            None => false,
        };
        if !logged {
            problems.push(format!(
                "bundle {} marks records but is not in the export log",
                Uuid::from_u128(bundle)
            ));
        }
    }
    Ok(problems)
}

/// When a stored revision was made, read from the end of its bytes: this build writes `at` after the
/// answers, followed only by `reason`, `acknowledged` and `base` (whose keys are not `at`), whose strings escape every quote — so the last
/// `"at":"` is the revision's own, whatever keys the answers use. `None` when not found or unreadable.
pub(super) fn made_at(raw: &[u8]) -> Option<DateTime<FixedOffset>> {
    const KEY: &[u8] = b"\"at\":\"";
    let start = raw.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let rest = raw.get(start..)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    DateTime::parse_from_rfc3339(std::str::from_utf8(rest.get(..end)?).ok()?).ok()
}

/// The milestone index's code for an action, if the index keeps it.
pub(super) fn milestone_code(action: Action) -> Option<u8> {
    match action {
        Action::Finalized => Some(MILESTONE_FINALIZED),
        Action::Corrected => Some(MILESTONE_CORRECTED),
        Action::Created | Action::Saved => None,
    }
}

const MILESTONE_FINALIZED: u8 = 1;
const MILESTONE_CORRECTED: u8 = 2;

/// What a stored revision did. Revisions are written with `action` among their first fields, so a look
/// at the start of the bytes answers without parsing the answers; anything else is parsed in full.
pub(super) fn action_of(raw: &[u8]) -> Result<Action> {
    const KEY: &[u8] = b"\"action\":\"";
    let head = raw.get(..raw.len().min(200)).unwrap_or(raw);
    if let Some(at) = head.windows(KEY.len()).position(|w| w == KEY) {
        let rest = raw.get(at + KEY.len()..).unwrap_or_default();
        let word = rest.split(|&b| b == b'"').next().unwrap_or_default();
        match word {
            b"created" => return Ok(Action::Created),
            b"saved" => return Ok(Action::Saved),
            b"finalized" => return Ok(Action::Finalized),
            b"corrected" => return Ok(Action::Corrected),
            _ => {}
        }
    }
    Ok(decode::<ActionOnly>(raw, "revision")?.action)
}

/// The lines of an outbox value: each preceded by its length (u32, little-endian) and its SHA-256
/// (the bundle's `revisions.sha256` entry, made when the revision was finalized; since format 8).
pub(super) struct Lines<'a>(pub(super) &'a [u8]);

/// One line of an outbox value: its SHA-256 and its bytes.
type Line<'a> = (&'a [u8; 32], &'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Line<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let line = self.0.split_first_chunk::<4>().and_then(|(len, rest)| {
            let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
            let (hash, rest) = rest.split_first_chunk::<32>()?;
            Some((hash, rest.get(..len)?, rest.get(len..)?))
        });
        match line {
            Some((hash, line, rest)) => {
                self.0 = rest;
                Some(Ok((hash, line)))
            }
            None => {
                self.0 = &[];
                Some(Err(StoreError::Storage(
                    "an outbox entry is cut short".into(),
                )))
            }
        }
    }
}

fn push_line(out: &mut Vec<u8>, line: &[u8]) -> Result<()> {
    let len = u32::try_from(line.len())
        .map_err(|_| StoreError::Storage("a revision larger than 4 GiB".into()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&Sha256::digest(line));
    out.extend_from_slice(line);
    Ok(())
}

/// The outbox value of revision `n` of record `id`, finalized with the bytes `raw`: the `Corrected`
/// revisions since the record's previous finalizing (they carry the reasons), oldest first, then `raw`.
pub(super) fn outbox_lines(
    milestones: &impl ReadableTable<(u128, u32), u8>,
    revisions: &impl ReadableTable<(u128, u32), &'static [u8]>,
    id: u128,
    n: u32,
    raw: &[u8],
) -> Result<Vec<u8>> {
    let mut corrections = Vec::new();
    for m in milestones.range((id, 1)..(id, n))?.rev() {
        let (k, code) = m?;
        if code.value() != MILESTONE_CORRECTED {
            break;
        }
        corrections.push(k.value().1);
    }
    let mut out = Vec::with_capacity(raw.len() + 36);
    for back in corrections.into_iter().rev() {
        let line = revisions.get((id, back))?.ok_or_else(|| {
            StoreError::Storage(format!(
                "revision {back} of {} is missing",
                Uuid::from_u128(id)
            ))
        })?;
        push_line(&mut out, line.value())?;
    }
    push_line(&mut out, raw)?;
    Ok(out)
}

/// The outbox entries `from..=to`, line by line to `each`, each finalized revision's [`ExportItem`] to
/// `item` after its lines; entries of purged records are skipped.
pub(super) fn export_lines<E: From<StoreError>>(
    outbox: &redb::ReadOnlyTable<u64, (u128, u32, &'static [u8])>,
    purged: Option<&redb::ReadOnlyTable<u128, &'static [u8]>>,
    from: u64,
    to: u64,
    each: &mut impl FnMut(Outgoing<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for entry in outbox.range(from..=to).map_err(StoreError::from)? {
        let (k, v) = entry.map_err(StoreError::from)?;
        let (id, n, lines) = v.value();
        // A purge removes a record's outbox entries; a store purged by an older build may still hold
        // some.
        if let Some(p) = purged
            && p.get(id).map_err(StoreError::from)?.is_some()
        {
            continue;
        }
        let mut last: &[u8] = &[];
        for line in Lines(lines) {
            let (hash, line) = line?;
            last = line;
            each(Outgoing::Line(line, hash))?;
        }
        each(Outgoing::Item(ExportItem {
            record: Uuid::from_u128(id),
            revision: n,
            seq: k.value(),
            at: made_at(last),
        }))?;
    }
    Ok(())
}

/// Fills the outbox of a store of format 6 or older: every finalized revision of the history (purged
/// records skipped), as [`outbox_lines`] puts them when a revision is finalized.
pub(super) fn fill_outbox(txn: &redb::WriteTransaction) -> Result<()> {
    let seq = txn.open_table(SEQUENCE)?;
    let revisions = txn.open_table(REVISIONS)?;
    let milestones = txn.open_table(MILESTONES)?;
    let purged = txn.open_table(PURGED)?;
    let mut outbox = txn.open_table(OUTBOX)?;
    for entry in seq.iter()? {
        let (k, v) = entry?;
        let (id, n) = v.value();
        let finalized = milestones
            .get((id, n))?
            .is_some_and(|c| c.value() == MILESTONE_FINALIZED);
        if !finalized || purged.get(id)?.is_some() {
            continue;
        }
        let raw = revisions.get((id, n))?.ok_or_else(|| {
            StoreError::Storage(format!(
                "revision {n} of {} is missing",
                Uuid::from_u128(id)
            ))
        })?;
        let lines = outbox_lines(&milestones, &revisions, id, n, raw.value())?;
        outbox.insert(k.value(), (id, n, lines.as_slice()))?;
    }
    Ok(())
}

/// Problems of the outbox: an entry whose sequence position, milestone or finalized revision does not
/// agree with the history, or a finalized revision of a record still here without its entry.
pub(super) fn check_outbox(txn: &redb::ReadTransaction) -> Result<Vec<String>> {
    let outbox = txn.open_table(OUTBOX)?;
    let seq = txn.open_table(SEQUENCE)?;
    let revisions = txn.open_table(REVISIONS)?;
    let milestones = txn.open_table(MILESTONES)?;
    let mut problems = Vec::new();
    for entry in outbox.iter()? {
        let (k, v) = entry?;
        let (id, n, lines) = v.value();
        let mut last = None;
        let mut hashed = true;
        for line in Lines(lines) {
            let (hash, line) = line?;
            hashed &= Sha256::digest(line).as_slice() == hash.as_slice();
            last = Some(line);
        }
        let stored = revisions.get((id, n))?;
        let agrees = seq.get(k.value())?.map(|s| s.value()) == Some((id, n))
            && milestones.get((id, n))?.map(|c| c.value()) == Some(MILESTONE_FINALIZED)
            && stored.as_ref().map(redb::AccessGuard::value) == last
            && hashed;
        if !agrees {
            problems.push(format!(
                "outbox entry {} (record {}, revision {n}) does not match the history",
                k.value(),
                Uuid::from_u128(id)
            ));
        }
    }
    let mut finalized = 0u64;
    for m in milestones.iter()? {
        let (k, code) = m?;
        if code.value() == MILESTONE_FINALIZED && revisions.get(k.value())?.is_some() {
            finalized += 1;
        }
    }
    if finalized != outbox.len()? {
        problems.push(format!(
            "{finalized} finalized revisions but {} outbox entries",
            outbox.len()?
        ));
    }
    Ok(problems)
}

impl Store {
    /// The last sequence position an incremental export covered (0 before the first export).
    pub fn export_watermark(&self) -> Result<u64> {
        read_watermark(&self.db.begin_read()?)
    }

    /// Streams the stored JSON of the revisions to export for sequence positions `from..=to`, in one
    /// consistent read: every `Finalized` revision in the range, each preceded by the `Corrected`
    /// revisions of the same record since its previous finalizing (they carry the reasons). Drafts and
    /// autosaves stay on the tablet. Returns the finalized revisions, in sequence order.
    pub fn export_revisions<E: From<StoreError>>(
        &self,
        from: u64,
        to: u64,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Vec<ExportItem>, E> {
        let mut items = Vec::new();
        self.export_revisions_each(
            from,
            to,
            |raw, _| each(raw),
            |item| {
                items.push(item);
                Ok(())
            },
        )?;
        Ok(items)
    }

    /// [`Store::export_revisions`] handing each line with its SHA-256 to `each`, and each finalized
    /// revision's [`ExportItem`] to `item` right after its lines, instead of returning them at the end.
    /// One range of the outbox (`tables::OUTBOX`), in sequence order: the lines and their hashes were
    /// put together when each revision was finalized.
    pub fn export_revisions_each<E: From<StoreError>>(
        &self,
        from: u64,
        to: u64,
        mut each: impl FnMut(&[u8], &[u8; 32]) -> Result<(), E>,
        mut item: impl FnMut(ExportItem) -> Result<(), E>,
    ) -> Result<(), E> {
        let txn = self.db.begin_read()?;
        let outbox = txn.open_table(OUTBOX).map_err(StoreError::from)?;
        let purged = optional(&txn, PURGED)?;
        export_lines(&outbox, purged.as_ref(), from, to, &mut |out| match out {
            Outgoing::Line(line, hash) => each(line, hash),
            Outgoing::Item(i) => item(i),
            Outgoing::Frame(_) => Ok(()),
        })
    }

    /// After the bundle is verified on the stick: marks its records Exported, logs the bundle and (for
    /// an incremental or full export) moves the watermark — in one transaction. A record changed since
    /// it was read (corrected, re-finalized) is left as it is: its newer revision goes out next time.
    /// Heads are not rewritten. An incremental or full export marks by the watermark alone (see
    /// [`Marks`]); a `range` export gives each record one small key in the export table (and its list
    /// row the new status, the first time).
    pub fn mark_exported(
        &self,
        items: &[ExportItem],
        log: &ExportLog,
        watermark: Option<u64>,
    ) -> Result<Marked> {
        let marked = self.mark_exported_when(
            std::iter::once(items.to_vec()),
            log.bundle_id,
            watermark,
            || Some(log.clone()),
        )?;
        marked.ok_or_else(|| StoreError::Storage("the export was not logged".into()))
    }

    /// [`Store::mark_exported`] for a bundle still being read and written: the items come in batches
    /// (from another thread, as they are read) and are kept; when the batches end, `log` is asked for
    /// the bundle's log entry — the caller writes and verifies the file meanwhile and answers `None`
    /// when anything failed. Only an answer marks them, in one write transaction with the log entry
    /// (`Some` marked counts); `None` leaves the store as it was. The store's write lock is taken only
    /// then: the app's own saves (autosave, settings, resume state on the UI thread) never wait for the
    /// reading, compressing or the write to the stick.
    ///
    /// An incremental or full export (`watermark` given) writes only the log entry and the watermark:
    /// its families are counted from a read of the list while the file is still being written, and the
    /// families changed between that read and the marking are counted as unchanged.
    pub fn mark_exported_when(
        &self,
        batches: impl IntoIterator<Item = Vec<ExportItem>>,
        bundle_id: Uuid,
        watermark: Option<u64>,
        log: impl FnOnce() -> Option<ExportLog>,
    ) -> Result<Option<Marked>> {
        let mut batches: Vec<Vec<ExportItem>> = batches.into_iter().collect();
        let counted = match watermark {
            Some(_) => Some(self.count_exported(&mut batches)?),
            None => None,
        };
        // The bundle is written and verified now, or it failed: then nothing is marked.
        let Some(mut log) = log() else {
            return Ok(None);
        };
        log.by_position = counted.is_some();
        let txn = self.db.begin_write()?;
        let marked = match counted {
            Some(counted) => counted.settle(&txn)?,
            None => {
                let mut marked = Marked::default();
                for batch in &mut batches {
                    let m = mark_items(&txn, batch, bundle_id.as_u128())?;
                    marked.exported += m.exported;
                    marked.again += m.again;
                    marked.unchanged += m.unchanged;
                }
                marked
            }
        };
        {
            let bundle = bundle_id.as_u128();
            if log.bundle_id != bundle_id {
                return Err(StoreError::Storage(format!(
                    "bundle {} was marked under {bundle_id}",
                    log.bundle_id
                )));
            }
            txn.open_table(EXPORTS)?
                .insert(bundle, serde_json::to_vec(&log)?.as_slice())?;
            if let Some(w) = watermark {
                let mut meta = txn.open_table(META)?;
                let old: u64 = match meta.get(WATERMARK)? {
                    Some(v) => decode(v.value(), "export watermark")?,
                    None => 0,
                };
                meta.insert(WATERMARK, serde_json::to_vec(&old.max(w))?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(Some(marked))
    }

    /// Counts what moving the watermark over `batches` marks, as the store is now (see
    /// [`Store::mark_exported_when`]): per family, its list row (or head) decides, as in
    /// [`mark_items`], without writing.
    fn count_exported(&self, batches: &mut [Vec<ExportItem>]) -> Result<Counted> {
        let txn = self.db.begin_read()?;
        let list = txn.open_table(LIST)?;
        let records = txn.open_table(RECORDS)?;
        let marks = Marks::read(&txn)?;
        let last = txn
            .open_table(SEQUENCE)?
            .last()?
            .map_or(0, |(k, _)| k.value());
        let mut counted = Counted {
            marked: Marked::default(),
            exported: std::collections::HashSet::new(),
            again: std::collections::HashSet::new(),
            last,
        };
        for batch in batches {
            let list_key = |i: &ExportItem| i.at.map(|at| super::list::key_of(at, i.record));
            batch.sort_unstable_by_key(|i| (list_key(i), i.record, i.revision));
            for item in &*batch {
                let id = item.record.as_u128();
                // Fast path: the row under the key the revision's time gives is the head's when the
                // head changed last with this revision (its position says so).
                let row = match list_key(item) {
                    Some(key) => list.get(key)?.map(|g| {
                        let (code, seq, ..) = g.value();
                        (code, seq)
                    }),
                    None => None,
                };
                let status = match row {
                    Some((code, seq)) if seq == item.seq => {
                        super::list::row_status(code, seq, marks.watermark)
                    }
                    _ => {
                        let Some(raw) = records.get(id)? else {
                            counted.marked.unchanged += 1;
                            continue;
                        };
                        let mut head: RecordHead = decode(raw.value(), "record")?;
                        if head.revision != item.revision {
                            counted.marked.unchanged += 1;
                            continue;
                        }
                        effective_status(&mut head, &marks)?;
                        Some(head.status)
                    }
                };
                match status {
                    Some(Status::Final) => {
                        counted.marked.exported += 1;
                        counted.exported.insert(id);
                    }
                    Some(Status::Exported) => {
                        counted.marked.again += 1;
                        counted.again.insert(id);
                    }
                    _ => counted.marked.unchanged += 1,
                }
            }
        }
        Ok(counted)
    }

    /// Test support: how many keys the export table holds (one per record and bundle of a `range`
    /// export; none for an incremental or full one).
    #[cfg(feature = "test-support")]
    pub fn export_keys(&self) -> Result<u64> {
        Ok(self.db.begin_read()?.open_table(EXPORTED)?.len()?)
    }

    /// Every bundle written from this tablet, newest first.
    pub fn exports(&self) -> Result<Vec<ExportLog>> {
        let txn = self.db.begin_read()?;
        let Some(t) = optional(&txn, EXPORTS)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in t.iter()?.rev() {
            out.push(decode(r?.1.value(), "export log")?);
        }
        Ok(out)
    }

    /// The newest bundle written from this tablet (the home screen), without reading the older ones.
    pub fn last_export(&self) -> Result<Option<ExportLog>> {
        let txn = self.db.begin_read()?;
        let Some(t) = optional(&txn, EXPORTS)? else {
            return Ok(None);
        };
        t.iter()?
            .next_back()
            .map(|r| decode(r?.1.value(), "export log"))
            .transpose()
    }

    /// The receipt with this id, if it was applied already.
    pub fn receipt_log(&self, id: Uuid) -> Result<Option<ReceiptLog>> {
        let txn = self.db.begin_read()?;
        let Some(t) = optional(&txn, RECEIPTS)? else {
            return Ok(None);
        };
        t.get(id.as_u128())?
            .map(|v| decode(v.value(), "receipt log"))
            .transpose()
    }

    /// Every receipt applied, newest first.
    pub fn receipts(&self) -> Result<Vec<ReceiptLog>> {
        let txn = self.db.begin_read()?;
        let Some(t) = optional(&txn, RECEIPTS)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in t.iter()? {
            out.push(decode(r?.1.value(), "receipt log")?);
        }
        out.sort_by_key(|r: &ReceiptLog| std::cmp::Reverse(r.applied_at));
        Ok(out)
    }

    /// Applies a registry receipt in one transaction: the final revisions in `accepted` ranges become
    /// Accepted, each rejection Rejected with its reasons (kept on the record). Applying the same
    /// receipt again changes nothing and returns the first outcome with `Ok(false)`.
    pub fn apply_receipt(
        &self,
        receipt_id: Uuid,
        registry: &str,
        created_at: DateTime<FixedOffset>,
        accepted: &[(u64, u64)],
        rejected: &[RejectionIn<'_>],
        now: DateTime<FixedOffset>,
    ) -> Result<(ReceiptOutcome, bool)> {
        if let Some(log) = self.receipt_log(receipt_id)? {
            return Ok((log.outcome, false));
        }
        let txn = self.db.begin_write()?;
        let mut out = ReceiptOutcome::default();
        {
            let seq = txn.open_table(SEQUENCE)?;
            let mut records = txn.open_table(RECORDS)?;
            let marks = Marks::write(&txn)?;
            let rejected_ids: BTreeSet<(u128, u32)> = rejected
                .iter()
                .map(|r| (r.record.as_u128(), r.revision))
                .collect();
            let decide = |records: &mut redb::Table<u128, &[u8]>,
                          id: u128,
                          n: u32,
                          to: Status,
                          reasons: &[Localized],
                          out: &mut ReceiptOutcome|
             -> Result<bool> {
                let Some(raw) = records.get(id)?.map(|v| v.value().to_vec()) else {
                    return Ok(false);
                };
                let mut head: RecordHead = decode(&raw, "record")?;
                if head.revision != n {
                    return Ok(false);
                }
                effective_status(&mut head, &marks)?;
                if head.status == to {
                    out.unchanged += 1;
                    return Ok(true);
                }
                if !head.status.can_become(to) {
                    out.unchanged += 1;
                    return Ok(true);
                }
                head.status = to;
                super::list::list(&txn, &head)?;
                head.events.push(StatusEvent {
                    status: to,
                    at: now,
                    by: Some(registry.to_string()),
                    reasons: reasons.to_vec(),
                });
                records.insert(id, serde_json::to_vec(&head)?.as_slice())?;
                Ok(true)
            };
            for &(from, to) in accepted {
                for entry in seq.range(from..=to)? {
                    let (_, v) = entry?;
                    let (id, n) = v.value();
                    if rejected_ids.contains(&(id, n)) {
                        continue;
                    }
                    let before = out.unchanged;
                    if decide(&mut records, id, n, Status::Accepted, &[], &mut out)?
                        && out.unchanged == before
                    {
                        out.accepted += 1;
                    }
                }
            }
            for r in rejected {
                let at = seq.get(r.seq)?.map(|v| v.value());
                if at != Some((r.record.as_u128(), r.revision)) {
                    out.unknown += 1;
                    continue;
                }
                let before = out.unchanged;
                if decide(
                    &mut records,
                    r.record.as_u128(),
                    r.revision,
                    Status::Rejected,
                    r.reasons,
                    &mut out,
                )? {
                    if out.unchanged == before {
                        out.rejected += 1;
                        out.rejected_records.push(r.record);
                    }
                } else {
                    out.stale += 1;
                }
            }
            let log = ReceiptLog {
                receipt_id,
                registry: registry.to_string(),
                created_at,
                applied_at: now,
                outcome: out.clone(),
            };
            txn.open_table(RECEIPTS)?
                .insert(receipt_id.as_u128(), serde_json::to_vec(&log)?.as_slice())?;
        }
        txn.commit()?;
        Ok((out, true))
    }

    /// Removes accepted families whose acceptance is older than `cutoff`, with their revisions, search
    /// terms and the photos no remaining revision refers to. Everything else — including the history of
    /// every remaining family — stays. One transaction.
    pub fn purge_accepted_before(
        &self,
        cutoff: DateTime<FixedOffset>,
        now: DateTime<FixedOffset>,
    ) -> Result<Purged> {
        let txn = self.db.begin_write()?;
        let mut out = Purged::default();
        {
            let mut records = txn.open_table(RECORDS)?;
            let mut revisions = txn.open_table(REVISIONS)?;
            let mut search = txn.open_multimap_table(SEARCH)?;
            let mut purged = txn.open_table(PURGED)?;
            let mut exported = txn.open_table(EXPORTED)?;
            let mut outbox = txn.open_table(OUTBOX)?;
            let mut victims = Vec::new();
            let mut removed = Vec::new();
            for r in records.iter()? {
                let (k, v) = r?;
                let head: RecordHead = decode(v.value(), "record")?;
                if head.accepted_at().is_some_and(|at| at < cutoff) {
                    victims.push((k.value(), head));
                }
            }
            let mut candidates = BTreeSet::new();
            for (id, head) in &victims {
                for n in 1..=head.revision {
                    if let Some(raw) = revisions.remove((*id, n))? {
                        attachment_refs(raw.value(), &mut candidates);
                        out.revisions += 1;
                        // A finalized revision's outbox entry (under its sequence position) goes too.
                        let made: SeqAction = decode(raw.value(), "revision")?;
                        if matches!(made.action, Action::Finalized) {
                            outbox.remove(made.seq)?;
                            removed.push(made.seq);
                        }
                    }
                }
                for t in &head.terms {
                    search.remove(t.as_str(), *id)?;
                }
                records.remove(*id)?;
                exported.retain_in((*id, 0, 0)..=(*id, u32::MAX, u128::MAX), |_, _| false)?;
                super::list::unlist(&txn, super::list::list_key(head))?;
                purged.insert(
                    *id,
                    serde_json::to_vec(&PurgedRecord {
                        purged_at: now,
                        revisions: head.revision,
                    })?
                    .as_slice(),
                )?;
                out.records += 1;
            }
            // The frames that held them go too: the export reads those lines one by one.
            super::frames::drop_holding(&txn, &removed)?;
            if !candidates.is_empty() {
                let mut still = BTreeSet::new();
                for r in revisions.iter()? {
                    attachment_refs(r?.1.value(), &mut still);
                }
                let mut attachments = txn.open_table(ATTACHMENTS)?;
                for h in candidates.difference(&still) {
                    if let Some(bytes) = attachments.remove(h.as_str())? {
                        out.attachments += 1;
                        out.attachment_bytes += bytes.value().len() as u64;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(out)
    }

    /// Whether a record was purged from this tablet.
    pub fn is_purged(&self, id: Uuid) -> Result<bool> {
        let txn = self.db.begin_read()?;
        Ok(match optional(&txn, PURGED)? {
            Some(t) => t.get(id.as_u128())?.is_some(),
            None => false,
        })
    }
}

/// What an export that marks by the watermark counted, from a read made before the marking.
struct Counted {
    marked: Marked,
    /// The families counted as exported, and as exported again.
    exported: std::collections::HashSet<u128>,
    again: std::collections::HashSet<u128>,
    /// The last sequence position the count's read saw.
    last: u64,
}

impl Counted {
    /// The counts as of `txn`, which marks: a family changed after the count's read (a later entry in
    /// the sequence) is unchanged, not exported: its head moved on from the revision that went out.
    fn settle(mut self, txn: &redb::WriteTransaction) -> Result<Marked> {
        let seq = txn.open_table(SEQUENCE)?;
        for entry in seq.range(self.last + 1..)? {
            let (id, _) = entry?.1.value();
            if self.exported.remove(&id) {
                self.marked.exported -= 1;
                self.marked.unchanged += 1;
            } else if self.again.remove(&id) {
                self.marked.again -= 1;
                self.marked.unchanged += 1;
            }
        }
        Ok(self.marked)
    }
}

/// Marks the exported items in `txn` under the bundle `bundle` (a `range` export): an `exported` key
/// per record, and the list row's status the first time.
fn mark_items(
    txn: &redb::WriteTransaction,
    items: &mut [ExportItem],
    bundle: u128,
) -> Result<Marked> {
    let mut marked = Marked::default();
    let records = txn.open_table(RECORDS)?;
    let mut list = txn.open_table(LIST)?;
    let marks = Marks::write(txn)?;
    // Two passes, each in its table's key order (neighbouring keys share B-tree pages): the list rows
    // first, in the order of their keys (the revisions' times), then the export table's rows, in
    // record order. Within one export no record's revision comes twice, so what the first pass reads
    // of the export table does not depend on what the second writes.
    let list_key = |i: &ExportItem| i.at.map(|at| super::list::key_of(at, i.record));
    items.sort_unstable_by_key(|i| (list_key(i), i.record, i.revision));
    let mut to_log = Vec::with_capacity(items.len());
    let (mut name, mut kk, mut desa, mut address) =
        (String::new(), String::new(), String::new(), String::new());
    for item in &*items {
        let id = item.record.as_u128();
        // Fast path: the head changed last when this revision was made, so its list row sits
        // under the key the revision's time gives (a later change would have moved it). The
        // row's status decides; the head is not read. No row there: the head decides.
        if let Some(key) = list_key(item) {
            let row = list.get(key)?.map(|g| {
                let (code, seq, n, k, d, a) = g.value();
                for (to, from) in [
                    (&mut name, n),
                    (&mut kk, k),
                    (&mut desa, d),
                    (&mut address, a),
                ] {
                    to.clear();
                    to.push_str(from);
                }
                (code, seq)
            });
            if let Some((code, seq)) = row {
                match super::list::row_status(code, seq, marks.watermark) {
                    Some(Status::Final) => {
                        marked.exported += 1;
                        super::list::list_row(
                            &mut list,
                            key,
                            Status::Exported,
                            seq,
                            [&name, &kk, &desa, &address],
                        )?;
                    }
                    Some(Status::Exported) => marked.again += 1,
                    _ => {
                        marked.unchanged += 1;
                        continue;
                    }
                }
                to_log.push((id, item.revision));
                continue;
            }
        }
        let Some(raw) = records.get(id)? else {
            marked.unchanged += 1;
            continue;
        };
        // Only what the decision and the list row need, borrowed from the stored bytes.
        let view: HeadView<'_> = serde_json::from_slice(raw.value())
            .map_err(|e| StoreError::Storage(format!("unreadable record: {e}")))?;
        if view.revision != item.revision
            || !matches!(view.status, Status::Final | Status::Exported)
        {
            marked.unchanged += 1;
            continue;
        }
        if view.status == Status::Exported || marks.is_exported(id, item.revision, view.seq)? {
            marked.again += 1;
        } else {
            marked.exported += 1;
            let s = &view.summary;
            super::list::list_row(
                &mut list,
                super::list::key_of(view.updated_at, view.id),
                Status::Exported,
                view.seq,
                [&s.head_name, &s.no_kk, &s.desa, &s.address],
            )?;
        }
        to_log.push((id, item.revision));
    }
    to_log.sort_unstable();
    let mut exported = marks.exported;
    for (id, revision) in to_log {
        exported.insert((id, revision, bundle), ())?;
    }
    Ok(marked)
}

/// How many revisions a purged record had on this tablet (a work package bringing it back continues
/// its numbering, so the registry never sees one revision number twice from this device).
pub(super) fn purged_revisions(txn: &redb::WriteTransaction, id: u128) -> Result<Option<u32>> {
    let purged = txn.open_table(PURGED)?;
    Ok(match purged.get(id)? {
        Some(v) => Some(decode::<PurgedRecord>(v.value(), "purged record")?.revisions),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_of_a_revision_is_read_from_its_end() {
        use crate::model::record::Revision;
        let at = DateTime::parse_from_rfc3339("2026-11-29T08:00:00.123456+08:00").unwrap();
        let early = DateTime::parse_from_rfc3339("2020-01-01T00:00:00+07:00").unwrap();
        let mut answers = crate::model::record::Answers::new();
        // Answers may use any key, `at` too, with any value.
        answers.insert("at".into(), serde_json::json!(early.to_rfc3339()));
        answers.insert("x".into(), serde_json::json!({"at": early.to_rfc3339()}));
        let rev = Revision {
            record: Uuid::now_v7(),
            number: 3,
            seq: 9,
            action: Action::Finalized,
            status: Status::Final,
            form_id: "keluarga".into(),
            form_version: 1,
            answers,
            petugas: "P001".into(),
            device: Uuid::now_v7(),
            at,
            reason: Some(format!(r#"salah "at":"{early}" ketik"#)),
            acknowledged: vec![r#""at":"2020-01-01T00:00:00Z""#.into()],
            base: None,
        };
        let raw = serde_json::to_vec(&rev).unwrap();
        assert_eq!(made_at(&raw), Some(at));
        assert_eq!(made_at(b"{}"), None);
        assert_eq!(made_at(br#"{"at":"kemarin"}"#), None);
    }

    #[test]
    fn the_action_is_read_from_the_start_or_parsed() {
        for (text, want) in [
            ("created", Action::Created),
            ("saved", Action::Saved),
            ("finalized", Action::Finalized),
            ("corrected", Action::Corrected),
        ] {
            let quick =
                format!(r#"{{"record":"x","number":1,"seq":1,"action":"{text}","answers":{{}}}}"#);
            assert_eq!(action_of(quick.as_bytes()).unwrap(), want);
            // Far from the start (another writer's field order): parsed in full.
            let late = format!(r#"{{"pad":"{}","action":"{text}"}}"#, "p".repeat(300));
            assert_eq!(action_of(late.as_bytes()).unwrap(), want);
        }
        assert!(action_of(br#"{"action":"eaten"}"#).is_err());
    }
}
