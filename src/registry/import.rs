//! The import pipeline: find the bundle files, then on reader threads read each one's signed manifest
//! only, decide from it whether its device is trusted (approved: read on; unknown or pending: a copy held
//! aside; revoked or another key: refused), and only for a trusted device decrypt, decompress, verify and
//! validate the rest, within `bundle::Limits` (through `bundle::read` and `registry::validate`); then
//! hold, refuse or merge each one in order (`registry::merge`), committing the bundles of a few seconds
//! in one durable write transaction and reporting their outcomes only then. Files are streamed, never
//! read whole; a file that cannot be read is refused with its reason and the others go on.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};

use super::entries::{
    BundleEntry, DeviceEntry, DeviceState, ImportEntry, MergeCounts, PendingBundle,
};
use super::merge::{File, Opened, Slim, Unreadable, merge_bundle};
use super::storage::{Pack, Storage, Tables, Transaction};
use super::validate::{check, summarize};
use super::{Registry, RegistryError, Result};
use crate::bundle::keys::RegistryPub;
use crate::bundle::manifest::Manifest;
use crate::bundle::read::{self, Item};
use crate::bundle::{BundleError, EXTENSION, Limits, hex};
use crate::form::catalog::Catalog;
use crate::model::printable::clean;

pub const PENDING_DIR: &str = "pending";

/// How many bundles each reader may prepare ahead of the merge: enough to keep both cores busy while
/// the merging thread waits for a durable commit (a few hundred ms), at 2–3 MB per prepared bundle.
const AHEAD: usize = 8;

/// How long a long import merges into one write transaction before it commits it durably (and at its
/// end): syncing every bundle's transaction to disk cost more than merging it, and B-tree pages changed
/// by many bundles in one transaction are copied once instead of once per bundle.
pub const SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// What happened to one bundle file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    /// Merged: what it did.
    Merged(BundleEntry),
    /// This bundle (the same file, or the same bundle id) was merged before; nothing changed.
    AlreadyImported { bundle: BundleEntry },
    /// From a device not yet approved: kept aside, not merged, until an operator approves it.
    Held {
        device: DeviceEntry,
        already_held: bool,
    },
    /// Not merged, with the reason (a revoked device, a key that does not match, a damaged or
    /// foreign file).
    Refused { reason: String },
}

impl FileOutcome {
    /// Whether an operator has something to do about this file.
    pub fn needs_operator(&self) -> bool {
        match self {
            FileOutcome::Merged(b) => {
                b.merged.quarantined > 0 || b.merged.conflicts > 0 || b.merged.mismatched > 0
            }
            FileOutcome::AlreadyImported { .. } => false,
            FileOutcome::Held { .. } | FileOutcome::Refused { .. } => true,
        }
    }
}

/// A bundle file as its reader thread left it: ready to be held, refused or merged.
pub struct Prepared {
    /// Its file name, cleaned for printing and the log.
    name: String,
    ready: Ready,
}

enum Ready {
    /// From a device approved when it was read: decrypted, verified and validated in full.
    Opened {
        opened: Box<Opened>,
        /// SHA-256 of the file and of its manifest.
        sha: String,
        manifest_sha: String,
    },
    /// From an unknown or pending device: only its signed manifest was read. `copy` is the held copy
    /// written under `pending/` (its path in the registry folder, its SHA-256), `None` if the bundle was
    /// held before.
    Hold {
        manifest: Box<Manifest>,
        manifest_sha: String,
        copy: Option<(String, String)>,
    },
    /// A bundle id the registry merged before: the same bundle, or a forgery.
    Known {
        manifest: Box<Manifest>,
        manifest_sha: String,
    },
    /// Not read further, with the reason.
    Refused(String),
}

/// What the registry does with a bundle of this device, from its signed manifest alone.
enum Trust {
    Read,
    Hold,
    Refuse(String),
}

fn trust(known: Option<&DeviceEntry>, m: &Manifest) -> Trust {
    match known {
        Some(d) if d.public_key != m.device.public_key => Trust::Refuse(format!(
            "device {} ({}) is registered with another signing key: this bundle was signed by a different tablet using the same id; check the tablet before approving anything / perangkat ini terdaftar dengan kunci lain: berkas ini ditandatangani tablet lain dengan id yang sama",
            d.id,
            clean(&d.name)
        )),
        Some(d) if d.state == DeviceState::Revoked => Trust::Refuse(format!(
            "device {} ({}) was revoked on {}: its bundles are refused / perangkat dicabut: berkasnya ditolak",
            d.id,
            clean(&d.name),
            d.changed_at.format("%Y-%m-%d")
        )),
        Some(d) if d.state == DeviceState::Approved => Trust::Read,
        _ => Trust::Hold,
    }
}

/// Whether a bundle merged before (`b`) is this manifest's: the same device and range, and where the
/// registry kept it, the same manifest bytes. Otherwise the id was reused: a forgery.
fn same_bundle(
    b: &BundleEntry,
    m: &Manifest,
    manifest_sha: &str,
) -> std::result::Result<(), String> {
    let same = b.device == m.device.id
        && b.sequence == m.sequence
        && b.counts == m.counts
        && b.created_at == m.created_at
        && b.manifest_sha256
            .as_deref()
            .is_none_or(|s| s == manifest_sha);
    if same {
        Ok(())
    } else {
        Err(format!(
            "FORGERY: bundle id {} was imported before from device {} with other contents; this file reuses it (signed by device {}): not merged — find out where it came from / PEMALSUAN: id berkas ini sudah pernah diimpor dengan isi lain",
            m.bundle_id, b.device, m.device.id
        ))
    }
}

/// The bundle files under `paths`: files as given, folders searched (one level deep and their
/// subfolders) for `*.age` files that are not `.partial` leftovers. Sorted, without repeats.
pub fn bundle_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = BTreeSet::new();
    for p in paths {
        let meta = fs::metadata(p).map_err(super::io(p))?;
        if meta.is_dir() {
            walk(p, &mut out, 0)?;
        } else {
            out.insert(p.clone());
        }
    }
    Ok(out.into_iter().collect())
}

fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>, depth: u32) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(super::io(dir))?;
    for e in entries {
        let e = e.map_err(super::io(dir))?;
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && depth < 3 {
            walk(&path, out, depth + 1)?;
        } else if ft.is_file() && path.extension().is_some_and(|x| x == EXTENSION) {
            out.insert(path);
        }
    }
    Ok(())
}

/// Opens a file to read as a bundle: only a regular file (a pipe, a device such as /dev/zero or a
/// folder would never end, or never start), and no larger than `max` bytes. The refusal says why.
pub fn open_regular(path: &Path, max: u64) -> std::result::Result<fs::File, String> {
    let not_regular = || {
        "not a regular file (a pipe, a device or a folder): not read / bukan berkas biasa: tidak dibaca"
            .to_string()
    };
    let cannot = |e: io::Error| {
        format!(
            "cannot be read: {} / tidak dapat dibaca",
            crate::durable::describe_io(&e)
        )
    };
    // Checked before opening: opening a pipe waits for a writer.
    let meta = fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let f = fs::File::open(path).map_err(cannot)?;
    let meta = f.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > max {
        return Err(format!(
            "{} bytes, more than the {max} a bundle may have: not read / berkas terlalu besar: tidak dibaca",
            meta.len()
        ));
    }
    Ok(f)
}

/// Where a bundle's bytes come from: opened once for its manifest and again (for a trusted device) to
/// read it all or (otherwise) to copy it aside. Each opening streams; nothing is read whole.
trait Source: Sync {
    fn open(&self, limits: &Limits) -> std::result::Result<Box<dyn Read + '_>, String>;
}

struct PathSource<'p>(&'p Path);

impl Source for PathSource<'_> {
    fn open(&self, limits: &Limits) -> std::result::Result<Box<dyn Read + '_>, String> {
        let f = open_regular(self.0, limits.max_file_bytes)?;
        Ok(Box::new(BufReader::with_capacity(256 * 1024, f)))
    }
}

struct BytesSource<'b>(&'b [u8]);

impl Source for BytesSource<'_> {
    fn open(&self, limits: &Limits) -> std::result::Result<Box<dyn Read + '_>, String> {
        if self.0.len() as u64 > limits.max_file_bytes {
            return Err(format!(
                "{} bytes, more than the {} a bundle may have",
                self.0.len(),
                limits.max_file_bytes
            ));
        }
        Ok(Box::new(self.0))
    }
}

/// A reader that hashes what passes through (the file's SHA-256, as it streams).
struct Hashed<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// A write transaction over the bundles merged since the last save, with their outcomes, which are
/// reported only once it is committed.
struct Batch<X> {
    txn: X,
    started: std::time::Instant,
    done: Vec<(usize, FileOutcome)>,
}

impl<X: Transaction> Batch<X> {
    fn begin(storage: &impl Storage<Txn = X>) -> Result<Batch<X>> {
        Ok(Batch {
            txn: storage.begin()?,
            started: std::time::Instant::now(),
            done: Vec::new(),
        })
    }

    /// Commits durably; the outcomes are now true on disk.
    fn commit(self) -> Result<Vec<(usize, FileOutcome)>> {
        self.txn.commit()?;
        Ok(self.done)
    }
}

/// The outcomes saved so far, each told to `each` as it is saved.
struct Saved<'f, E> {
    files: &'f [PathBuf],
    out: Vec<FileOutcome>,
    each: E,
}

impl<E: FnMut(usize, &Path, &FileOutcome)> Saved<'_, E> {
    /// Tells `each` about outcomes that are saved, and keeps them.
    fn add(&mut self, saved: Vec<(usize, FileOutcome)>) {
        for (i, outcome) in saved {
            if let Some(f) = self.files.get(i) {
                (self.each)(i, f, &outcome);
            }
            self.out.push(outcome);
        }
    }
}

impl<S: Storage> Registry<S> {
    /// Imports one bundle given as bytes (`name` is its file name, for the log).
    pub fn import_bytes(
        &self,
        bytes: &[u8],
        name: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<FileOutcome> {
        let prepared = self.prepare_from(&BytesSource(bytes), name)?;
        self.commit(prepared, now)
    }

    /// Imports one bundle file (streamed, never read whole).
    pub fn import_path(&self, path: &Path, now: DateTime<FixedOffset>) -> Result<FileOutcome> {
        let prepared = self.prepare_file(path)?;
        self.commit(prepared, now)
    }

    /// Imports files in order, reading, decrypting and validating the next files on other threads
    /// while the current one is merged. `each` sees every outcome once it is saved.
    pub fn import_files(
        &self,
        files: &[PathBuf],
        now: DateTime<FixedOffset>,
        each: impl FnMut(usize, &Path, &FileOutcome),
    ) -> Result<Vec<FileOutcome>> {
        // Nothing is imported for someone who may not; the run goes into the audit trail.
        self.check_allowed(super::Role::Operator)?;
        // Readers take files in turn (the CPU work: decrypt, verify, validate, one per core, at least
        // two and at most eight); this thread merges them in the given order.
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..readers {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Prepared>>(AHEAD);
            senders.push(tx);
            receivers.push(rx);
        }
        self.tidy_pending()?;
        std::thread::scope(|scope| {
            for (k, tx) in senders.into_iter().enumerate() {
                scope.spawn(move || self.read_ahead(files, k, readers, &tx));
            }
            let mut saved = Saved {
                files,
                out: Vec::with_capacity(files.len()),
                each,
            };
            let result = self.merge_in_order(&receivers, now, &mut saved);
            // Ends the readers early when the loop stopped on an error.
            drop(receivers);
            result.map(|()| saved.out)
        })
        .and_then(|out| {
            self.record_run(&out, now)?;
            Ok(out)
        })
    }

    /// An import run in the audit trail: who, the bundles merged, what became of the files.
    fn record_run(&self, outcomes: &[FileOutcome], now: DateTime<FixedOffset>) -> Result<()> {
        let mut total = MergeCounts::default();
        let [mut merged, mut again, mut held, mut refused] = [0u64; 4];
        let mut objects = Vec::new();
        for o in outcomes {
            match o {
                FileOutcome::Merged(b) => {
                    merged += 1;
                    total.add(&b.merged);
                    objects.push(format!("bundle:{}", b.bundle_id));
                }
                FileOutcome::AlreadyImported { .. } => again += 1,
                FileOutcome::Held { .. } => held += 1,
                FileOutcome::Refused { .. } => refused += 1,
            }
        }
        let detail = format!(
            "{} file(s): {merged} merged, {again} already imported, {held} held, {refused} refused; {} revisions accepted, {} quarantined, {} new conflict(s)",
            outcomes.len(),
            total.accepted,
            total.quarantined,
            total.conflicts
        );
        let role = super::Role::Operator;
        self.record(role, now, "import", objects, Some(detail))?;
        Ok(())
    }

    /// A reader thread: prepares every `readers`-th file from the `k`-th, until one fails or the merge
    /// stops.
    fn read_ahead(
        &self,
        files: &[PathBuf],
        k: usize,
        readers: usize,
        tx: &SyncSender<Result<Prepared>>,
    ) {
        for f in files.iter().skip(k).step_by(readers) {
            // Only a failure of the registry's own store stops the import; a file's own trouble is its
            // outcome.
            let prepared = self.prepare_file(f);
            let stop = prepared.is_err();
            if tx.send(prepared).is_err() || stop {
                break;
            }
        }
    }

    /// The merging thread: takes the prepared files in order from the readers and merges them, one
    /// write transaction for every bundle merged within a few seconds, committed durably; outcomes are
    /// reported once they are on disk.
    fn merge_in_order<E: FnMut(usize, &Path, &FileOutcome)>(
        &self,
        receivers: &[Receiver<Result<Prepared>>],
        now: DateTime<FixedOffset>,
        saved: &mut Saved<'_, E>,
    ) -> Result<()> {
        let mut batch = Some(Batch::begin(&self.db)?);
        for i in 0..saved.files.len() {
            let prepared = receivers
                .get(i % receivers.len())
                .ok_or_else(|| RegistryError::Invalid("no reader".into()))
                .and_then(|rx| {
                    rx.recv().map_err(|_| {
                        RegistryError::Invalid("a reading thread stopped early".into())
                    })
                })
                .and_then(|p| p);
            let prepared = match prepared {
                Ok(p) => p,
                Err(e) => {
                    // The registry's own store failed on a reader: what was merged before is saved,
                    // then the import stops.
                    if let Some(open) = batch.take() {
                        saved.add(open.commit()?);
                    }
                    return Err(e);
                }
            };
            // (The store has one write transaction at a time: the next begins after a commit.)
            let mut open = match batch.take() {
                Some(b) => b,
                None => Batch::begin(&self.db)?,
            };
            let outcome = open
                .txn
                .tables()
                .and_then(|mut t| self.commit_in(&mut t, prepared, now));
            let outcome = match outcome {
                Ok(o) => o,
                // A failed merge may have written part of a bundle: the transaction is
                // dropped, with the bundles merged in it since the last save.
                Err(e) if open.done.is_empty() => return Err(e),
                Err(e) => {
                    return Err(RegistryError::Unsaved {
                        source: Box::new(e),
                        unsaved: open.done.len(),
                    });
                }
            };
            open.done.push((i, outcome));
            if open.started.elapsed() >= self.save_every {
                saved.add(open.commit()?);
            } else {
                batch = Some(open);
            }
        }
        if let Some(open) = batch {
            saved.add(open.commit()?);
        }
        Ok(())
    }

    /// The reading part of an import of a file, safe to run beside a merge (see [`Registry::prepare_from`]).
    pub fn prepare_file(&self, path: &Path) -> Result<Prepared> {
        let name = path
            .file_name()
            .map(|n| clean(&n.to_string_lossy()).into_owned())
            .unwrap_or_default();
        self.prepare_from(&PathSource(path), &name)
    }

    /// Reads the signed manifest, decides from it whether the device is trusted, and only then does
    /// the work: a trusted device's bundle is decrypted, decompressed, verified and validated within
    /// `self.limits`; an unknown or pending device's is copied aside under `pending/` (streamed); a
    /// revoked device's is refused. Nothing is written to the store. `Err` only for a failure of the
    /// registry itself; whatever is wrong with the file is its outcome.
    fn prepare_from(&self, source: &dyn Source, name: &str) -> Result<Prepared> {
        let done = |ready| {
            Ok(Prepared {
                name: name.to_string(),
                ready,
            })
        };
        let ids = std::slice::from_ref(&self.keys.identity);
        let first = source
            .open(&self.limits)
            .and_then(|r| read::manifest(r, ids).map_err(|e| e.to_string()));
        let (manifest, manifest_bytes) = match first {
            Ok(m) => m,
            Err(reason) => return done(Ready::Refused(reason)),
        };
        let manifest_sha = hex(&Sha256::digest(&manifest_bytes));
        let manifest = Box::new(manifest);
        if self.db.bundle(manifest.bundle_id)?.is_some() {
            return done(Ready::Known {
                manifest,
                manifest_sha,
            });
        }
        match trust(self.db.device(manifest.device.id)?.as_ref(), &manifest) {
            Trust::Refuse(reason) => done(Ready::Refused(reason)),
            Trust::Hold => {
                let held = self
                    .db
                    .pending_bundles()?
                    .iter()
                    .any(|p| p.bundle_id == manifest.bundle_id);
                let copy = if held {
                    None
                } else {
                    match self.copy_aside(source, &manifest) {
                        Ok(c) => Some(c),
                        Err(reason) => return done(Ready::Refused(reason)),
                    }
                };
                done(Ready::Hold {
                    manifest,
                    manifest_sha,
                    copy,
                })
            }
            Trust::Read => {
                let ready = match self.read_all(source, &manifest_bytes) {
                    Ok((opened, sha)) => Ready::Opened {
                        opened: Box::new(opened),
                        sha,
                        manifest_sha,
                    },
                    Err(reason) => Ready::Refused(reason),
                };
                done(ready)
            }
        }
    }

    /// A trusted device's bundle, read in full (streamed again from its start) and its file's SHA-256.
    fn read_all(
        &self,
        source: &dyn Source,
        manifest_bytes: &[u8],
    ) -> std::result::Result<(Opened, String), String> {
        let mut hashed = Hashed {
            inner: source.open(&self.limits)?,
            hasher: Sha256::new(),
        };
        let limits = Limits {
            report_bad_lines: true,
            ..self.limits
        };
        let z = self.db.packer().map_err(|e| e.to_string())?;
        let opened = open_bundle(
            &mut hashed,
            &self.keys.identity,
            (self.catalog, &self.keys.public),
            &limits,
            z,
        )
        .map_err(|e| e.to_string())?;
        if opened.verified.manifest_bytes != manifest_bytes {
            return Err("the file changed while it was read: import it again".into());
        }
        // The whole file passed through (age reads to its end); whatever follows is drained.
        io::copy(&mut hashed, &mut io::sink()).map_err(|e| e.to_string())?;
        Ok((opened, hex(&hashed.hasher.finalize())))
    }

    /// Copies a held bundle under `pending/`, named by its bundle id alone (the stick's file name can
    /// be anything, up to the longest a file system allows): streamed, durably, read back.
    fn copy_aside(
        &self,
        source: &dyn Source,
        m: &Manifest,
    ) -> std::result::Result<(String, String), String> {
        let rel = format!("{PENDING_DIR}/{}.{EXTENSION}", m.bundle_id.simple());
        let dir = self.dir.join(PENDING_DIR);
        // Held bundles are personal data: their folder is the owner's alone.
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut input = source.open(&self.limits)?;
        let (target, file) =
            crate::durable::split(&self.dir.join(&rel)).map_err(|e| e.to_string())?;
        // The registry's own copy: one left by an import that did not commit is replaced.
        let written = crate::durable::write_safely(
            &target,
            &file,
            &crate::durable::Options::replace().private(),
            0,
            &mut |w| io::copy(&mut input, w).map(|_| ()),
        )
        .map_err(|e| {
            format!("a copy to hold it could not be kept: {e} / salinan tidak dapat disimpan")
        })?;
        Ok((rel, written.sha256))
    }

    /// The writing part of an import: hold, refuse or merge a prepared bundle, durably.
    pub fn commit(&self, p: Prepared, now: DateTime<FixedOffset>) -> Result<FileOutcome> {
        let txn = self.db.begin()?;
        let outcome = self.commit_in(&mut txn.tables()?, p, now)?;
        txn.commit()?;
        Ok(outcome)
    }

    /// [`Registry::commit`] inside a write transaction that may hold other bundles too: everything it
    /// reads (bundles merged and held, devices) is read in that transaction, so a bundle repeated
    /// within one import is recognised. Nothing is durable before the transaction commits.
    pub(super) fn commit_in(
        &self,
        t: &mut impl Tables,
        p: Prepared,
        now: DateTime<FixedOffset>,
    ) -> Result<FileOutcome> {
        let again = || FileOutcome::Refused {
            reason: "the registry changed while the file was read: import it again".into(),
        };
        let (manifest, manifest_sha) = match &p.ready {
            Ready::Refused(reason) => {
                return Ok(FileOutcome::Refused {
                    reason: reason.clone(),
                });
            }
            Ready::Opened {
                opened,
                manifest_sha,
                ..
            } => (&opened.verified.manifest, manifest_sha),
            Ready::Hold {
                manifest,
                manifest_sha,
                ..
            }
            | Ready::Known {
                manifest,
                manifest_sha,
            } => (&**manifest, manifest_sha),
        };
        if let Some(reason) = demo_mismatch(manifest.device.demo, self.keys.public.demo) {
            return Ok(FileOutcome::Refused { reason });
        }
        if let Some(b) = t.bundle(manifest.bundle_id)? {
            return Ok(match same_bundle(&b, manifest, manifest_sha) {
                Ok(()) => FileOutcome::AlreadyImported { bundle: b },
                Err(reason) => FileOutcome::Refused { reason },
            });
        }
        let known = t.device(manifest.device.id)?;
        let trusted = trust(known.as_ref(), manifest);
        // An approved tablet's age recipient (for its work packages) as its newest signed manifest says.
        if let (Trust::Read, Some(d)) = (&trusted, &known)
            && manifest.device.age_recipient.is_some()
            && d.age_recipient != manifest.device.age_recipient
        {
            t.put_device(&DeviceEntry {
                age_recipient: manifest.device.age_recipient.clone(),
                ..d.clone()
            })?;
        }
        match (trusted, p.ready) {
            (Trust::Refuse(reason), _) => Ok(FileOutcome::Refused { reason }),
            (
                Trust::Read,
                Ready::Opened {
                    opened,
                    sha,
                    manifest_sha,
                },
            ) => {
                let file = File {
                    name: &p.name,
                    sha: &sha,
                    manifest_sha: &manifest_sha,
                };
                let entry = merge_bundle(t, self.catalog, &opened, &file, now)?;
                Ok(FileOutcome::Merged(entry))
            }
            (Trust::Hold, Ready::Hold { manifest, copy, .. }) => {
                self.hold(t, &manifest, copy, known, now)
            }
            _ => Ok(again()),
        }
    }

    /// Keeps a bundle of an unknown or pending device aside (its copy under `pending/` was written
    /// durably by its reader), registering the device as pending.
    fn hold(
        &self,
        t: &mut impl Tables,
        m: &Manifest,
        copy: Option<(String, String)>,
        known: Option<DeviceEntry>,
        now: DateTime<FixedOffset>,
    ) -> Result<FileOutcome> {
        let held = t.pending(m.bundle_id)?;
        if let Some(p) = held.as_ref().filter(|p| p.device != m.device.id) {
            return Ok(FileOutcome::Refused {
                reason: format!(
                    "FORGERY: bundle id {} is held for device {}; this file reuses it (signed by device {}): not held — find out where it came from / PEMALSUAN: id berkas ini sudah dipakai perangkat lain",
                    m.bundle_id, p.device, m.device.id
                ),
            });
        }
        let already_held = held.is_some();
        let device = known.unwrap_or_else(|| DeviceEntry {
            id: m.device.id,
            name: device_name(&m.device.name),
            public_key: m.device.public_key.clone(),
            state: DeviceState::Pending,
            first_seen: now,
            changed_at: now,
            age_recipient: m.device.age_recipient.clone(),
            wilayah: None,
        });
        if already_held {
            return Ok(FileOutcome::Held {
                device,
                already_held,
            });
        }
        let Some((file, file_sha256)) = copy else {
            return Ok(FileOutcome::Refused {
                reason: "the registry changed while the file was read: import it again".into(),
            });
        };
        t.put_device(&device)?;
        t.put_pending(&PendingBundle {
            bundle_id: m.bundle_id,
            device: m.device.id,
            file,
            file_sha256,
            sequence: m.sequence,
            received_at: now,
        })?;
        Ok(FileOutcome::Held {
            device,
            already_held,
        })
    }

    /// Removes files under `pending/` that no held bundle names: copies written by an import or an
    /// approval that was stopped (a power cut, a kill) before it committed or after it merged, and
    /// partial files. Returns how many.
    pub fn tidy_pending(&self) -> Result<usize> {
        let dir = self.dir.join(PENDING_DIR);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(0);
        };
        let named: BTreeSet<String> = self
            .db
            .pending_bundles()?
            .into_iter()
            .map(|p| p.file)
            .collect();
        let mut removed = 0;
        for e in entries.flatten() {
            let rel = format!("{PENDING_DIR}/{}", e.file_name().to_string_lossy());
            let regular = e.file_type().is_ok_and(|t| t.is_file());
            if regular && !named.contains(&rel) && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            let _ = crate::durable::sync_dir(&dir);
            tracing::info!(removed, "orphan held copies removed");
        }
        Ok(removed)
    }

    /// Logs an import run (with the report snapshot after it).
    pub fn log_import(
        &self,
        at: DateTime<FixedOffset>,
        bundles: u64,
        merged: MergeCounts,
        snapshot: Option<serde_json::Value>,
    ) -> Result<ImportEntry> {
        let txn = self.db.begin()?;
        let entry = {
            let mut t = txn.tables()?;
            let entry = ImportEntry {
                number: t.next_import_number()?,
                at,
                bundles,
                merged,
                snapshot,
            };
            t.put_import(&entry)?;
            entry
        };
        txn.commit()?;
        Ok(entry)
    }
}

/// A device's name as the registry keeps it: control characters replaced, at most 100 characters.
fn device_name(name: &str) -> String {
    clean(name).chars().take(100).collect()
}

/// Reads, decrypts and verifies a bundle within `limits`, validating and summarizing every revision and
/// packing its line for the store as it streams by; lines that cannot be read but name their family are
/// kept for quarantine.
fn open_bundle(
    input: impl Read,
    identity: &age::x25519::Identity,
    (catalog, registry): (&Catalog, &RegistryPub),
    limits: &Limits,
    mut z: impl Pack,
) -> Result<Opened, BundleError> {
    let mut revisions = Vec::new();
    let mut attachments = Vec::new();
    let mut unreadable = Vec::new();
    let verified = read::read_within(input, std::slice::from_ref(identity), limits, |item| {
        match item {
            Item::Revision { raw, revision } => {
                let mut summary = summarize(catalog, &revision);
                // Hashed here, in the reader's thread: a package or a visit based on this revision
                // takes the hash from the family's entry.
                summary.hash = Some(super::package::revision_hash(&revision));
                let mut reasons = check(catalog, &revision);
                // A family outside the registry's region is held whatever else is wrong with it.
                reasons.extend(super::scope::outside(registry, summary.facts.as_ref()));
                revisions.push(Slim {
                    stored: z.pack(raw)?,
                    record: revision.record,
                    number: revision.number,
                    seq: revision.seq,
                    action: revision.action,
                    at: revision.at,
                    reasons,
                    summary,
                });
            }
            Item::Attachment { sha256, bytes } => {
                attachments.push((sha256.to_string(), bytes.to_vec()))
            }
            Item::Unreadable { head, why, .. } => unreadable.push(Unreadable { head, why }),
        }
        Ok(())
    })?;
    Ok(Opened {
        verified,
        revisions,
        attachments,
        unreadable,
    })
}

/// Why a bundle is refused when a demo tablet's bundle reaches a real registry, or a real tablet's a
/// demo registry (both languages: the operator reads it as it is); `None` when they match.
fn demo_mismatch(bundle_demo: bool, registry_demo: bool) -> Option<String> {
    match (bundle_demo, registry_demo) {
        (true, false) => Some(
            "bundel demo: keluarga di dalamnya data buatan dari tablet demo (`pendata init --demo`) dan tidak \
             boleh masuk registri sungguhan; impor ke registri demo (`pendata registry init DIR --demo`) / \
             a demo bundle: its families are synthetic, from a demo tablet (`pendata init --demo`), and never \
             enter a real registry; import it into a demo registry (`pendata registry init DIR --demo`)"
                .to_string(),
        ),
        (false, true) => Some(
            "registri ini registri demo: hanya menerima bundel dari tablet demo; impor bundel tablet ini ke \
             registri sungguhan / this is a demo registry: it takes only demo tablets' bundles; import this \
             tablet's bundle into the real registry"
                .to_string(),
        ),
        _ => None,
    }
}
