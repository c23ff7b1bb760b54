//! The store's side of sync: which revisions go into a bundle, marking them exported once the bundle is
//! verified on the stick, applying the registry's receipts, and purging accepted families. The bundle
//! format itself lives in `bundle`; `app` joins the two.

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::tables::{
    ATTACHMENTS, EXPORTS, META, MILESTONES, PURGED, RECEIPTS, RECORDS, REVISIONS, SEARCH, SEQUENCE,
};
use super::{Result, Status, StatusEvent, Store, StoreError, decode};
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
}

/// A revision chosen for export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportItem {
    pub record: Uuid,
    pub revision: u32,
    pub seq: u64,
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
fn optional<K: redb::Key + 'static, V: redb::Value + 'static>(
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
struct ActionOnly {
    action: Action,
}

/// The parts of a stored head that marking reads, borrowed from its bytes.
#[derive(Deserialize)]
struct HeadView<'a> {
    id: Uuid,
    status: Status,
    revision: u32,
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

/// A stored head (as this build writes it: compact JSON, `status` before `events` before `terms`) with
/// its status set to exported and `event` appended to its events, edited as bytes. Inside JSON strings
/// every quote is escaped, so the first `"status":"` and `"events":[` and the `],"terms":` after them
/// can only be the head's own keys. `None` when the bytes are not in that shape: decode in full then.
fn patch_exported(raw: &[u8], event: &[u8]) -> Option<Vec<u8>> {
    fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    }
    let status_key: &[u8] = br#""status":""#;
    let s = find(raw, status_key, 0)? + status_key.len();
    let rest = raw.get(s..)?;
    let old_len = if rest.starts_with(b"final\"") {
        "final".len()
    } else if rest.starts_with(b"exported\"") {
        "exported".len()
    } else {
        return None;
    };
    let events_key: &[u8] = br#""events":["#;
    let e = find(raw, events_key, s)? + events_key.len();
    // Where the new event goes: into an empty list, or after the last event.
    let (at, sep): (usize, &[u8]) = if raw.get(e) == Some(&b']') {
        (e, b"")
    } else {
        (find(raw, br#"],"terms":"#, e)?, b",")
    };
    let mut out = Vec::with_capacity(raw.len() + event.len() + 4);
    out.extend_from_slice(raw.get(..s)?);
    out.extend_from_slice(b"exported");
    out.extend_from_slice(raw.get(s + old_len..at)?);
    out.extend_from_slice(sep);
    out.extend_from_slice(event);
    out.extend_from_slice(raw.get(at..)?);
    Some(out)
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

impl Store {
    /// The last sequence position an incremental export covered (0 before the first export).
    pub fn export_watermark(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(match meta.get(WATERMARK)? {
            Some(v) => decode(v.value(), "export watermark")?,
            None => 0,
        })
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
        let txn = self.db.begin_read().map_err(StoreError::from)?;
        let seq = txn.open_table(SEQUENCE).map_err(StoreError::from)?;
        let revisions = txn.open_table(REVISIONS).map_err(StoreError::from)?;
        let milestones = txn.open_table(MILESTONES).map_err(StoreError::from)?;
        let purged = optional(&txn, PURGED)?;
        let read = |id: u128, n: u32| -> Result<_, StoreError> {
            revisions.get((id, n))?.ok_or_else(|| {
                StoreError::Storage(format!(
                    "revision {n} of {} is missing",
                    Uuid::from_u128(id)
                ))
            })
        };
        let mut items = Vec::new();
        for entry in seq.range(from..=to).map_err(StoreError::from)? {
            let (k, v) = entry.map_err(StoreError::from)?;
            let (id, n) = v.value();
            // The milestone index answers without reading the revision: autosaves are skipped unread.
            let finalized = milestones
                .get((id, n))
                .map_err(StoreError::from)?
                .is_some_and(|c| c.value() == MILESTONE_FINALIZED);
            if !finalized {
                continue;
            }
            if let Some(p) = &purged
                && p.get(id).map_err(StoreError::from)?.is_some()
            {
                continue;
            }
            // The corrections since the previous finalizing of this record, oldest first.
            let mut corrections = Vec::new();
            for m in milestones
                .range((id, 1)..(id, n))
                .map_err(StoreError::from)?
                .rev()
            {
                let (k, code) = m.map_err(StoreError::from)?;
                if code.value() != MILESTONE_CORRECTED {
                    break;
                }
                corrections.push(k.value().1);
            }
            for back in corrections.into_iter().rev() {
                each(read(id, back)?.value())?;
            }
            each(read(id, n)?.value())?;
            items.push(ExportItem {
                record: Uuid::from_u128(id),
                revision: n,
                seq: k.value(),
            });
        }
        Ok(items)
    }

    /// After the bundle is verified on the stick: marks its records Exported, logs the bundle and (for
    /// an incremental or full export) moves the watermark — in one transaction. A record changed since
    /// it was read (corrected, re-finalized) is left as it is: its newer revision goes out next time.
    pub fn mark_exported(
        &self,
        items: &[ExportItem],
        log: &ExportLog,
        watermark: Option<u64>,
        now: DateTime<FixedOffset>,
    ) -> Result<Marked> {
        let txn = self.db.begin_write()?;
        let mut marked = Marked::default();
        {
            let mut records = txn.open_table(RECORDS)?;
            let mut list = txn.open_table(super::tables::LIST)?;
            // In key order: neighbouring keys share B-tree pages.
            let mut order: Vec<&ExportItem> = items.iter().collect();
            order.sort_unstable_by_key(|i| i.record);
            let event = serde_json::to_vec(&StatusEvent {
                status: Status::Exported,
                at: now,
                by: Some(log.file.clone()),
                reasons: Vec::new(),
            })?;
            for item in order {
                let Some(raw) = records
                    .get(item.record.as_u128())?
                    .map(|v| v.value().to_vec())
                else {
                    marked.unchanged += 1;
                    continue;
                };
                // Only what the decision and the list row need, borrowed; the head is then edited in
                // place (a full decode and encode of 20,000 heads was most of an export's marking).
                let view: HeadView<'_> = serde_json::from_slice(&raw)
                    .map_err(|e| StoreError::Storage(format!("unreadable record: {e}")))?;
                if view.revision != item.revision
                    || !matches!(view.status, Status::Final | Status::Exported)
                {
                    marked.unchanged += 1;
                    continue;
                }
                if view.status == Status::Final {
                    marked.exported += 1;
                } else {
                    marked.again += 1;
                }
                let s = &view.summary;
                super::list::list_row(
                    &mut list,
                    super::list::key_of(view.updated_at, view.id),
                    Status::Exported,
                    [&s.head_name, &s.no_kk, &s.desa, &s.address],
                )?;
                let bytes = match patch_exported(&raw, &event) {
                    Some(bytes) => bytes,
                    None => {
                        let mut head: super::RecordHead = decode(&raw, "record")?;
                        head.status = Status::Exported;
                        head.events.push(decode(&event, "status event")?);
                        serde_json::to_vec(&head)?
                    }
                };
                records.insert(item.record.as_u128(), bytes.as_slice())?;
            }
            txn.open_table(EXPORTS)?
                .insert(log.bundle_id.as_u128(), serde_json::to_vec(log)?.as_slice())?;
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
        Ok(marked)
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
    #[allow(clippy::too_many_arguments)]
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
                let mut head: super::RecordHead = decode(&raw, "record")?;
                if head.revision != n {
                    return Ok(false);
                }
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
            let mut victims = Vec::new();
            for r in records.iter()? {
                let (k, v) = r?;
                let head: super::RecordHead = decode(v.value(), "record")?;
                let accepted_at = head
                    .events
                    .iter()
                    .rev()
                    .find(|e| e.status == Status::Accepted)
                    .map(|e| e.at);
                if head.status == Status::Accepted && accepted_at.is_some_and(|at| at < cutoff) {
                    victims.push((k.value(), head));
                }
            }
            let mut candidates = BTreeSet::new();
            for (id, head) in &victims {
                for n in 1..=head.revision {
                    if let Some(raw) = revisions.remove((*id, n))? {
                        attachment_refs(raw.value(), &mut candidates);
                        out.revisions += 1;
                    }
                }
                for t in &head.terms {
                    search.remove(t.as_str(), *id)?;
                }
                records.remove(*id)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marking_in_place_writes_what_a_full_decode_and_encode_writes() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-29T08:00:00+08:00").unwrap();
        let tricky = r#"Budi "events":[ ],"terms": "status":"final" \ ]"#;
        let mut fresh =
            super::super::RecordHead::new(Uuid::now_v7(), "keluarga".into(), 1, "P001", at);
        fresh.status = Status::Final;
        fresh.summary.head_name = tricky.into();
        fresh.summary.address = tricky.into();
        fresh.terms = vec![tricky.into(), "budi".into()];
        let mut again = fresh.clone();
        again.status = Status::Exported;
        again.events.push(StatusEvent {
            status: Status::Exported,
            at,
            by: Some(tricky.into()),
            reasons: vec![Localized::new(tricky, tricky)],
        });
        let event = StatusEvent {
            status: Status::Exported,
            at,
            by: Some("pendata-x.age".into()),
            reasons: Vec::new(),
        };
        let event_bytes = serde_json::to_vec(&event).unwrap();
        for head in [fresh, again] {
            let raw = serde_json::to_vec(&head).unwrap();
            let mut want = head.clone();
            want.status = Status::Exported;
            want.events.push(event.clone());
            let patched = patch_exported(&raw, &event_bytes).expect("this build's shape");
            assert_eq!(
                String::from_utf8(patched).unwrap(),
                String::from_utf8(serde_json::to_vec(&want).unwrap()).unwrap()
            );
        }
        // Not final or exported, or not this build's shape: left to the full decode.
        assert!(patch_exported(br#"{"status":"draft","events":[],"terms":[]}"#, b"{}").is_none());
        assert!(patch_exported(br#"{"status":"final"}"#, b"{}").is_none());
        assert!(patch_exported(b"junk", b"{}").is_none());
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
