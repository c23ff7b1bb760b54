//! The family list index: one small row per record (status, the sequence position of its latest
//! revision, head's name, KK, desa, address), ordered newest change first, so the list pages through
//! 100,000 families by position without reading a single record head. It is derived from the heads:
//! written in the same transaction as every head change, and rebuilt from them by the format 2 → 3 and
//! 7 → 8 migrations. A row stored Final reads as Exported when its position is at or below the export
//! watermark (`store::sync::Marks`): an incremental or full export marks its families by moving the
//! watermark, not by rewriting their rows.

use std::ops::Range;

use redb::{ReadableTable, ReadableTableMetadata, Table, WriteTransaction};
use uuid::Uuid;

use super::tables::{LIST, ListValue};
use super::{RecordHead, Result, Status, StatusCounts, Store};

/// A key of the list index: newest change first, then the newest id.
pub(super) type ListKey = (u64, u128);

/// One row of the family list, read from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    pub id: Uuid,
    pub status: Status,
    pub head_name: String,
    pub no_kk: String,
    pub desa: String,
    pub address: String,
}

impl From<&RecordHead> for ListRow {
    fn from(h: &RecordHead) -> ListRow {
        ListRow {
            id: h.id,
            status: h.status,
            head_name: h.summary.head_name.clone(),
            no_kk: h.summary.no_kk.clone(),
            desa: h.summary.desa.clone(),
            address: h.summary.address.clone(),
        }
    }
}

/// Which families the list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ListFilter {
    pub status: Option<Status>,
    /// A prefix of the desa code (`64.72.01` is every desa of Palaran); empty for all.
    pub desa: String,
}

impl ListFilter {
    pub fn matches(&self, status: Status, desa: &str) -> bool {
        self.status.is_none_or(|s| s == status) && desa.starts_with(self.desa.trim())
    }

    fn is_all(&self) -> bool {
        self.status.is_none() && self.desa.trim().is_empty()
    }
}

/// The list under one filter: how many rows it has, and a bookmark every [`MARK_EVERY`] index entries, so
/// reading any page scans at most that many entries before it. A snapshot: taken again after changes.
#[derive(Debug, Clone)]
pub struct ListView {
    filter: ListFilter,
    len: usize,
    /// (rows of the filtered list before this entry, the entry's key), in index order.
    marks: Vec<(usize, ListKey)>,
}

impl ListView {
    pub fn filter(&self) -> &ListFilter {
        &self.filter
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

const MARK_EVERY: usize = 256;

/// Stable codes of the statuses inside the index (never reuse one).
pub(super) fn status_code(s: Status) -> u8 {
    match s {
        Status::Draft => 0,
        Status::Final => 1,
        Status::Exported => 2,
        Status::Accepted => 3,
        Status::Rejected => 4,
    }
}

pub(super) fn status_of(code: u8) -> Option<Status> {
    Status::ALL.into_iter().find(|s| status_code(*s) == code)
}

pub(super) fn list_key(head: &RecordHead) -> ListKey {
    key_of(head.updated_at, head.id)
}

/// The list key of a record changed last at `updated_at`.
pub(super) fn key_of(updated_at: chrono::DateTime<chrono::FixedOffset>, id: Uuid) -> ListKey {
    // Flipping the sign bit keeps the order of signed microseconds in an unsigned key; subtracting from
    // the maximum makes ascending keys run from the newest change to the oldest.
    let micros = (updated_at.timestamp_micros() as u64) ^ (1 << 63);
    (u64::MAX - micros, u128::MAX - id.as_u128())
}

/// Writes `head`'s row under its current key. Call [`unlist`] with the previous head first when the
/// change time moved.
pub(super) fn list(txn: &WriteTransaction, head: &RecordHead) -> Result<()> {
    list_in(&mut txn.open_table(LIST)?, head)
}

/// [`list`] into a table already open (for many heads in one transaction).
pub(super) fn list_in(table: &mut Table<ListKey, ListValue>, head: &RecordHead) -> Result<()> {
    let s = &head.summary;
    list_row(
        table,
        list_key(head),
        head.status,
        head.seq,
        [&s.head_name, &s.no_kk, &s.desa, &s.address],
    )
}

/// Writes one row: status, the sequence position of the head's latest revision, and the head's name,
/// KK, desa and address.
pub(super) fn list_row(
    table: &mut Table<ListKey, ListValue>,
    key: ListKey,
    status: Status,
    seq: u64,
    [name, kk, desa, address]: [&str; 4],
) -> Result<()> {
    table.insert(key, (status_code(status), seq, name, kk, desa, address))?;
    Ok(())
}

/// The status a row reads as: its stored status, except that a Final row at or below the export
/// watermark is Exported. `None` for a code this build does not know.
pub(super) fn row_status(code: u8, seq: u64, watermark: u64) -> Option<Status> {
    match status_of(code)? {
        Status::Final if seq != 0 && seq <= watermark => Some(Status::Exported),
        s => Some(s),
    }
}

/// Removes the row a head was listed under.
pub(super) fn unlist(txn: &WriteTransaction, key: ListKey) -> Result<()> {
    txn.open_table(LIST)?.remove(key)?;
    Ok(())
}

impl Store {
    /// The family list under `filter`: its length and bookmarks for paging. One pass over the index
    /// (keys only when nothing is filtered).
    pub fn list_view(&self, filter: ListFilter) -> Result<ListView> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LIST)?;
        let watermark = super::sync::read_watermark(&txn)?;
        let all = filter.is_all();
        let mut marks = Vec::with_capacity(table.len()? as usize / MARK_EVERY + 1);
        let mut len = 0;
        for (scanned, entry) in table.iter()?.enumerate() {
            let (k, v) = entry?;
            if scanned % MARK_EVERY == 0 {
                marks.push((len, k.value()));
            }
            if all {
                len += 1;
                continue;
            }
            let (code, seq, _, _, desa, _) = v.value();
            if row_status(code, seq, watermark).is_some_and(|s| filter.matches(s, desa)) {
                len += 1;
            }
        }
        Ok(ListView { filter, len, marks })
    }

    /// Rows `range` (positions from 0, newest first) of a list view; fewer at the end of the list.
    pub fn list_rows(&self, view: &ListView, range: Range<usize>) -> Result<Vec<ListRow>> {
        let mut out = Vec::with_capacity(range.len());
        let at = view.marks.partition_point(|(pos, _)| *pos <= range.start);
        let Some(&(mut pos, start)) = at.checked_sub(1).and_then(|i| view.marks.get(i)) else {
            return Ok(out);
        };
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LIST)?;
        let watermark = super::sync::read_watermark(&txn)?;
        for entry in table.range(start..)? {
            if pos >= range.end {
                break;
            }
            let (k, v) = entry?;
            let (code, seq, name, kk, desa, address) = v.value();
            let Some(status) = row_status(code, seq, watermark) else {
                continue;
            };
            if !view.filter.matches(status, desa) {
                continue;
            }
            if pos >= range.start {
                out.push(ListRow {
                    id: Uuid::from_u128(u128::MAX - k.value().1),
                    status,
                    head_name: name.to_string(),
                    no_kk: kk.to_string(),
                    desa: desa.to_string(),
                    address: address.to_string(),
                });
            }
            pos += 1;
        }
        Ok(out)
    }

    /// StatusCounts per status, from the list index.
    pub fn counts(&self) -> Result<StatusCounts> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LIST)?;
        let watermark = super::sync::read_watermark(&txn)?;
        let mut c = StatusCounts::default();
        for entry in table.iter()? {
            let (_, v) = entry?;
            let (code, seq, ..) = v.value();
            match row_status(code, seq, watermark) {
                Some(Status::Draft) => c.draft += 1,
                Some(Status::Final) => c.final_ += 1,
                Some(Status::Exported) => c.exported += 1,
                Some(Status::Accepted) => c.accepted += 1,
                Some(Status::Rejected) => c.rejected += 1,
                None => {}
            }
        }
        Ok(c)
    }
}
