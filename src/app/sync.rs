//! Sync use cases of the tablet: the registry's key, export to a stick, receipts, purge. They join the
//! device store (`store`) and the bundle format (`bundle`).

use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use serde::Serialize;

use super::{AppError, Device, Result, now};
use crate::bundle::keys::RegistryPub;
use crate::bundle::manifest::{Counts, DeviceRef, ExportKind, SeqRange};
use crate::bundle::receipt::Receipt;
use crate::bundle::write::{
    AttachmentSource, Builder, DirTarget, Header, Target, Written, write_safely,
};
use crate::bundle::{self, BundleError};
use crate::store::{
    ExportItem, ExportLog, Marked, Outgoing, Purged, ReceiptOutcome, RejectionIn, Store,
};

/// Exported records go to the marking thread in batches of this many.
const MARK_BATCH: usize = 4096;

/// The settings key holding the registry's `registry.pub` (as JSON).
const REGISTRY_KEY: &str = "registry_pub";

/// Which revisions to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Everything finalized since the previous export (the usual case).
    SinceLast,
    /// The whole history of final revisions again.
    All,
    /// Sequence positions `a..=b` again (a lost stick).
    Range(u64, u64),
}

/// What an export would carry (shown before writing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub from: u64,
    pub to: u64,
    pub families: u64,
    pub revisions: u64,
    pub attachments: u64,
    /// Uncompressed bytes of the revisions and photos (the file is smaller).
    pub bytes: u64,
}

/// Where an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Collecting,
    Writing,
    Verifying,
    Marking,
}

/// A finished export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    pub file: String,
    #[serde(serialize_with = "ser_path")]
    pub path: std::path::PathBuf,
    pub size: u64,
    pub sha256: String,
    pub from: u64,
    pub to: u64,
    pub families: u64,
    pub revisions: u64,
    pub attachments: u64,
    pub marked: Marked,
}

fn ser_path<S: serde::Serializer>(p: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.display().to_string())
}

/// The result of asking for an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    /// Nothing final in the range: no file was written, nothing changed.
    Nothing {
        from: u64,
        to: u64,
    },
    Written(Box<Exported>),
}

struct StoreAttachments<'a>(&'a Store);

impl AttachmentSource for StoreAttachments<'_> {
    fn attachment(&mut self, hash: &str) -> bundle::Result<Option<Vec<u8>>> {
        self.0
            .attachment(hash)
            .map_err(|e| BundleError::invalid(e.to_string()))
    }
}

/// How long families accepted by the registry stay on the tablet before the app offers to remove them
/// (DESIGN: accepted records are purged after a retention period; the CLI's `purge` takes any date).
pub const RETENTION_DAYS: i64 = 30;

/// A registry key file set beside the one the tablet trusts ([`Device::registry_key_change`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// The trusted key's registry name and fingerprint, if one is set.
    pub current: Option<(String, String)>,
    /// The file's.
    pub new: (String, String),
    /// The file holds the same keys as the trusted one (nothing to replace).
    pub same: bool,
}

impl Device {
    /// The registry's public key file this tablet encrypts to, if one was set.
    pub fn registry_key(&self) -> Result<Option<RegistryPub>> {
        let Some(v) = self.store.setting(REGISTRY_KEY)? else {
            return Ok(None);
        };
        let bytes = serde_json::to_vec(&v).map_err(|e| AppError::Forms(e.to_string()))?;
        Ok(Some(RegistryPub::parse(&bytes)?))
    }

    /// Sets the registry's key from the bytes of a `registry.pub` file (checked first). The key is
    /// pinned: once one is set, another (a different signing key or different encryption recipients)
    /// is refused unless `replace` says a person means it — a swapped `registry.pub` on a stick would
    /// otherwise send every family to whoever made it and accept its receipts. The same key again is
    /// accepted (its name may have changed).
    pub fn set_registry_key(&self, bytes: &[u8]) -> Result<RegistryPub> {
        self.put_registry_key(bytes, false)
    }

    /// [`Device::set_registry_key`] that replaces a pinned key by another (`registry-key set --replace`).
    pub fn replace_registry_key(&self, bytes: &[u8]) -> Result<RegistryPub> {
        self.put_registry_key(bytes, true)
    }

    /// [`Device::replace_registry_key`] in the app: a petugas alone may not replace the pinned key; the
    /// supervisor proves presence with the tablet's recovery code (checked first, with the growing
    /// waits of wrong secrets). Nothing changes on a wrong code.
    pub fn replace_registry_key_as_supervisor(
        &self,
        bytes: &[u8],
        recovery_code: &str,
    ) -> Result<RegistryPub> {
        // The file is checked before the code: a broken file costs no try.
        RegistryPub::parse(bytes)?;
        self.store.verify_recovery_code(recovery_code)?;
        let key = self.replace_registry_key(bytes)?;
        tracing::warn!(fingerprint = %key.fingerprint(), "registry key replaced by a supervisor");
        Ok(key)
    }

    /// What replacing the registry key by the file's would change: the key trusted now and the file's
    /// (name and fingerprint), for a person to compare with the registry's office before replacing.
    pub fn registry_key_change(&self, bytes: &[u8]) -> Result<KeyChange> {
        let new = RegistryPub::parse(bytes)?;
        let current = self.registry_key()?;
        Ok(KeyChange {
            same: current.as_ref().is_some_and(|c| c.same_keys(&new)),
            current: current.map(|c| (c.name.clone(), c.fingerprint())),
            new: (new.name.clone(), new.fingerprint()),
        })
    }

    fn put_registry_key(&self, bytes: &[u8], replace: bool) -> Result<RegistryPub> {
        let key = RegistryPub::parse(bytes)?;
        // A demo tablet's bundles go to a demo registry only, and a real tablet's to a real one: the
        // registry would refuse every bundle of the other kind, so its key is refused here, at once.
        let demo = self.store.device()?.demo;
        if key.demo != demo {
            return Err(AppError::DemoMismatch { tablet_demo: demo });
        }
        if let Some(current) = self.registry_key()?
            && !current.same_keys(&key)
            && !replace
        {
            return Err(AppError::RegistryKeyPinned {
                current: current.fingerprint(),
                new: key.fingerprint(),
                same_signer: current.signing_key == key.signing_key,
            });
        }
        let value = serde_json::to_value(&key).map_err(|e| AppError::Forms(e.to_string()))?;
        self.store.put_setting(REGISTRY_KEY, &value)?;
        Ok(key)
    }

    /// The sequence range a selection covers now: `None` when it is empty.
    pub fn export_range(&self, selection: Selection) -> Result<Option<(u64, u64)>> {
        let last = self.store.last_seq()?;
        let (from, to) = match selection {
            Selection::SinceLast => (self.store.export_watermark()? + 1, last),
            Selection::All => (1, last),
            Selection::Range(a, b) => {
                if a == 0 || a > b || b > last {
                    return Err(AppError::BadRange { a, b, last });
                }
                (a, b)
            }
        };
        Ok((from <= to).then_some((from, to)))
    }

    /// What an export of `selection` would carry, without writing anything.
    pub fn export_preview(&self, selection: Selection) -> Result<Preview> {
        let Some((from, to)) = self.export_range(selection)? else {
            return Ok(Preview::default());
        };
        let mut families = std::collections::BTreeSet::new();
        let mut bytes = 0u64;
        let mut revisions = 0u64;
        let mut hashes = std::collections::BTreeSet::new();
        self.store.export_revisions::<AppError>(from, to, |raw| {
            revisions += 1;
            bytes += raw.len() as u64;
            #[derive(serde::Deserialize)]
            struct Rec {
                record: uuid::Uuid,
            }
            if let Ok(r) = serde_json::from_slice::<Rec>(raw) {
                families.insert(r.record);
            }
            crate::model::record::attachment_refs(raw, &mut hashes);
            Ok(())
        })?;
        let mut attachments = 0;
        for h in &hashes {
            if let Some(b) = self.store.attachment(h)? {
                attachments += 1;
                bytes += b.len() as u64;
            }
        }
        Ok(Preview {
            from,
            to,
            families: families.len() as u64,
            revisions,
            attachments,
            bytes,
        })
    }

    /// Exports `selection` to the folder `dir` (a stick). See [`Device::export_to`].
    pub fn export(
        &self,
        dir: &Path,
        selection: Selection,
        petugas: &str,
        progress: &mut dyn FnMut(Stage, f32),
    ) -> Result<ExportOutcome> {
        if !dir.is_dir() {
            return Err(AppError::NoFolder(dir.display().to_string()));
        }
        let started = std::time::Instant::now();
        let outcome = self.export_to(&DirTarget::new(dir), selection, petugas, progress);
        log_export(&outcome, started.elapsed());
        outcome
    }

    /// Exports to a target: collects the final revisions, seals and signs the manifest, writes the
    /// encrypted file safely (temporary name, fsync, rename, fsync, read back and verify) and only then
    /// commits the one store transaction that marks the families Exported. The marks are made in it on
    /// a second thread as the revisions are read (the store's other writers wait until the export
    /// ends). Any failure leaves no file under the final name and nothing marked.
    pub fn export_to(
        &self,
        target: &dyn Target,
        selection: Selection,
        petugas: &str,
        progress: &mut dyn FnMut(Stage, f32),
    ) -> Result<ExportOutcome> {
        let key = self.registry_key()?.ok_or(AppError::NoRegistryKey)?;
        let recipients = key.recipients()?;
        let Some((from, to)) = self.export_range(selection)? else {
            let w = self.store.export_watermark()?;
            return Ok(ExportOutcome::Nothing { from: w + 1, to: w });
        };
        let device = self.store.device()?;
        let signing = self.store.signing_key()?;
        let age_recipient = self.store.age_recipient()?;
        let kind = match selection {
            Selection::SinceLast => ExportKind::Incremental,
            Selection::All => ExportKind::All,
            Selection::Range(..) => ExportKind::Range,
        };
        let watermark = match selection {
            Selection::Range(..) => None,
            Selection::SinceLast | Selection::All => Some(to),
        };
        let bundle_id = uuid::Uuid::now_v7();
        // The records to mark are handed to a second thread as they are read, while this one reads,
        // then finishes the bundle and writes it; they are marked in one transaction with the verified
        // file's log entry, only then (the store's write lock is not held while the stick is written).
        // A failure sends no log entry: nothing is marked.
        let (to_mark, batches) = std::sync::mpsc::channel::<Vec<ExportItem>>();
        let (logged, log_rx) = std::sync::mpsc::channel::<ExportLog>();
        let store = &self.store;
        std::thread::scope(|scope| {
            let marker = scope.spawn(move || {
                store.mark_exported_when(batches, bundle_id, watermark, || log_rx.recv().ok())
            });
            let written = || -> Result<Option<(ExportLog, Written, Counts)>> {
                let Some(builder) = self.collect(from, to, to_mark, progress)? else {
                    return Ok(None);
                };
                let created_at = now();
                let header = Header {
                    created_at,
                    device: DeviceRef {
                        id: device.id,
                        name: device.name.clone(),
                        public_key: device.public_key.clone(),
                        age_recipient: Some(age_recipient.clone()),
                        demo: device.demo,
                    },
                    sequence: SeqRange { from, to },
                    kind,
                };
                self.seal_and_write(
                    builder,
                    bundle_id,
                    header,
                    &signing,
                    &recipients,
                    target,
                    petugas,
                    progress,
                )
                .map(Some)
            };
            let done = match written() {
                Ok(Some((log, written, counts))) => {
                    // The file is verified: the marker commits with the log entry.
                    let _ = logged.send(log);
                    Ok(Some((written, counts)))
                }
                other => {
                    drop(logged);
                    other.map(|_| None)
                }
            };
            if matches!(done, Ok(Some(_))) {
                // The file is written and verified; what the export waits for now is the marking.
                progress(Stage::Marking, 0.0);
            }
            let marked = marker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let Some((written, counts)) = done? else {
                return Ok(ExportOutcome::Nothing { from, to });
            };
            progress(Stage::Marking, 1.0);
            let marked = marked?.ok_or_else(|| {
                crate::store::StoreError::Storage("the export was written but not marked".into())
            })?;
            Ok(ExportOutcome::Written(Box::new(Exported {
                file: written.name,
                path: written.path,
                size: written.size,
                sha256: written.sha256,
                from,
                to,
                families: counts.records,
                revisions: counts.revisions,
                attachments: counts.attachments,
                marked,
            })))
        })
    }

    /// Reads the revisions `from..=to` into a bundle builder, sending the exported items to the
    /// marking thread in batches as they are read. `None`: nothing final in the range.
    fn collect(
        &self,
        from: u64,
        to: u64,
        to_mark: std::sync::mpsc::Sender<Vec<ExportItem>>,
        progress: &mut dyn FnMut(Stage, f32),
    ) -> Result<Option<Builder>> {
        progress(Stage::Collecting, 0.0);
        let mut builder = Builder::new()?;
        let span = (to - from + 1) as f32;
        let mut items = Vec::with_capacity(MARK_BATCH);
        let mut any = false;
        // Whole frames the store compressed already are copied; the lines between them are added
        // one by one.
        let mut seen = 0u64;
        self.store.export_framed::<AppError>(from, to, |out| {
            let before = seen;
            match out {
                Outgoing::Line(raw, sha256) => {
                    builder.add_stored(raw, sha256)?;
                    seen += 1;
                }
                Outgoing::Frame(frame) => {
                    builder.add_frame(bundle::write::Frame {
                        zst: frame.zst,
                        lines: frame.lines,
                        plain_size: frame.plain_size,
                        hashes: frame.hashes,
                        records: &frame.records,
                        petugas: frame.petugas,
                        forms: frame.forms,
                        referenced: frame.referenced,
                    })?;
                    seen += frame.lines;
                }
                Outgoing::Item(item) => {
                    any = true;
                    items.push(item);
                    if items.len() >= MARK_BATCH {
                        let full = std::mem::replace(&mut items, Vec::with_capacity(MARK_BATCH));
                        // A marker that stopped says why when it is joined.
                        let _ = to_mark.send(full);
                    }
                }
            }
            if seen / 1000 != before / 1000 {
                progress(Stage::Collecting, (seen as f32 / span).min(1.0));
            }
            Ok(())
        })?;
        if !any {
            return Ok(None);
        }
        let _ = to_mark.send(items);
        Ok(Some(builder))
    }

    /// Seals the collected bundle, writes it safely to `target` and verifies it; returns its log entry.
    #[expect(
        clippy::too_many_arguments,
        reason = "one step of export_to, given its parts"
    )]
    fn seal_and_write(
        &self,
        builder: Builder,
        bundle_id: uuid::Uuid,
        header: Header,
        signing: &ed25519_dalek::SigningKey,
        recipients: &[age::x25519::Recipient],
        target: &dyn Target,
        petugas: &str,
        progress: &mut dyn FnMut(Stage, f32),
    ) -> Result<(ExportLog, Written, Counts)> {
        let (created_at, kind) = (header.created_at, header.kind);
        let SeqRange { from, to } = header.sequence;
        let device = header.device.id;
        let mut source = StoreAttachments(&self.store);
        let sealed = builder.seal_as(bundle_id, header, signing, &mut source)?;
        let name = bundle::file_name(device, created_at, from, to);
        progress(Stage::Writing, 0.0);
        let total = sealed.estimated_size().max(1) as f32;
        let written: Written = write_safely(target, &name, sealed.estimated_size(), &mut |out| {
            let counting = ProgressWriter {
                inner: out,
                done: 0,
                every: 0,
                report: &mut |n| progress(Stage::Writing, (n as f32 / total).min(1.0)),
            };
            sealed.encrypt_to(recipients, &mut source, counting)?;
            Ok(())
        })?;
        progress(Stage::Verifying, 1.0);
        let m = &sealed.manifest;
        let log = ExportLog {
            bundle_id: m.bundle_id,
            file: written.name.clone(),
            from,
            to,
            kind: serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            at: created_at,
            by: petugas.to_string(),
            records: m.counts.records,
            revisions: m.counts.revisions,
            attachments: m.counts.attachments,
            size: written.size,
            sha256: written.sha256.clone(),
            // Set by the store when it marks.
            by_position: false,
        };
        Ok((log, written, m.counts))
    }

    /// Every bundle written from this tablet, newest first.
    pub fn exports(&self) -> Result<Vec<ExportLog>> {
        Ok(self.store.exports()?)
    }

    /// Applies a receipt file's bytes: checks the registry's signature and that it is for this tablet,
    /// then moves families to Accepted / Rejected. Returns the receipt, what changed, and whether this
    /// was the first time (a second apply changes nothing).
    pub fn apply_receipt(&self, bytes: &[u8]) -> Result<(Receipt, ReceiptOutcome, bool)> {
        let key = self.registry_key()?.ok_or(AppError::NoRegistryKey)?;
        let receipt = Receipt::open(bytes, &key.verifying_key()?)?;
        let device = self.store.device()?;
        if receipt.device != device.id {
            return Err(AppError::WrongDevice {
                receipt: receipt.device.to_string(),
                this: device.id.to_string(),
            });
        }
        let accepted: Vec<(u64, u64)> = receipt.accepted.iter().map(|r| (r.from, r.to)).collect();
        let rejected: Vec<RejectionIn<'_>> = receipt
            .rejected
            .iter()
            .map(|r| RejectionIn {
                record: r.record,
                revision: r.revision,
                seq: r.seq,
                reasons: &r.reasons,
            })
            .collect();
        let (outcome, first) = self.store.apply_receipt(
            receipt.receipt_id,
            &receipt.registry,
            receipt.created_at,
            &accepted,
            &rejected,
            now(),
        )?;
        tracing::info!(
            receipt = %receipt.receipt_id,
            first_time = first,
            accepted = outcome.accepted,
            rejected = outcome.rejected,
            unchanged = outcome.unchanged,
            stale = outcome.stale,
            unknown = outcome.unknown,
            "receipt applied"
        );
        Ok((receipt, outcome, first))
    }

    pub fn receipts(&self) -> Result<Vec<crate::store::ReceiptLog>> {
        Ok(self.store.receipts()?)
    }

    /// Removes families accepted before the start of `date` (device time) from the tablet.
    pub fn purge_accepted_before(&self, date: NaiveDate) -> Result<Purged> {
        let cutoff = start_of(date, now().offset());
        Ok(self.store.purge_accepted_before(cutoff, now())?)
    }

    /// How many families [`Device::purge_accepted_before`] would remove for `date`: accepted by the
    /// registry before that day.
    pub fn purgeable(&self, date: NaiveDate) -> Result<usize> {
        let cutoff = start_of(date, now().offset());
        Ok(self
            .store
            .list(Some(crate::store::Status::Accepted))?
            .iter()
            .filter(|h| h.accepted_at().is_some_and(|at| at < cutoff))
            .count())
    }

    /// The app's purge: the families accepted before `date` removed, then (on an encrypted store, when
    /// any went) the live data rewritten under a new data key so nothing of them stays in free pages.
    /// The device is consumed by the rewrite and given back; when the rewrite fails the removal stands
    /// and the store must be opened again (sign in again), which the error says.
    pub fn purge_and_erase(self, date: NaiveDate) -> (Result<Purged>, Option<Device>) {
        let purged = match self.purge_accepted_before(date) {
            Ok(p) => p,
            Err(e) => return (Err(e), Some(self)),
        };
        if purged.records == 0 || !self.store.is_encrypted() {
            return (Ok(purged), Some(self));
        }
        match self.erase_freed() {
            Ok(device) => (Ok(purged), Some(device)),
            Err(e) => (Err(e), None),
        }
    }

    /// After a purge: the live data rewritten into a new store file under a new data key, so that
    /// nothing of the purged families is left in the file's free pages (`store::rewrite`).
    pub fn erase_freed(self) -> Result<Device> {
        let Device { store, catalog } = self;
        Ok(Device {
            store: store.rewrite()?,
            catalog,
        })
    }
}

/// Midnight at the start of `date` in the device's offset.
fn start_of(date: NaiveDate, offset: &FixedOffset) -> DateTime<FixedOffset> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    offset
        .from_local_datetime(&midnight)
        .single()
        .unwrap_or_else(|| midnight.and_utc().fixed_offset())
}

struct ProgressWriter<'a, W> {
    inner: W,
    done: u64,
    every: u64,
    report: &'a mut dyn FnMut(u64),
}

impl<W: std::io::Write> std::io::Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.done += n as u64;
        self.every += n as u64;
        if self.every >= 1 << 20 {
            self.every = 0;
            (self.report)(self.done);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Device {
    /// Sets the registry's key from a `registry.pub` file (e.g. on the stick).
    pub fn set_registry_key_file(&self, path: &Path) -> Result<RegistryPub> {
        let bytes = std::fs::read(path)
            .map_err(|e| AppError::Unreadable(format!("{}: {e}", path.display())))?;
        self.set_registry_key(&bytes)
    }

    /// [`Device::registry_key_change`] of a file (e.g. `registry.pub` on the stick).
    pub fn registry_key_change_file(&self, path: &Path) -> Result<KeyChange> {
        let bytes = std::fs::read(path)
            .map_err(|e| AppError::Unreadable(format!("{}: {e}", path.display())))?;
        self.registry_key_change(&bytes)
    }

    /// [`Device::replace_registry_key_as_supervisor`] from a file.
    pub fn replace_registry_key_file_as_supervisor(
        &self,
        path: &Path,
        recovery_code: &str,
    ) -> Result<RegistryPub> {
        let bytes = std::fs::read(path)
            .map_err(|e| AppError::Unreadable(format!("{}: {e}", path.display())))?;
        self.replace_registry_key_as_supervisor(&bytes, recovery_code)
    }

    /// Applies a receipt file (e.g. on the stick). See [`Device::apply_receipt`].
    pub fn apply_receipt_file(&self, path: &Path) -> Result<(Receipt, ReceiptOutcome, bool)> {
        let bytes = std::fs::read(path)
            .map_err(|e| AppError::Unreadable(format!("{}: {e}", path.display())))?;
        self.apply_receipt(&bytes)
    }
}

/// An export in the log: counts, sequence, size and time — never a family's answers.
fn log_export(outcome: &Result<ExportOutcome>, took: std::time::Duration) {
    let ms = took.as_millis() as u64;
    match outcome {
        Ok(ExportOutcome::Written(e)) => tracing::info!(
            file = %e.file,
            from = e.from,
            to = e.to,
            families = e.families,
            revisions = e.revisions,
            photos = e.attachments,
            bytes = e.size,
            ms,
            "export written"
        ),
        Ok(ExportOutcome::Nothing { from, to }) => {
            tracing::info!(from, to, ms, "export: nothing to export");
        }
        Err(e) => tracing::warn!(error = %e, ms, "export failed"),
    }
}

/// Whether a file name looks like a receipt.
pub fn is_receipt_name(name: &str) -> bool {
    name.starts_with("pendata-receipt-") && name.ends_with(".json")
}
