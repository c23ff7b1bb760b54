//! Writing bundles: collect revisions (compressed as they come), seal the manifest with the device key,
//! then stream the archive through age onto the target — under a temporary name, fsynced, renamed,
//! the directory fsynced, read back and verified. Only a verified file carries the final name.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::manifest::{Counts, DeviceRef, ExportKind, FormRef, Manifest, Part, SeqRange};
use super::{
    ATTACHMENT_DIR, BundleError, FORMAT, FORMAT_VERSION, MANIFEST_FILE, REVISIONS_FILE, Result,
    SIGNATURE_FILE, hex,
};
use crate::model::record::attachment_refs;

/// zstd level: 3 is zstd's own default, a good speed/size balance on a tablet CPU.
const ZSTD_LEVEL: i32 = 3;

/// A writer that hashes and counts what passes through.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// The inner writer, the SHA-256 (hex) and the byte count of everything written.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex(&self.hasher.finalize()), self.size)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or(buf);
        self.hasher.update(done);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The fixed facts of a bundle that are not counted from its contents.
pub struct Header {
    pub created_at: DateTime<FixedOffset>,
    pub device: DeviceRef,
    pub sequence: SeqRange,
    pub kind: ExportKind,
}

/// Lines are handed to the compressor in batches of about this many bytes.
const BATCH: usize = 1 << 20;

/// The compressor: a worker thread that compresses the JSON lines while the caller reads, parses and
/// hashes the next ones (two cores, two stages of about the same cost).
/// What the compressor worker hands back: the compressed part, its SHA-256 (hex) and its size.
type Worked = (Vec<u8>, String, u64);

struct Compressor {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    /// Batches the worker is done with, emptied, to be filled again: fresh megabyte buffers would each
    /// be fresh pages for the kernel to hand out.
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<io::Result<Worked>>>,
    plain: Sha256,
    plain_size: u64,
}

struct Compressed {
    zst: Vec<u8>,
    zsha: String,
    zsize: u64,
    plain_sha: String,
    plain_size: u64,
}

impl Compressor {
    fn start() -> Compressor {
        // Two batches in flight at most: memory stays a few MB whatever the export's size.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (back, spare) = std::sync::mpsc::sync_channel::<Vec<u8>>(3);
        let worker = std::thread::spawn(move || -> io::Result<Worked> {
            let mut enc = zstd::stream::Encoder::new(HashingWriter::new(Vec::new()), ZSTD_LEVEL)?;
            for mut batch in rx {
                enc.write_all(&batch)?;
                batch.clear();
                // Nobody waiting for it (the export ended) or enough spares: drop it.
                let _ = back.try_send(batch);
            }
            Ok(enc.finish()?.finish())
        });
        Compressor {
            tx: Some(tx),
            spare,
            worker: Some(worker),
            plain: Sha256::new(),
            plain_size: 0,
        }
    }

    fn send(&mut self, batch: Vec<u8>) -> Result<()> {
        self.plain.update(&batch);
        self.plain_size += batch.len() as u64;
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

    /// An empty batch buffer: one the worker gave back, else a new one.
    fn buffer(&self) -> Vec<u8> {
        self.spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH + 64 * 1024))
    }

    fn finish(&mut self) -> Result<Compressed> {
        self.tx = None;
        let (zst, zsha, zsize) = match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r?,
            Some(Err(_)) => return Err(BundleError::invalid("the compressor thread failed")),
            None => return Err(BundleError::invalid("the compressor already finished")),
        };
        Ok(Compressed {
            zst,
            zsha,
            zsize,
            plain_sha: hex(&std::mem::take(&mut self.plain).finalize()),
            plain_size: self.plain_size,
        })
    }
}

/// The record id, petugas, form id and form version of a stored revision, read from its bytes without
/// parsing the answers. The store writes `record`, `form_id` and `form_version` before `answers` and
/// `petugas` after it, in compact JSON; inside strings every quote is escaped. So the first `"record":"`,
/// `"form_id":"` and `"form_version":` are the revision's own (nothing nested comes before them), and the
/// last `"petugas":"` is too (nothing nested comes after it). Strings with escapes, or any other shape,
/// give `None`: the caller parses in full.
fn quick_head(raw: &[u8]) -> Option<(Uuid, &str, &str, u64)> {
    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + needle.len())
    }
    fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len())
            .rposition(|w| w == needle)
            .map(|p| p + needle.len())
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

/// Collects revisions into the compressed `revisions.jsonl.zst` and counts what the manifest says.
pub struct Builder {
    compressor: Compressor,
    batch: Vec<u8>,
    revisions: u64,
    records: BTreeSet<Uuid>,
    petugas: BTreeSet<String>,
    forms: BTreeSet<FormRef>,
    referenced: BTreeSet<String>,
}

impl Builder {
    pub fn new() -> Result<Builder> {
        Ok(Builder {
            compressor: Compressor::start(),
            batch: Vec::with_capacity(BATCH + 64 * 1024),
            revisions: 0,
            records: BTreeSet::new(),
            petugas: BTreeSet::new(),
            forms: BTreeSet::new(),
            referenced: BTreeSet::new(),
        })
    }

    /// Adds one revision: `raw` is the exact JSON the store holds; it becomes one line.
    pub fn add_revision(&mut self, raw: &[u8]) -> Result<()> {
        if raw.contains(&b'\n') {
            return Err(BundleError::invalid(
                "a stored revision contains a raw line break",
            ));
        }
        let (record, petugas, form_id, form_version) = match quick_head(raw) {
            Some(h) => h,
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
                let h: Head<'_> = serde_json::from_slice(raw).map_err(|e| {
                    BundleError::invalid(format!("a stored revision is not valid: {e}"))
                })?;
                self.count(h.record, &h.petugas, &h.form_id, h.form_version);
                attachment_refs(raw, &mut self.referenced);
                return self.append(raw);
            }
        };
        self.count(record, petugas, form_id, form_version);
        attachment_refs(raw, &mut self.referenced);
        self.append(raw)
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

    fn append(&mut self, raw: &[u8]) -> Result<()> {
        self.batch.extend_from_slice(raw);
        self.batch.push(b'\n');
        if self.batch.len() >= BATCH {
            let empty = self.compressor.buffer();
            let full = std::mem::replace(&mut self.batch, empty);
            self.compressor.send(full)?;
        }
        self.revisions += 1;
        Ok(())
    }

    pub fn revisions(&self) -> u64 {
        self.revisions
    }

    /// The SHA-256 names of attachments the answers refer to (strings that look like one).
    pub fn referenced_attachments(&self) -> &BTreeSet<String> {
        &self.referenced
    }

    /// Seals the bundle: `attachments` are the referenced ones the store holds, as (hash, bytes)
    /// pairs fetched on demand. Each must hash to its name.
    pub fn seal(
        self,
        header: Header,
        key: &SigningKey,
        attachments: &mut dyn AttachmentSource,
    ) -> Result<Sealed> {
        let mut compressor = self.compressor;
        if !self.batch.is_empty() {
            compressor.send(self.batch)?;
        }
        let c = compressor.finish()?;
        let hashed = c.zst;
        let mut parts = vec![Part {
            path: REVISIONS_FILE.into(),
            size: c.zsize,
            sha256: c.zsha,
            plain_size: Some(c.plain_size),
            plain_sha256: Some(c.plain_sha),
        }];
        let mut included = Vec::new();
        for hash in &self.referenced {
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
            bundle_id: Uuid::now_v7(),
            created_at: header.created_at,
            device: header.device,
            sequence: header.sequence,
            kind: header.kind,
            petugas: self.petugas.into_iter().collect(),
            forms: self.forms.into_iter().collect(),
            counts: Counts {
                records: self.records.len() as u64,
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

/// A directory on removable media, as the safe writer needs it. Tests wrap it to fail at any step.
pub trait Target {
    /// Free bytes on the file system.
    fn available(&self) -> io::Result<u64>;
    fn exists(&self, name: &str) -> bool;
    /// Creates a new file (fails if it exists).
    fn create(&self, name: &str) -> io::Result<Box<dyn TargetFile>>;
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    fn sync_dir(&self) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    fn open(&self, name: &str) -> io::Result<Box<dyn Read>>;
    fn path_of(&self, name: &str) -> PathBuf;
}

pub trait TargetFile: Write {
    fn sync(&mut self) -> io::Result<()>;
}

impl TargetFile for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
}

/// A real directory.
pub struct DirTarget {
    dir: PathBuf,
}

impl DirTarget {
    pub fn new(dir: &Path) -> DirTarget {
        DirTarget {
            dir: dir.to_path_buf(),
        }
    }
}

impl Target for DirTarget {
    fn available(&self) -> io::Result<u64> {
        fs4::available_space(&self.dir)
    }
    fn exists(&self, name: &str) -> bool {
        self.dir.join(name).exists()
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn TargetFile>> {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.dir.join(name))?;
        Ok(Box::new(f))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.dir.join(from), self.dir.join(to))
    }
    fn sync_dir(&self) -> io::Result<()> {
        sync_dir(&self.dir)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.dir.join(name))
    }
    fn open(&self, name: &str) -> io::Result<Box<dyn Read>> {
        Ok(Box::new(File::open(self.dir.join(name))?))
    }
    fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Makes a rename durable: fsync of the directory. Windows has no directory handles to sync; there
/// the rename itself is journaled by NTFS and FAT is flushed by closing the file.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// What the safe writer put on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// Why writing to the stick failed; the message says that nothing was left under the final name.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("there is not enough free space on {dir}: {need} bytes needed, {have} free")]
    NoSpace { dir: String, need: u64, have: u64 },
    #[error("a file named {0} is already there; nothing was written")]
    Exists(String),
    #[error(
        "writing to {dir} failed while {step}: {detail}; no bundle was left under the final name"
    )]
    Failed {
        dir: String,
        step: &'static str,
        detail: String,
    },
    #[error(
        "the file read back from {dir} does not match what was written ({detail}); it was removed"
    )]
    Verify { dir: String, detail: String },
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

impl WriteError {
    /// True when the stick is full (so the UI can say "free some space").
    pub fn is_full(&self) -> bool {
        match self {
            WriteError::NoSpace { .. } => true,
            WriteError::Failed { detail, .. } => detail.contains("no space"),
            _ => false,
        }
    }
}

fn failed(target: &dyn Target, step: &'static str, e: &io::Error) -> WriteError {
    WriteError::Failed {
        dir: target.path_of("").display().to_string(),
        step,
        detail: describe_io(e),
    }
}

fn describe_io(e: &io::Error) -> String {
    let s = e.to_string();
    // Writers in between (age, tar) wrap the file system's error: look at the innermost one.
    let mut inner = e;
    while let Some(next) = inner.get_ref().and_then(|i| i.downcast_ref::<io::Error>()) {
        inner = next;
    }
    let full = matches!(
        inner.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || s.contains("StorageFull");
    if full {
        "no space left on the device (the stick is full)".into()
    } else if matches!(inner.raw_os_error(), Some(5 | 19))
        || inner.kind() == io::ErrorKind::NotFound
    {
        format!("{s} (was the stick pulled out?)")
    } else {
        s
    }
}

/// Writes `final_name` on `target` safely: checks free space for `need` bytes, writes through `write`
/// to a temporary name, fsyncs, renames, fsyncs the directory, reads the file back and compares its
/// SHA-256 with what was written. On any failure the temporary (or unverified final) file is removed
/// and the error says where it failed.
pub fn write_safely(
    target: &dyn Target,
    final_name: &str,
    need: u64,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
) -> Result<Written, WriteError> {
    let dir = target.path_of("").display().to_string();
    if target.exists(final_name) {
        return Err(WriteError::Exists(final_name.into()));
    }
    let have = target
        .available()
        .map_err(|e| failed(target, "checking free space", &e))?;
    // Keep a margin: file system metadata, and a stick that is never filled to the last byte.
    let need = need + 1024 * 1024;
    if have < need {
        return Err(WriteError::NoSpace { dir, need, have });
    }
    let temp = format!(".{final_name}.partial");
    if target.exists(&temp) {
        // A leftover of an interrupted export: it never carried the final name; clear it.
        target
            .remove(&temp)
            .map_err(|e| failed(target, "removing an old partial file", &e))?;
    }
    let cleanup = |name: &str| {
        let _ = target.remove(name);
    };
    let file = target
        .create(&temp)
        .map_err(|e| failed(target, "creating the file", &e))?;
    let mut hashing = HashingWriter::new(file);
    if let Err(e) = write(&mut hashing) {
        cleanup(&temp);
        return Err(match e {
            BundleError::Io(io) => failed(target, "writing", &io),
            other => other.into(),
        });
    }
    let (mut file, sha256, size) = hashing.finish();
    let synced = file.flush().and_then(|()| file.sync());
    drop(file);
    if let Err(e) = synced {
        cleanup(&temp);
        return Err(failed(target, "flushing the file to the stick (fsync)", &e));
    }
    if let Err(e) = target.rename(&temp, final_name) {
        cleanup(&temp);
        return Err(failed(target, "renaming to the final name", &e));
    }
    if let Err(e) = target.sync_dir() {
        cleanup(final_name);
        return Err(failed(target, "flushing the folder (fsync)", &e));
    }
    let verify = || -> Result<(), String> {
        let mut r = target.open(final_name).map_err(|e| describe_io(&e))?;
        let mut h = Sha256::new();
        let mut n = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let k = r.read(&mut buf).map_err(|e| describe_io(&e))?;
            if k == 0 {
                break;
            }
            h.update(buf.get(..k).unwrap_or_default());
            n += k as u64;
        }
        let got = hex(&h.finalize());
        if n != size || got != sha256 {
            return Err(format!(
                "{n} bytes with SHA-256 {got}, expected {size} bytes with {sha256}"
            ));
        }
        Ok(())
    };
    if let Err(detail) = verify() {
        cleanup(final_name);
        let _ = target.sync_dir();
        return Err(WriteError::Verify { dir, detail });
    }
    Ok(Written {
        path: target.path_of(final_name),
        name: final_name.into(),
        size,
        sha256,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
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
