//! The import pipeline: find the bundle files, read, decrypt, verify and validate them on reader threads
//! (through `bundle::read` and `registry::validate`), then hold, refuse or merge each one in order
//! (`registry::merge`), committing the bundles of a few seconds in one durable write transaction and
//! reporting their outcomes only then.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};

use super::entries::{
    BundleEntry, DeviceEntry, DeviceState, ImportEntry, MergeCounts, PendingBundle,
};
use super::merge::{File, Opened, Slim, merge_bundle};
use super::storage::{Pack, Storage, Tables, Transaction};
use super::validate::{check, summarize};
use super::{Registry, RegistryError, Result};
use crate::bundle::read::{self, Item};
use crate::bundle::{BundleError, EXTENSION, hex};
use crate::form::catalog::Catalog;

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

/// A bundle file read, decrypted, verified and validated: ready to be merged.
pub struct Prepared {
    bytes: Vec<u8>,
    name: String,
    sha: String,
    /// `Err` also for a file merged before (looked up again when it is merged).
    opened: Result<Opened, BundleError>,
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

/// Reads a whole file into memory (bundles are a few MB); the reader then streams over the bytes.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut f = fs::File::open(path).map_err(super::io(path))?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).map_err(super::io(path))?;
    Ok(v)
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
        let prepared = self.prepare(bytes.to_vec(), name)?;
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
            let prepared = read_file(f).and_then(|bytes| {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.prepare(bytes, &name)
            });
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
                    // A file that cannot be read (a stick pulled out) wrote nothing: what was
                    // merged before it is saved, then the import stops.
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

    /// The CPU part of an import, safe to run beside a merge: hash, decrypt, verify, validate every
    /// final revision. Nothing is written.
    pub fn prepare(&self, bytes: Vec<u8>, name: &str) -> Result<Prepared> {
        let sha = hex(&Sha256::digest(&bytes));
        if self.db.file_known(&sha)? {
            return Ok(Prepared {
                bytes,
                name: name.to_string(),
                sha,
                opened: Err(BundleError::invalid("imported before")),
            });
        }
        let opened = self
            .db
            .packer()
            .and_then(|z| open_bundle(&bytes, &self.keys.identity, self.catalog, z));
        Ok(Prepared {
            bytes,
            name: name.to_string(),
            sha,
            opened,
        })
    }

    /// The writing part of an import: hold, refuse or merge a prepared bundle, durably.
    pub fn commit(&self, p: Prepared, now: DateTime<FixedOffset>) -> Result<FileOutcome> {
        let txn = self.db.begin()?;
        let outcome = self.commit_in(&mut txn.tables()?, p, now)?;
        txn.commit()?;
        Ok(outcome)
    }

    /// [`Registry::commit`] inside a write transaction that may hold other bundles too: everything it
    /// reads (files and bundles merged, devices) is read in that transaction, so a bundle repeated
    /// within one import is recognised. Nothing is durable before the transaction commits.
    fn commit_in(
        &self,
        t: &mut impl Tables,
        p: Prepared,
        now: DateTime<FixedOffset>,
    ) -> Result<FileOutcome> {
        let Prepared {
            bytes,
            name,
            sha,
            opened,
        } = p;
        if let Some(b) = t.bundle_by_file(&sha)? {
            return Ok(FileOutcome::AlreadyImported { bundle: b });
        }
        let opened = match opened {
            Ok(o) => o,
            Err(e) => {
                return Ok(FileOutcome::Refused {
                    reason: e.to_string(),
                });
            }
        };
        let m = &opened.verified.manifest;
        if let Some(reason) = demo_mismatch(m.device.demo, self.keys.public.demo) {
            return Ok(FileOutcome::Refused { reason });
        }
        if let Some(b) = t.bundle(m.bundle_id)? {
            return Ok(FileOutcome::AlreadyImported { bundle: b });
        }
        let file = File {
            name: &name,
            sha: &sha,
        };
        match t.device(m.device.id)? {
            Some(d) if d.public_key != m.device.public_key => Ok(FileOutcome::Refused {
                reason: format!(
                    "device {} ({}) is registered with another signing key: this bundle was signed by a different tablet using the same id; check the tablet before approving anything",
                    d.id, d.name
                ),
            }),
            Some(d) if d.state == DeviceState::Revoked => Ok(FileOutcome::Refused {
                reason: format!(
                    "device {} ({}) was revoked on {}: its bundles are refused",
                    d.id,
                    d.name,
                    d.changed_at.format("%Y-%m-%d")
                ),
            }),
            Some(d) if d.state == DeviceState::Approved => {
                let entry = merge_bundle(t, self.catalog, &opened, &file, now)?;
                Ok(FileOutcome::Merged(entry))
            }
            other => self.hold(t, &file, &bytes, &opened, other, now),
        }
    }

    /// Keeps a bundle of an unknown or pending device aside (a copy under `pending/`, written durably
    /// first), registering the device as pending.
    fn hold(
        &self,
        t: &mut impl Tables,
        file: &File<'_>,
        bytes: &[u8],
        opened: &Opened,
        known: Option<DeviceEntry>,
        now: DateTime<FixedOffset>,
    ) -> Result<FileOutcome> {
        let m = &opened.verified.manifest;
        let already_held = t.pending(m.bundle_id)?.is_some();
        let device = known.unwrap_or_else(|| DeviceEntry {
            id: m.device.id,
            name: m.device.name.clone(),
            public_key: m.device.public_key.clone(),
            state: DeviceState::Pending,
            first_seen: now,
            changed_at: now,
        });
        if already_held {
            return Ok(FileOutcome::Held {
                device,
                already_held,
            });
        }
        let dir = self.dir.join(PENDING_DIR);
        fs::create_dir_all(&dir).map_err(super::io(&dir))?;
        let file_name = if file.name.is_empty() || file.name.contains(['/', '\\']) {
            format!("{}.{EXTENSION}", m.bundle_id)
        } else {
            file.name.to_string()
        };
        let rel = format!("{PENDING_DIR}/{}-{file_name}", m.bundle_id.simple());
        // The registry's own copy: one left by an import that did not commit is replaced.
        crate::durable::write_bytes(
            &self.dir.join(&rel),
            bytes,
            &crate::durable::Options::replace(),
        )?;
        t.put_device(&device)?;
        t.put_pending(&PendingBundle {
            bundle_id: m.bundle_id,
            device: m.device.id,
            file: rel,
            file_sha256: file.sha.to_string(),
            sequence: m.sequence,
            received_at: now,
        })?;
        Ok(FileOutcome::Held {
            device,
            already_held,
        })
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

/// Reads, decrypts and verifies a bundle, validating and summarizing every revision and packing its
/// line for the store as it streams by.
fn open_bundle(
    bytes: &[u8],
    identity: &age::x25519::Identity,
    catalog: &Catalog,
    mut z: impl Pack,
) -> Result<Opened, BundleError> {
    let mut revisions = Vec::new();
    let mut attachments = Vec::new();
    let verified = read::read(bytes, std::slice::from_ref(identity), |item| {
        match item {
            Item::Revision { raw, revision } => revisions.push(Slim {
                stored: z.pack(raw)?,
                record: revision.record,
                number: revision.number,
                seq: revision.seq,
                action: revision.action,
                at: revision.at,
                reasons: check(catalog, &revision),
                summary: summarize(catalog, &revision),
            }),
            Item::Attachment { sha256, bytes } => {
                attachments.push((sha256.to_string(), bytes.to_vec()))
            }
        }
        Ok(())
    })?;
    Ok(Opened {
        verified,
        revisions,
        attachments,
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
