//! Writing bundles: collect revisions (compressed as they come), seal the manifest with the device key,
//! then stream the archive through age onto the target — under a temporary name, fsynced, renamed,
//! the directory fsynced, read back and verified. Only a verified file carries the final name.

use std::collections::BTreeSet;
use std::io::{self, Write};

use chrono::{DateTime, FixedOffset};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::manifest::{Counts, DeviceRef, ExportKind, FormRef, Manifest, Part, SeqRange};
use super::{
    ATTACHMENT_DIR, BundleError, FORMAT, FORMAT_VERSION, LINE_HASHES_FILE, MANIFEST_FILE,
    REVISIONS_FILE, Result, SIGNATURE_FILE, hex,
};
use crate::durable::Hashing as HashingWriter;
use crate::model::record::attachment_refs;

/// zstd level. On the JSON lines the store holds, level 1 is both faster than zstd's default 3 (about
/// two thirds of its CPU time) and smaller: 100,000 families make a bundle of 26.6 MiB against 28.1
/// MiB (BENCHMARKS.md, "Export to a USB bundle"). Readers need nothing else: the level is not part of
/// the format.
const ZSTD_LEVEL: i32 = 1;

/// zstd's window for a device bundle: 2 MiB (level 1 alone takes 512 KiB on large inputs). On these
/// lines the wider window finds more of the repeats between families: the compressor runs faster and
/// the bundle is smaller (BENCHMARKS.md, "Export to a USB bundle"). Readers accept windows up to
/// [`super::MAX_WINDOW_LOG`].
const ZSTD_WINDOW_LOG: u32 = 21;

/// The fixed facts of a bundle that are not counted from its contents.
pub struct Header {
    pub created_at: DateTime<FixedOffset>,
    pub device: DeviceRef,
    pub sequence: SeqRange,
    pub kind: ExportKind,
}

/// Lines are handed to the compressor in batches of about this many bytes.
const BATCH: usize = 1 << 20;

/// Plain bytes on their way through the compressor. For [`Hash::Lines`], `ends` holds where each line
/// ends (the offset of its newline): the builder knows them as it appends, so the hasher searches
/// for no newline.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Beside `ends`: each line's SHA-256 when the store kept it, else `None` (hashed on the second
    /// thread).
    hashes: Vec<Option<[u8; 32]>>,
    /// A frame compressed already, after `bytes` (a device bundle's lines only).
    frame: Option<Box<Framed>>,
}

/// A [`Frame`] on its way through the compressor: copied by the first worker, counted by the second.
struct Framed {
    zst: Vec<u8>,
    plain_size: u64,
    inspected: Inspected,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            bytes: Vec::with_capacity(BATCH + 64 * 1024),
            ends: Vec::new(),
            hashes: Vec::new(),
            frame: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.frame.is_none()
    }
}

/// What the compressor worker hands back: the compressed part, its SHA-256 (hex) and its size.
type Worked = (Vec<u8>, String, u64);

/// What the second worker hashes of the plain bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    /// The SHA-256 of everything written (upward bundles' payload).
    Whole,
    /// The SHA-256 of each line, without its newline (a device bundle's `revisions.sha256`): what is
    /// written must be whole lines, each ending in a newline.
    Lines,
}

/// What the hasher worked out, by [`Hash`].
enum Hashed {
    Whole(String),
    /// The lines' hashes and what the manifest counts, or why a line was refused.
    Lines(std::result::Result<Box<Inspected>, String>),
}

/// What the second worker makes of a device bundle's lines: each line's SHA-256 (`revisions.sha256`)
/// and what the manifest counts of them. Done beside the reading thread, which only batches the lines.
#[derive(Default)]
struct Inspected {
    hashes: Vec<u8>,
    records: BTreeSet<Uuid>,
    petugas: BTreeSet<String>,
    forms: BTreeSet<FormRef>,
    referenced: BTreeSet<String>,
}

impl Inspected {
    /// One stored revision: its record, petugas, form and photos counted, its hash kept (made now when
    /// the store did not keep it).
    fn line(&mut self, raw: &[u8], hash: Option<&[u8; 32]>) -> std::result::Result<(), String> {
        match quick_head(raw) {
            Some((record, petugas, form_id, form_version)) => {
                self.count(record, petugas, form_id, form_version);
            }
            None => {
                // Another shape than this build's store writes: parse (the answers are skipped, not
                // built).
                #[derive(serde::Deserialize)]
                struct Head<'a> {
                    record: Uuid,
                    #[serde(borrow)]
                    petugas: std::borrow::Cow<'a, str>,
                    #[serde(borrow)]
                    form_id: std::borrow::Cow<'a, str>,
                    form_version: u64,
                }
                let h: Head<'_> = serde_json::from_slice(raw)
                    .map_err(|e| format!("a stored revision is not valid: {e}"))?;
                self.count(h.record, &h.petugas, &h.form_id, h.form_version);
            }
        }
        attachment_refs(raw, &mut self.referenced);
        match hash {
            Some(h) => self.hashes.extend_from_slice(h),
            None => self.hashes.extend_from_slice(&Sha256::digest(raw)),
        }
        Ok(())
    }

    /// Adds what a frame's lines hold (they come after everything counted so far).
    fn merge(&mut self, other: Inspected) {
        self.hashes.extend_from_slice(&other.hashes);
        self.records.extend(other.records);
        self.petugas.extend(other.petugas);
        self.forms.extend(other.forms);
        self.referenced.extend(other.referenced);
    }

    fn count(&mut self, record: Uuid, petugas: &str, form_id: &str, form_version: u64) {
        self.records.insert(record);
        if !self.petugas.contains(petugas) {
            self.petugas.insert(petugas.to_string());
        }
        if !self
            .forms
            .iter()
            .any(|f| f.version == form_version && f.id == form_id)
        {
            self.forms.insert(FormRef {
                id: form_id.to_string(),
                version: form_version,
            });
        }
    }
}

/// The compressor: a pipeline of two worker threads behind the caller, who reads, parses and batches
/// the JSON lines. The first compresses each batch, then passes it to the second, which hashes the
/// plain bytes (whole, or line by line) and hands the emptied buffer back to be filled again. Three
/// stages of about the same cost, which the system spreads over the cores.
struct Compressor {
    tx: Option<std::sync::mpsc::SyncSender<Batch>>,
    /// Batches the workers are done with, emptied, to be filled again: fresh megabyte buffers would
    /// each be fresh pages for the kernel to hand out.
    spare: std::sync::mpsc::Receiver<Batch>,
    worker: Option<std::thread::JoinHandle<io::Result<Worked>>>,
    hasher: Option<std::thread::JoinHandle<(Hashed, u64)>>,
}

pub(super) struct Compressed {
    pub(super) zst: Vec<u8>,
    zsha: String,
    zsize: u64,
    /// What the hasher made of what went in.
    hashed: Hashed,
    plain_size: u64,
}

impl Compressed {
    /// The SHA-256 (hex) of everything that went in (a compressor started with [`Hash::Whole`]).
    pub(super) fn plain_sha(&self) -> &str {
        match &self.hashed {
            Hashed::Whole(h) => h,
            Hashed::Lines(_) => "",
        }
    }
}

impl Compressor {
    fn start(level: i32, window_log: Option<u32>, hash: Hash) -> Compressor {
        // Two batches waiting at each stage at most: memory stays a few MB whatever the export's size.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
        let (to_hash, hash_rx) = std::sync::mpsc::sync_channel::<Batch>(2);
        let (back, spare) = std::sync::mpsc::sync_channel::<Batch>(3);
        let worker = std::thread::spawn(move || compress_batches(rx, to_hash, level, window_log));
        let hasher = std::thread::spawn(move || {
            let mut whole = Sha256::new();
            let mut lines = Ok(Box::<Inspected>::default());
            let mut size = 0u64;
            for mut batch in hash_rx {
                match hash {
                    Hash::Whole => whole.update(&batch.bytes),
                    // Batches hold whole lines, each ending in a newline at an offset in `ends`. (A
                    // broken offset would hash the wrong bytes, which the read-back refuses.) After
                    // a refused line the batches are only drained.
                    Hash::Lines => {
                        let framed = batch.frame.take();
                        if let Some(f) = &framed {
                            size += f.plain_size;
                        }
                        if let Ok(inspected) = &mut lines {
                            let mut start = 0;
                            let mut refused = None;
                            for (i, &end) in batch.ends.iter().enumerate() {
                                let line = batch.bytes.get(start..end).unwrap_or_default();
                                let hash = batch.hashes.get(i).and_then(Option::as_ref);
                                if let Err(e) = inspected.line(line, hash) {
                                    refused = Some(e);
                                    break;
                                }
                                start = end + 1;
                            }
                            match refused {
                                Some(e) => lines = Err(e),
                                // A frame comes after the batch's lines.
                                None => {
                                    if let Some(f) = framed {
                                        inspected.merge(f.inspected);
                                    }
                                }
                            }
                        }
                    }
                }
                size += batch.bytes.len() as u64;
                batch.bytes.clear();
                batch.ends.clear();
                batch.hashes.clear();
                batch.frame = None;
                // Nobody waiting for it (the export ended) or enough spares: drop it.
                let _ = back.try_send(batch);
            }
            let hashed = match hash {
                Hash::Whole => Hashed::Whole(hex(&whole.finalize())),
                Hash::Lines => Hashed::Lines(lines),
            };
            (hashed, size)
        });
        Compressor {
            tx: Some(tx),
            spare,
            worker: Some(worker),
            hasher: Some(hasher),
        }
    }

    fn send(&mut self, batch: Batch) -> Result<()> {
        let sent = self.tx.as_ref().map(|tx| tx.send(batch));
        if matches!(sent, Some(Ok(()))) {
            return Ok(());
        }
        // The worker stopped early: its error says why.
        Err(match self.finish() {
            Err(e) => e,
            Ok(_) => BundleError::invalid("the compressor stopped"),
        })
    }

    /// An empty batch buffer: one the workers gave back, else a new one.
    fn buffer(&self) -> Batch {
        self.spare.try_recv().unwrap_or_else(|_| Batch::new())
    }

    fn finish(&mut self) -> Result<Compressed> {
        self.tx = None;
        let worked = match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => return Err(BundleError::invalid("the compressor thread failed")),
            None => return Err(BundleError::invalid("the compressor already finished")),
        };
        // The compressor is gone, so its channel to the hasher is closed: the hasher ends too.
        let hashed = self.hasher.take().map(std::thread::JoinHandle::join);
        let (zst, zsha, zsize) = worked?;
        let (hashed, plain_size) = match hashed {
            Some(Ok(h)) => h,
            _ => return Err(BundleError::invalid("the hashing thread failed")),
        };
        Ok(Compressed {
            zst,
            zsha,
            zsize,
            hashed,
            plain_size,
        })
    }
}

/// The compressor's first worker: compresses the batches' lines into zstd frames, copies the frames
/// made already between them, and passes each batch on to the hasher.
fn compress_batches(
    rx: std::sync::mpsc::Receiver<Batch>,
    to_hash: std::sync::mpsc::SyncSender<Batch>,
    level: i32,
    window_log: Option<u32>,
) -> io::Result<Worked> {
    type Encoder = zstd::stream::Encoder<'static, HashingWriter<Vec<u8>>>;
    let start = |out: HashingWriter<Vec<u8>>| -> io::Result<Encoder> {
        let mut enc = zstd::stream::Encoder::new(out, level)?;
        if let Some(w) = window_log {
            enc.window_log(w)?;
        }
        Ok(enc)
    };
    // Lines go into the frame being written; a frame made already ends that one and is
    // copied after it (a zstd file may hold several frames one after another).
    let mut out = Some(HashingWriter::new(Vec::new()));
    let mut enc: Option<Encoder> = None;
    let mut any = false;
    for batch in rx {
        if !batch.bytes.is_empty() {
            let e = match (&mut enc, out.take()) {
                (Some(e), _) => e,
                (None, Some(o)) => enc.insert(start(o)?),
                (None, None) => {
                    return Err(io::Error::other("the compressor lost its output"));
                }
            };
            e.write_all(&batch.bytes)?;
            any = true;
        }
        if let Some(frame) = &batch.frame {
            if let Some(e) = enc.take() {
                out = Some(e.finish()?);
            }
            let Some(o) = out.as_mut() else {
                return Err(io::Error::other("the compressor lost its output"));
            };
            o.write_all(&frame.zst)?;
            any = true;
        }
        if to_hash.send(batch).is_err() {
            return Err(io::Error::other("the hasher stopped"));
        }
    }
    let out = match (enc, out) {
        (Some(e), _) => e.finish()?,
        // Nothing at all went in: an empty frame, as before.
        (None, Some(o)) if !any => start(o)?.finish()?,
        (None, Some(o)) => o,
        (None, None) => return Err(io::Error::other("the compressor lost its output")),
    };
    Ok(out.finish())
}

/// A writer into the [`Compressor`]: what is written is gathered into batches of about [`BATCH`]
/// bytes, compressed on one thread and hashed on another while the caller goes on writing.
pub(super) struct Compressing {
    compressor: Compressor,
    batch: Batch,
}

impl Compressing {
    pub(super) fn start(level: i32) -> Compressing {
        Compressing {
            compressor: Compressor::start(level, None, Hash::Whole),
            batch: Batch::new(),
        }
    }

    /// The compressed bytes and the hash of everything written.
    pub(super) fn finish(mut self) -> Result<Compressed> {
        if !self.batch.is_empty() {
            let last = std::mem::take(&mut self.batch);
            self.compressor.send(last)?;
        }
        self.compressor.finish()
    }
}

impl Write for Compressing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.batch.bytes.extend_from_slice(buf);
        if self.batch.bytes.len() >= BATCH {
            let empty = self.compressor.buffer();
            let full = std::mem::replace(&mut self.batch, empty);
            self.compressor
                .send(full)
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The record id, petugas, form id and form version of a stored revision, read from its bytes without
/// parsing the answers. The store writes `record`, `form_id` and `form_version` before `answers` and
/// `petugas` after it, in compact JSON; inside strings every quote is escaped. So the first `"record":"`,
/// `"form_id":"` and `"form_version":` are the revision's own (nothing nested comes before them), and the
/// last `"petugas":"` is too (nothing nested comes after it). Strings with escapes, or any other shape,
/// give `None`: the caller parses in full.
fn quick_head(raw: &[u8]) -> Option<(Uuid, &str, &str, u64)> {
    // The needles start with a quote: only where the haystack has one are the rest's bytes compared
    // (comparing at every position cost as much as hashing the lines).
    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        let (&first, rest) = needle.split_first()?;
        let mut from = 0;
        loop {
            let at = from + hay.get(from..)?.iter().position(|&b| b == first)?;
            if hay.get(at + 1..at + needle.len()) == Some(rest) {
                return Some(at + needle.len());
            }
            from = at + 1;
        }
    }
    fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
        let (&first, rest) = needle.split_first()?;
        let mut to = hay.len();
        loop {
            let at = hay.get(..to)?.iter().rposition(|&b| b == first)?;
            if hay.get(at + 1..at + needle.len()) == Some(rest) {
                return Some(at + needle.len());
            }
            to = at;
        }
    }
    // A plain string (no escapes) starting at `at`.
    fn plain(raw: &[u8], at: usize) -> Option<&str> {
        let rest = raw.get(at..)?;
        let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
        if rest.get(end) != Some(&b'"') {
            return None;
        }
        std::str::from_utf8(rest.get(..end)?).ok()
    }
    const HEAD: usize = 512;
    let head = raw.get(..raw.len().min(HEAD))?;
    let answers = find(head, br#""answers":"#)?;
    let head = head.get(..answers)?;
    let record = Uuid::parse_str(plain(raw, find(head, br#""record":""#)?)?).ok()?;
    let form_id = plain(raw, find(head, br#""form_id":""#)?)?;
    let at = find(head, br#""form_version":"#)?;
    let digits = head.get(at..)?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    let form_version = std::str::from_utf8(digits.get(..end)?).ok()?.parse().ok()?;
    let tail_from = raw.len().saturating_sub(HEAD).max(answers);
    let tail = raw.get(tail_from..)?;
    let petugas = plain(raw, tail_from + rfind(tail, br#""petugas":""#)?)?;
    Some((record, petugas, form_id, form_version))
}

/// Lines the store compressed already, for [`Builder::add_frame`].
pub struct Frame<'a> {
    /// One complete zstd frame of whole lines, each ending in a newline.
    pub zst: &'a [u8],
    /// How many lines.
    pub lines: u64,
    /// Their bytes, newlines included.
    pub plain_size: u64,
    /// The SHA-256 of each line (its bytes without the newline), in order: 32 bytes each.
    pub hashes: &'a [u8],
    pub records: &'a [Uuid],
    pub petugas: &'a [String],
    /// Form id and version.
    pub forms: &'a [(String, u64)],
    /// The photos the lines refer to (SHA-256, hex).
    pub referenced: &'a [String],
}

/// Collects revisions into the compressed `revisions.jsonl.zst` and counts what the manifest says.
pub struct Builder {
    compressor: Compressor,
    batch: Batch,
    revisions: u64,
}

impl Builder {
    pub fn new() -> Result<Builder> {
        Ok(Builder {
            compressor: Compressor::start(ZSTD_LEVEL, Some(ZSTD_WINDOW_LOG), Hash::Lines),
            batch: Batch::new(),
            revisions: 0,
        })
    }

    /// Adds one revision: `raw` is the exact JSON the store holds; it becomes one line (hashed on the
    /// second thread).
    pub fn add_revision(&mut self, raw: &[u8]) -> Result<()> {
        self.append(raw, None)
    }

    /// [`Builder::add_revision`] for a line whose SHA-256 the store kept beside it.
    pub fn add_stored(&mut self, raw: &[u8], sha256: &[u8; 32]) -> Result<()> {
        self.append(raw, Some(*sha256))
    }

    /// Batches one line; the second thread counts what it names (a revision it cannot read stops the
    /// bundle when it is sealed).
    fn append(&mut self, raw: &[u8], sha256: Option<[u8; 32]>) -> Result<()> {
        if raw.contains(&b'\n') {
            return Err(BundleError::invalid(
                "a stored revision contains a raw line break",
            ));
        }
        self.batch.bytes.extend_from_slice(raw);
        self.batch.ends.push(self.batch.bytes.len());
        self.batch.hashes.push(sha256);
        self.batch.bytes.push(b'\n');
        if self.batch.bytes.len() >= BATCH {
            let empty = self.compressor.buffer();
            let full = std::mem::replace(&mut self.batch, empty);
            self.compressor.send(full)?;
        }
        self.revisions += 1;
        Ok(())
    }

    /// Adds lines compressed already: `frame.zst` is one complete zstd frame of whole lines, each
    /// ending in a newline, and the rest says what they hold (the store made both together). They
    /// follow the lines added before, in order.
    pub fn add_frame(&mut self, frame: Frame<'_>) -> Result<()> {
        if frame.hashes.len() as u64 != frame.lines.saturating_mul(32) {
            return Err(BundleError::invalid(format!(
                "a stored frame of {} lines has {} bytes of line hashes",
                frame.lines,
                frame.hashes.len()
            )));
        }
        if !self.batch.bytes.is_empty() {
            let empty = self.compressor.buffer();
            let full = std::mem::replace(&mut self.batch, empty);
            self.compressor.send(full)?;
        }
        let inspected = Inspected {
            hashes: frame.hashes.to_vec(),
            records: frame.records.iter().copied().collect(),
            petugas: frame.petugas.iter().cloned().collect(),
            forms: frame
                .forms
                .iter()
                .map(|(id, version)| FormRef {
                    id: id.clone(),
                    version: *version,
                })
                .collect(),
            referenced: frame.referenced.iter().cloned().collect(),
        };
        let mut batch = self.compressor.buffer();
        batch.frame = Some(Box::new(Framed {
            zst: frame.zst.to_vec(),
            plain_size: frame.plain_size,
            inspected,
        }));
        self.compressor.send(batch)?;
        self.revisions += frame.lines;
        Ok(())
    }

    pub fn revisions(&self) -> u64 {
        self.revisions
    }

    /// Seals the bundle: `attachments` are the referenced ones the store holds, as (hash, bytes)
    /// pairs fetched on demand. Each must hash to its name.
    pub fn seal(
        self,
        header: Header,
        key: &SigningKey,
        attachments: &mut dyn AttachmentSource,
    ) -> Result<Sealed> {
        self.seal_as(Uuid::now_v7(), header, key, attachments)
    }

    /// [`Builder::seal`] under a bundle id the caller chose (to mark records under it while the file
    /// is written).
    pub fn seal_as(
        self,
        bundle_id: Uuid,
        header: Header,
        key: &SigningKey,
        attachments: &mut dyn AttachmentSource,
    ) -> Result<Sealed> {
        let mut compressor = self.compressor;
        if !self.batch.is_empty() {
            compressor.send(self.batch)?;
        }
        let c = compressor.finish()?;
        // The second thread hashed each line (or took the store's hash): `revisions.sha256`, which the
        // manifest lists (its size and hash) but the archive does not carry (format 3: the reader
        // derives it).
        let Hashed::Lines(inspected) = c.hashed else {
            return Err(BundleError::invalid("the revisions were hashed whole"));
        };
        let inspected = inspected.map_err(BundleError::invalid)?;
        let line_hashes = &inspected.hashes;
        if line_hashes.len() as u64 != self.revisions * 32 {
            return Err(BundleError::invalid(format!(
                "{} line hashes for {} revisions",
                line_hashes.len() / 32,
                self.revisions
            )));
        }
        let mut parts = vec![
            Part {
                path: LINE_HASHES_FILE.into(),
                size: line_hashes.len() as u64,
                sha256: hex(&Sha256::digest(line_hashes)),
                plain_size: None,
                plain_sha256: None,
            },
            Part {
                path: REVISIONS_FILE.into(),
                size: c.zsize,
                sha256: c.zsha,
                plain_size: Some(c.plain_size),
                plain_sha256: None,
            },
        ];
        let hashed = c.zst;
        let mut included = Vec::new();
        for hash in &inspected.referenced {
            let Some(bytes) = attachments.attachment(hash)? else {
                continue;
            };
            let actual = hex(&Sha256::digest(&bytes));
            if &actual != hash {
                return Err(BundleError::invalid(format!(
                    "photo {hash} is damaged in the store (its bytes hash to {actual})"
                )));
            }
            parts.push(Part {
                path: format!("{ATTACHMENT_DIR}{hash}"),
                size: bytes.len() as u64,
                sha256: actual,
                plain_size: None,
                plain_sha256: None,
            });
            included.push(hash.clone());
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            bundle_id,
            created_at: header.created_at,
            device: header.device,
            sequence: header.sequence,
            kind: header.kind,
            petugas: inspected.petugas.into_iter().collect(),
            forms: inspected.forms.into_iter().collect(),
            counts: Counts {
                records: inspected.records.len() as u64,
                revisions: self.revisions,
                attachments: included.len() as u64,
            },
            parts,
        };
        let mut manifest_bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| BundleError::invalid(e.to_string()))?;
        manifest_bytes.push(b'\n');
        let signature = format!("{}\n", hex(&key.sign(&manifest_bytes).to_bytes()));
        Ok(Sealed {
            manifest,
            manifest_bytes,
            signature,
            revisions: hashed,
            attachments: included,
        })
    }
}

/// Where the writer fetches attachment bytes (the device store, in the app).
pub trait AttachmentSource {
    fn attachment(&mut self, hash: &str) -> Result<Option<Vec<u8>>>;
}

/// A bundle ready to be written: the manifest is signed, the revisions compressed.
pub struct Sealed {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub signature: String,
    revisions: Vec<u8>,
    attachments: Vec<String>,
}

impl Sealed {
    /// A close upper bound of the file size, for the free-space check.
    pub fn estimated_size(&self) -> u64 {
        let parts: u64 = self.manifest.parts.iter().map(|p| p.size + 1024).sum();
        parts + self.manifest_bytes.len() as u64 + 8 * 1024
    }

    /// Streams the archive through age to `out`. Attachments are fetched again (they were hashed when
    /// sealing) and must still match.
    pub fn encrypt_to<W: Write>(
        &self,
        recipients: &[age::x25519::Recipient],
        attachments: &mut dyn AttachmentSource,
        out: W,
    ) -> Result<W> {
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| BundleError::invalid(format!("cannot encrypt: {e}")))?;
        let stream = encryptor.wrap_output(out)?;
        let mut tar = tar::Builder::new(stream);
        let mtime = u64::try_from(self.manifest.created_at.timestamp()).unwrap_or(0);
        append(&mut tar, MANIFEST_FILE, &self.manifest_bytes, mtime)?;
        append(&mut tar, SIGNATURE_FILE, self.signature.as_bytes(), mtime)?;
        append(&mut tar, REVISIONS_FILE, &self.revisions, mtime)?;
        for hash in &self.attachments {
            let bytes = attachments.attachment(hash)?.ok_or_else(|| {
                BundleError::invalid(format!("photo {hash} disappeared from the store"))
            })?;
            if hex(&Sha256::digest(&bytes)) != *hash {
                return Err(BundleError::invalid(format!(
                    "photo {hash} changed in the store while exporting"
                )));
            }
            append(&mut tar, &format!("{ATTACHMENT_DIR}{hash}"), &bytes, mtime)?;
        }
        let stream = tar.into_inner()?;
        Ok(stream.finish()?)
    }
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8], mtime: u64) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_username("pendata")?;
    h.set_groupname("pendata")?;
    tar.append_data(&mut h, path, bytes)?;
    Ok(())
}

pub use crate::durable::{DirTarget, Target, TargetFile, Written, sync_dir};

/// Why writing a bundle to the stick failed; every case leaves no file under the final name.
pub type WriteError = crate::durable::WriteError<BundleError>;

impl crate::durable::ContentError for BundleError {
    fn as_io(&self) -> Option<&io::Error> {
        match self {
            BundleError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Writes the bundle `final_name` on `target` through the durable writer: a name already there is
/// refused (bundle names carry the device and the sequence range, so a second file of that name is the
/// same export), and the file is read back and verified before it counts as written.
pub fn write_safely(
    target: &dyn Target,
    final_name: &str,
    need: u64,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
) -> Result<Written, WriteError> {
    crate::durable::write_safely(
        target,
        final_name,
        &crate::durable::Options::refuse(),
        need,
        write,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::record::{Action, Revision, Status};

    fn revision(petugas: &str, answers: serde_json::Value) -> Vec<u8> {
        let rev = Revision {
            record: Uuid::now_v7(),
            number: 3,
            seq: 17,
            action: Action::Finalized,
            status: Status::Final,
            form_id: "keluarga".into(),
            form_version: 2026112801,
            answers: serde_json::from_value(answers).unwrap(),
            petugas: petugas.into(),
            device: Uuid::now_v7(),
            at: chrono::DateTime::parse_from_rfc3339("2026-11-29T08:00:00+08:00").unwrap(),
            reason: Some(r#"salah "petugas":"X" ketik"#.into()),
            acknowledged: vec!["petugas".into()],
            base: None,
        };
        serde_json::to_vec(&rev).unwrap()
    }

    #[test]
    fn the_quick_head_reads_what_a_full_parse_reads_or_declines() {
        let long = "x".repeat(2000);
        let cases = [
            revision("P001", serde_json::json!({})),
            revision("P001", serde_json::json!({"nama": long})),
            revision(
                "P002",
                serde_json::json!({"petugas": "NOT ME", "record": "nope", "form_id": "x",
                    "anggota": [{"petugas": "\"petugas\":\"Z\"", "nik": "6472011203850001"}]}),
            ),
        ];
        for raw in &cases {
            let full: Revision = serde_json::from_slice(raw).unwrap();
            let (record, petugas, form_id, version) = quick_head(raw).expect("this build's shape");
            assert_eq!(record, full.record);
            assert_eq!(petugas, full.petugas);
            assert_eq!(form_id, full.form_id);
            assert_eq!(version, full.form_version);
        }
        // Escapes in the petugas code, or another shape: declined, so the caller parses in full.
        assert!(quick_head(&revision("P\"1", serde_json::json!({}))).is_none());
        assert!(quick_head(br#"{"answers":{},"record":"x"}"#).is_none());
        assert!(quick_head(b"").is_none());
    }
}
