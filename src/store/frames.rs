//! The outbox's frames (store format 9): runs of consecutive outbox entries kept a second time as one
//! compressed zstd frame, beside an index of what a bundle counts of them (records, petugas, forms,
//! photos, each line's SHA-256). A bundle's `revisions.jsonl.zst` may be several zstd frames one after
//! another, so an export copies a frame whole instead of reading, compressing and inspecting its lines
//! again: that work is done once, a frame at a time, in the transaction that finalizes the revision
//! which fills one.
//!
//! The outbox (`tables::OUTBOX`) stays the record of what goes out. A frame is a copy of part of it:
//! the integrity check builds each frame again from the outbox and compares; a purge drops the frames
//! that held a purged family; an export reads the lines one by one wherever no whole frame fits its
//! range. Nothing is lost when a frame is missing, only speed.

use std::collections::BTreeSet;

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::sync::{ExportItem, Lines, export_lines, optional};
use super::tables::{FRAMES, META, OUTBOX, PURGED};
use super::{Result, Store, StoreError, decode};
use crate::model::record::attachment_refs;

/// A frame is sealed once the outbox entries after the last frame hold at least this many bytes: about
/// 280 families of the demo's size. On the 100,000-family bench's lines, frames of 1 MiB at level 6
/// make a bundle of 24.9 MB against 27.4 MB for `zstd -3` over the whole file (BENCHMARKS.md).
pub(super) const FRAME_BYTES: u64 = 1 << 20;

/// zstd level of a frame. Sealing one costs a few milliseconds once per frame, on the finalizing that
/// fills it; every later export of those lines only copies it.
const FRAME_LEVEL: i32 = 6;

/// The most plain bytes a frame may hold when the check decompresses it (a damaged frame must not
/// claim gigabytes): frames are sealed at [`FRAME_BYTES`] plus one entry.
const MAX_PLAIN: u64 = 1 << 30;

/// The `META` key of the frames' state.
const STATE: &str = "outbox_frames";

/// Where framing stands: every outbox entry at or below `frontier` was looked at (framed, or left out
/// because a line could not be read); `tail` bytes of lines wait after it; a frame is sealed when they
/// reach `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    frontier: u64,
    tail: u64,
    target: u64,
}

impl Default for State {
    fn default() -> State {
        State {
            frontier: 0,
            tail: 0,
            target: FRAME_BYTES,
        }
    }
}

fn read_state(txn: &WriteTransaction) -> Result<State> {
    let meta = txn.open_table(META)?;
    let state = meta.get(STATE)?;
    match state {
        Some(raw) => decode(raw.value(), "outbox frame state"),
        None => Ok(State::default()),
    }
}

fn write_state(txn: &WriteTransaction, state: &State) -> Result<()> {
    txn.open_table(META)?
        .insert(STATE, serde_json::to_vec(state)?.as_slice())?;
    Ok(())
}

/// Makes the frames' table and state of a new store.
pub(super) fn create(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(FRAMES)?;
    write_state(txn, &State::default())
}

/// Frames the outbox of a store of format 8: every entry, in runs of [`FRAME_BYTES`] (or the target a
/// test set); the last run, if shorter, waits for more.
pub(super) fn fill(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(FRAMES)?;
    let start = State {
        target: read_state(txn)?.target,
        ..State::default()
    };
    let state = seal_from(txn, 1, u64::MAX, start)?;
    write_state(txn, &state)
}

/// After the outbox entry at `seq` (`bytes` long) was written: counts it, and seals a frame when the
/// entries waiting reach the target.
pub(super) fn after_finalize(txn: &WriteTransaction, seq: u64, bytes: usize) -> Result<()> {
    let mut state = read_state(txn)?;
    state.tail += bytes as u64;
    if state.tail >= state.target {
        state = seal_from(txn, state.frontier + 1, seq, state)?;
    }
    write_state(txn, &state)
}

/// Seals the outbox entries `from..=to` into frames of at least `state.target` bytes each; a shorter
/// run at the end waits (its bytes are the new tail).
fn seal_from(txn: &WriteTransaction, from: u64, to: u64, mut state: State) -> Result<State> {
    let mut run: Vec<Entry> = Vec::new();
    let mut bytes = 0u64;
    let mut sealed = Vec::new();
    {
        let outbox = txn.open_table(OUTBOX)?;
        for entry in outbox.range(from..=to)? {
            let (k, v) = entry?;
            let (id, n, lines) = v.value();
            bytes += lines.len() as u64;
            run.push(Entry {
                seq: k.value(),
                id,
                n,
                lines: lines.to_vec(),
            });
            if bytes >= state.target {
                let last = k.value();
                sealed.push((std::mem::take(&mut run), last));
                bytes = 0;
            }
        }
    }
    let mut frames = txn.open_table(FRAMES)?;
    for (run, last) in sealed {
        if let (Some(first), Some(built)) = (run.first(), build(&run)?) {
            frames.insert(
                first.seq,
                (last, built.index.as_slice(), built.zst.as_slice()),
            )?;
        }
        state.frontier = last;
    }
    state.tail = bytes;
    Ok(state)
}

/// One outbox entry, read for framing.
struct Entry {
    seq: u64,
    id: u128,
    n: u32,
    lines: Vec<u8>,
}

/// A frame put together: its index and its compressed lines.
struct Built {
    index: Vec<u8>,
    zst: Vec<u8>,
    plain: Vec<u8>,
}

/// The frame of `run`, or `None` when one of its lines is not in this build's shape (those entries stay
/// unframed: an export reads them one by one, and refuses a bad one with its reason).
fn build(run: &[Entry]) -> Result<Option<Built>> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        petugas: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        form_id: std::borrow::Cow<'a, str>,
        form_version: u64,
    }
    let mut index = Index::default();
    let mut plain = Vec::with_capacity(run.iter().map(|e| e.lines.len()).sum());
    let mut petugas = BTreeSet::new();
    let mut forms = BTreeSet::new();
    let mut referenced = BTreeSet::new();
    for entry in run {
        let mut count = 0u32;
        let mut last: &[u8] = &[];
        for line in Lines(&entry.lines) {
            let (hash, line) = line?;
            let Ok(head) = serde_json::from_slice::<Head<'_>>(line) else {
                return Ok(None);
            };
            if line.contains(&b'\n') {
                return Ok(None);
            }
            petugas.insert(head.petugas.into_owned());
            forms.insert((head.form_id.into_owned(), head.form_version));
            attachment_refs(line, &mut referenced);
            index.hashes.extend_from_slice(hash);
            plain.extend_from_slice(line);
            plain.push(b'\n');
            count += 1;
            last = line;
        }
        index.entries.push(IndexEntry {
            seq: entry.seq,
            id: entry.id,
            n: entry.n,
            lines: count,
            at: at_text(last).unwrap_or_default().to_string(),
        });
    }
    index.plain_size = plain.len() as u64;
    index.petugas = petugas.into_iter().collect();
    index.forms = forms.into_iter().collect();
    index.referenced = referenced.into_iter().collect();
    let zst = zstd::bulk::compress(&plain, FRAME_LEVEL)?;
    Ok(Some(Built {
        index: index.encode(),
        zst,
        plain,
    }))
}

/// The text of a stored revision's own `at` (its last one: nested answers come before it).
fn at_text(raw: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"at\":\"";
    let start = raw.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let rest = raw.get(start..)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(rest.get(..end)?).ok()
}

/// What a frame holds, by entry, and what a bundle counts of it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Index {
    entries: Vec<IndexEntry>,
    /// The SHA-256 of each line, in order.
    hashes: Vec<u8>,
    /// The lines' bytes with their newlines: what the frame decompresses to.
    plain_size: u64,
    petugas: Vec<String>,
    forms: Vec<(String, u64)>,
    /// The photos the lines refer to (SHA-256, hex).
    referenced: Vec<String>,
}

/// One outbox entry of a frame.
#[derive(Debug, PartialEq, Eq)]
struct IndexEntry {
    seq: u64,
    id: u128,
    n: u32,
    lines: u32,
    /// The finalized revision's `at`, as stored (empty when it has none in this build's shape).
    at: String,
}

/// Little-endian fields, strings with a u16 length; read back by [`Reader`].
impl Index {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 64 + self.hashes.len() + 256);
        let put_str = |out: &mut Vec<u8>, s: &str| {
            let b = s.as_bytes();
            let b = b.get(..b.len().min(usize::from(u16::MAX))).unwrap_or(b);
            out.extend_from_slice(&(b.len() as u16).to_le_bytes());
            out.extend_from_slice(b);
        };
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.seq.to_le_bytes());
            out.extend_from_slice(&e.id.to_le_bytes());
            out.extend_from_slice(&e.n.to_le_bytes());
            out.extend_from_slice(&e.lines.to_le_bytes());
            put_str(&mut out, &e.at);
        }
        out.extend_from_slice(&self.hashes);
        out.extend_from_slice(&self.plain_size.to_le_bytes());
        out.extend_from_slice(&(self.petugas.len() as u32).to_le_bytes());
        for p in &self.petugas {
            put_str(&mut out, p);
        }
        out.extend_from_slice(&(self.forms.len() as u32).to_le_bytes());
        for (id, version) in &self.forms {
            put_str(&mut out, id);
            out.extend_from_slice(&version.to_le_bytes());
        }
        out.extend_from_slice(&(self.referenced.len() as u32).to_le_bytes());
        for r in &self.referenced {
            put_str(&mut out, r);
        }
        out
    }

    fn decode(raw: &[u8]) -> Result<Index> {
        let mut r = Reader(raw);
        let damaged = || StoreError::Storage("an outbox frame's index is damaged".into());
        let entries = r.u32().ok_or_else(damaged)?;
        let mut index = Index::default();
        let mut lines = 0u64;
        for _ in 0..entries {
            let e = (|| {
                Some(IndexEntry {
                    seq: r.u64()?,
                    id: u128::from_le_bytes(*r.take(16)?.first_chunk()?),
                    n: r.u32()?,
                    lines: r.u32()?,
                    at: r.str()?,
                })
            })()
            .ok_or_else(damaged)?;
            lines += u64::from(e.lines);
            index.entries.push(e);
        }
        let hashes = usize::try_from(lines.saturating_mul(32)).map_err(|_| damaged())?;
        index.hashes = r.take(hashes).ok_or_else(damaged)?.to_vec();
        index.plain_size = r.u64().ok_or_else(damaged)?;
        for _ in 0..r.u32().ok_or_else(damaged)? {
            index.petugas.push(r.str().ok_or_else(damaged)?);
        }
        for _ in 0..r.u32().ok_or_else(damaged)? {
            let id = r.str().ok_or_else(damaged)?;
            index.forms.push((id, r.u64().ok_or_else(damaged)?));
        }
        for _ in 0..r.u32().ok_or_else(damaged)? {
            index.referenced.push(r.str().ok_or_else(damaged)?);
        }
        if !r.0.is_empty() {
            return Err(damaged());
        }
        Ok(index)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(*self.take(2)?.first_chunk()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(*self.take(4)?.first_chunk()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(*self.take(8)?.first_chunk()?))
    }
    fn str(&mut self) -> Option<String> {
        let len = usize::from(self.u16()?);
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

/// A frame an export copies whole: one zstd frame of lines (each ending in a newline), and what a
/// bundle counts of them.
pub struct ExportFrame<'a> {
    /// The compressed lines: one complete zstd frame.
    pub zst: &'a [u8],
    /// How many lines it holds.
    pub lines: u64,
    /// Their bytes with the newlines.
    pub plain_size: u64,
    /// The SHA-256 of each line, in order (32 bytes each).
    pub hashes: &'a [u8],
    pub records: Vec<Uuid>,
    pub petugas: &'a [String],
    /// Form id and version.
    pub forms: &'a [(String, u64)],
    /// The photos the lines refer to (SHA-256, hex).
    pub referenced: &'a [String],
}

/// Whether `zst` is one complete zstd frame that declares the index's plain size: what an export checks
/// before it copies a frame (reading its headers only).
fn whole(zst: &[u8], index: &Index) -> bool {
    zstd::zstd_safe::find_frame_compressed_size(zst) == Ok(zst.len())
        && zstd::zstd_safe::get_frame_content_size(zst).ok() == Some(Some(index.plain_size))
}

/// What an export reads, in sequence order (see [`Store::export_framed`]).
pub enum Outgoing<'a> {
    /// One line read from the outbox, with its SHA-256.
    Line(&'a [u8], &'a [u8; 32]),
    /// A whole frame of lines.
    Frame(ExportFrame<'a>),
    /// A finalized revision whose lines (or frame) came just before.
    Item(ExportItem),
}

/// Drops the frames that hold any of the outbox entries at `removed` (a purge took them away).
pub(super) fn drop_holding(txn: &WriteTransaction, removed: &[u64]) -> Result<()> {
    if removed.is_empty() {
        return Ok(());
    }
    let mut frames = txn.open_table(FRAMES)?;
    let mut gone = BTreeSet::new();
    for &seq in removed {
        if let Some(f) = frames.range(..=seq)?.next_back() {
            let (first, v) = f?;
            if v.value().0 >= seq {
                gone.insert(first.value());
            }
        }
    }
    for first in gone {
        frames.remove(first)?;
    }
    Ok(())
}

/// Problems of the frames: one that overlaps another or lies past the frontier, a damaged index, or a
/// frame that is not what its outbox entries make now.
pub(super) fn check(txn: &redb::ReadTransaction) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let Some(frames) = optional(txn, FRAMES)? else {
        return Ok(vec!["the outbox frames' table is missing".into()]);
    };
    let state: State = match txn.open_table(META)?.get(STATE)? {
        Some(raw) => decode(raw.value(), "outbox frame state")?,
        None => {
            problems.push("the outbox frames' state is missing".into());
            State::default()
        }
    };
    let outbox = txn.open_table(OUTBOX)?;
    let mut after = 0u64;
    for f in frames.iter()? {
        let (k, v) = f?;
        let first = k.value();
        let (last, index, zst) = v.value();
        let mut problem = |what: &str| {
            problems.push(format!("outbox frame {first}..{last}: {what}"));
        };
        if first < after || last < first || last > state.frontier {
            problem("out of place");
        }
        after = last.saturating_add(1);
        let mut run = Vec::new();
        for entry in outbox.range(first..=last)? {
            let (k, v) = entry?;
            let (id, n, lines) = v.value();
            run.push(Entry {
                seq: k.value(),
                id,
                n,
                lines: lines.to_vec(),
            });
        }
        let Some(built) = build(&run)? else {
            problem("its entries cannot be framed");
            continue;
        };
        if built.index != index {
            problem("its index does not match the outbox");
            continue;
        }
        let plain = Index::decode(index)?.plain_size;
        if plain > MAX_PLAIN {
            problem("too large");
            continue;
        }
        let unpacked = zstd::bulk::decompress(zst, usize::try_from(plain).unwrap_or(0));
        if unpacked.as_deref().ok() != Some(built.plain.as_slice()) {
            problem("its lines do not match the outbox");
        }
    }
    Ok(problems)
}

impl Store {
    /// [`Store::export_revisions_each`], copying whole frames: every frame of the outbox that lies inside
    /// `from..=to` (and holds no purged family) goes to `each` as [`Outgoing::Frame`], the lines between
    /// them one by one, in sequence order; each finalized revision's [`ExportItem`] right after its
    /// lines or its frame.
    pub fn export_framed<E: From<StoreError>>(
        &self,
        from: u64,
        to: u64,
        mut each: impl FnMut(Outgoing<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let txn = self.db.begin_read()?;
        let outbox = txn.open_table(OUTBOX).map_err(StoreError::from)?;
        let purged = optional(&txn, PURGED)?;
        let mut next = from;
        if let Some(frames) = optional(&txn, FRAMES)? {
            for f in frames.range(from..=to).map_err(StoreError::from)? {
                let (k, v) = f.map_err(StoreError::from)?;
                let first = k.value();
                let (last, index, zst) = v.value();
                if last > to {
                    // Frames do not overlap: every later one ends further on.
                    break;
                }
                // A frame that is not whole is passed over: its lines are read one by one instead
                // (the integrity check names it).
                let Some(index) = Index::decode(index).ok().filter(|i| whole(zst, i)) else {
                    continue;
                };
                if let Some(p) = &purged {
                    let mut any = false;
                    for e in &index.entries {
                        any |= p.get(e.id).map_err(StoreError::from)?.is_some();
                    }
                    if any {
                        continue;
                    }
                }
                if first > next {
                    export_lines(&outbox, purged.as_ref(), next, first - 1, &mut each)?;
                }
                let lines: u64 = index.entries.iter().map(|e| u64::from(e.lines)).sum();
                each(Outgoing::Frame(ExportFrame {
                    zst,
                    lines,
                    plain_size: index.plain_size,
                    hashes: &index.hashes,
                    records: index
                        .entries
                        .iter()
                        .map(|e| Uuid::from_u128(e.id))
                        .collect(),
                    petugas: &index.petugas,
                    forms: &index.forms,
                    referenced: &index.referenced,
                }))?;
                for e in index.entries {
                    each(Outgoing::Item(ExportItem {
                        record: Uuid::from_u128(e.id),
                        revision: e.n,
                        seq: e.seq,
                        at: chrono::DateTime::parse_from_rfc3339(&e.at).ok(),
                    }))?;
                }
                next = last.saturating_add(1);
            }
        }
        if next <= to {
            export_lines(&outbox, purged.as_ref(), next, to, &mut each)?;
        }
        Ok(())
    }

    /// Test support: seals frames once `bytes` of lines wait (instead of [`FRAME_BYTES`]), so that a test
    /// with a few families exercises them.
    #[cfg(feature = "test-support")]
    pub fn set_frame_bytes(&self, bytes: u64) -> Result<()> {
        let txn = self.db.begin_write()?;
        let mut state = read_state(&txn)?;
        state.target = bytes.max(1);
        write_state(&txn, &state)?;
        txn.commit()?;
        Ok(())
    }

    /// Test support: cuts every frame's compressed lines to half (a damaged store). Returns how many.
    #[cfg(feature = "test-support")]
    pub fn cut_frames(&self) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let mut cut = Vec::new();
        {
            let frames = txn.open_table(FRAMES)?;
            for f in frames.iter()? {
                let (k, v) = f?;
                let (last, index, zst) = v.value();
                let half = zst.get(..zst.len() / 2).unwrap_or_default().to_vec();
                cut.push((k.value(), last, index.to_vec(), half));
            }
        }
        let mut frames = txn.open_table(FRAMES)?;
        for (first, last, index, zst) in &cut {
            frames.insert(*first, (*last, index.as_slice(), zst.as_slice()))?;
        }
        drop(frames);
        txn.commit()?;
        Ok(cut.len() as u64)
    }

    /// Test support: how many frames the outbox has.
    #[cfg(feature = "test-support")]
    pub fn frame_count(&self) -> Result<u64> {
        use redb::ReadableTableMetadata as _;
        let txn = self.db.begin_read()?;
        Ok(match optional(&txn, FRAMES)? {
            Some(t) => t.len()?,
            None => 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_reads_back_and_a_cut_or_padded_one_is_refused() {
        let index = Index {
            entries: vec![IndexEntry {
                seq: 7,
                id: 0x0193_a1b2_0000_7000_8000_0000_0000_0001,
                n: 3,
                lines: 2,
                at: "2026-11-29T08:00:00+08:00".into(),
            }],
            hashes: vec![0xAB; 64],
            plain_size: 1234,
            petugas: vec!["P001".into()],
            forms: vec![("keluarga".into(), 2026112801)],
            referenced: vec!["a".repeat(64)],
        };
        let raw = index.encode();
        assert_eq!(Index::decode(&raw).unwrap(), index);
        for cut in 0..raw.len() {
            assert!(Index::decode(&raw[..cut]).is_err(), "cut at {cut}");
        }
        let mut padded = raw.clone();
        padded.push(0);
        assert!(Index::decode(&padded).is_err());
        // A count that claims more than there is.
        let mut huge = raw;
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Index::decode(&huge).is_err());
    }
}
