//! Work packages (verivali): the registry's families of some desa, written for one device to visit —
//! their current answers and the hash of the revision each is based on, signed with the registry's key
//! and encrypted to the device (`bundle::package`). A family is in at most one open package; moving it
//! needs `reassign`. Progress per package: the families whose current revision is this package's visit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::entries::{DeviceEntry, DeviceState, PackageEntry, PackageState, desa_number};
use super::storage::{Storage, Tables, Transaction};
use super::{Registry, RegistryError, Result};
use crate::bundle::manifest::FormRef;
use crate::bundle::package::{PACKAGE_FORMAT, PACKAGE_FORMAT_VERSION, Package, StoredFamily};
use crate::bundle::{hex, short};
use crate::model::record::Revision;

/// How long a package without a due date stays valid.
const VALID_DAYS: i64 = 90;
/// How long after its due date a package is still accepted by a tablet.
const GRACE_DAYS: i64 = 30;

/// The hash a visit names as its base: SHA-256 of the revision as the registry reads it.
pub fn revision_hash(rev: &Revision) -> String {
    hex(&Sha256::digest(serde_json::to_vec(rev).unwrap_or_default()))
}

/// A family for a package from its current revision's stored line: the answers copied as they are
/// (not parsed and written again); the hash the family's entry keeps, or, for an entry written before
/// entries kept it, worked out from the revision.
fn stored_family(family: Uuid, line: &[u8], hash: Option<String>) -> Result<StoredFamily> {
    #[derive(serde::Deserialize)]
    struct Parts<'a> {
        form_id: String,
        form_version: u64,
        #[serde(borrow)]
        answers: &'a serde_json::value::RawValue,
    }
    let unreadable = |e: serde_json::Error| {
        RegistryError::Invalid(format!(
            "the stored revision of family {family} is unreadable: {e}"
        ))
    };
    let parts: Parts<'_> = serde_json::from_slice(line).map_err(unreadable)?;
    let base = match hash {
        Some(h) => h,
        None => revision_hash(&serde_json::from_slice::<Revision>(line).map_err(unreadable)?),
    };
    Ok(StoredFamily {
        family,
        base,
        form_id: parts.form_id,
        form_version: parts.form_version,
        answers: parts.answers.to_owned(),
    })
}

/// What to put into a package.
pub struct PackageRequest<'a> {
    /// The device (its id or the first digits).
    pub device: &'a str,
    /// Desa codes, dotted (`64.72.01.1001`) or digits only.
    pub desa: &'a [String],
    /// The folder to write it into (a stick).
    pub to: &'a Path,
    pub due: Option<NaiveDate>,
    pub note: Option<String>,
    /// Move families that are in another open package into this one.
    pub reassign: bool,
}

/// A package written.
#[derive(Debug, Clone, Serialize)]
pub struct WrittenPackage {
    #[serde(serialize_with = "ser_path")]
    pub path: PathBuf,
    pub entry: PackageEntry,
    /// Families taken from another open package.
    pub reassigned: usize,
    /// Families of those desa left out: in a conflict or quarantined (an operator decides first).
    pub not_settled: usize,
}

fn ser_path<S: serde::Serializer>(p: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&p.display().to_string())
}

/// Visits done of one package, per desa.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub total: u64,
    pub visited: u64,
    /// Desa code → (visited, total).
    pub desa: BTreeMap<String, (u64, u64)>,
}

fn digits(code: &str) -> String {
    code.chars().filter(char::is_ascii_digit).collect()
}

/// A package read and serialized, on its way to the stick ([`Registry::write_packages`]).
struct Prepared {
    entry: PackageEntry,
    /// Its plaintext, to be signed (`Package::envelope`).
    envelope: Vec<u8>,
    recipient: age::x25519::Recipient,
    path: PathBuf,
    reassigned: usize,
    not_settled: usize,
}

/// Families already in an open package: (family, package).
type Busy = Vec<(Uuid, Uuid)>;

/// Packages read at the same time ([`Registry::write_packages`]): reading is the pipeline's
/// largest part.
const READERS: usize = 2;

/// The first error of a pipeline's stage, with the position of the package it stopped at.
type Stopped = Option<(usize, RegistryError)>;

/// The pipeline's middle stage: the packages taken in order from the readers (package `i` from
/// reader `i % READERS`), each signed, compressed, encrypted to its device and written durably to its
/// file, then handed on to be recorded. Stops at the first package that could not be read or written.
fn seal_stage(
    key: &ed25519_dalek::SigningKey,
    reading: &[Receiver<(usize, Result<Prepared>)>],
    n: usize,
    to_commit: &SyncSender<(usize, Prepared)>,
    stop: &AtomicBool,
) -> Stopped {
    for i in 0..n {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Some(Ok((_, read))) = reading.get(i % READERS).map(Receiver::recv) else {
            break;
        };
        let mut p = match read {
            Ok(p) => p,
            Err(e) => return Some((i, e)),
        };
        let written = crate::bundle::package::sign_envelope(&mut p.envelope, key)
            .and_then(|()| crate::bundle::package::encrypt(&p.envelope, &p.recipient))
            .map_err(|e| RegistryError::Invalid(format!("cannot write the package: {e}")))
            .and_then(|bytes| {
                Ok(crate::durable::write_bytes(
                    &p.path,
                    &bytes,
                    &crate::durable::Options::refuse().private(),
                )?)
            });
        match written {
            Ok(w) => {
                let path = w.path;
                if let Err(back) = to_commit.send((i, Prepared { path, ..p })) {
                    // The recorder stopped: this file would not be recorded.
                    let _ = std::fs::remove_file(&back.0.1.path);
                    break;
                }
            }
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Some((i, e));
            }
        }
    }
    None
}

impl<S: Storage> Registry<S> {
    /// Writes a work package for a device: the accepted families of the desa given.
    pub fn write_package(
        &self,
        req: &PackageRequest<'_>,
        now: DateTime<FixedOffset>,
    ) -> Result<WrittenPackage> {
        self.write_packages(std::slice::from_ref(req), now)?
            .pop()
            .ok_or_else(|| RegistryError::Invalid("no package was written".into()))
    }

    /// Writes several work packages (a kabupaten's: one per device), each as
    /// [`Registry::write_package`] writes one: its file written durably, then recorded in its own
    /// commit. The requests are all checked first (devices, folders, no desa named twice: nothing
    /// written if one is wrong); then threads overlap the work of consecutive packages: two read
    /// packages' families and serialize them, while this one signs, compresses, encrypts and writes
    /// the one before to its file and another commits the one before that. On an error the packages before
    /// it stay written and recorded (each whole); the one whose commit failed is removed again, and
    /// none after it is written.
    pub fn write_packages(
        &self,
        reqs: &[PackageRequest<'_>],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<WrittenPackage>> {
        self.check_allowed(super::Role::Operator)?;
        let keys = self.check_requests(reqs)?;
        let stop = AtomicBool::new(false);
        let (to_commit, committing) = sync_channel::<(usize, Prepared)>(1);
        let mut senders = Vec::new();
        let mut reading = Vec::new();
        for _ in 0..READERS {
            let (tx, rx) = sync_channel::<(usize, Result<Prepared>)>(1);
            senders.push(tx);
            reading.push(rx);
        }
        let (sealed, committed) = std::thread::scope(|scope| {
            let stop = &stop;
            let keys = &keys;
            for (k, tx) in senders.into_iter().enumerate() {
                scope.spawn(move || self.read_stage(reqs, keys, k, &tx, stop, now));
            }
            let committer = scope.spawn(move || self.commit_stage(&committing, stop, now));
            let sealed = seal_stage(&self.keys.signing, &reading, reqs.len(), &to_commit, stop);
            // Ends the readers early when the sealing stopped on an error.
            drop(reading);
            drop(to_commit);
            let gone = || RegistryError::Invalid("a package writer's thread stopped".into());
            let committed = committer
                .join()
                .unwrap_or_else(|_| (Vec::new(), Some((0, gone()))));
            (sealed, committed)
        });
        let (written, failed) = committed;
        // The error of the first package that failed, whichever stage it failed in.
        match [sealed, failed]
            .into_iter()
            .flatten()
            .min_by_key(|(i, _)| *i)
        {
            Some((_, e)) => Err(e),
            None => Ok(written),
        }
    }

    /// A reader of the pipeline: packages `k`, `k + READERS`, … read and serialized in turn, each
    /// handed on (or the error that stopped it).
    fn read_stage(
        &self,
        reqs: &[PackageRequest<'_>],
        keys: &[(DeviceEntry, age::x25519::Recipient)],
        k: usize,
        tx: &SyncSender<(usize, Result<Prepared>)>,
        stop: &AtomicBool,
        now: DateTime<FixedOffset>,
    ) {
        for (i, (req, (d, recipient))) in reqs.iter().zip(keys).enumerate().skip(k).step_by(READERS)
        {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let p = self.prepare(req, d, recipient.clone(), now);
            let failed = p.is_err();
            if tx.send((i, p)).is_err() || failed {
                return;
            }
        }
    }

    /// Every request checked before anything is written: its device and key, its desa, its folder;
    /// no desa in two of them (a family goes into one package).
    fn check_requests(
        &self,
        reqs: &[PackageRequest<'_>],
    ) -> Result<Vec<(DeviceEntry, age::x25519::Recipient)>> {
        let mut seen = BTreeSet::new();
        let mut keys = Vec::with_capacity(reqs.len());
        for req in reqs {
            keys.push(self.package_key(req.device)?);
            if req.desa.is_empty() {
                return Err(RegistryError::Invalid("give at least one desa code".into()));
            }
            if !req.to.is_dir() {
                return Err(RegistryError::Invalid(format!(
                    "{} is not a folder (give the stick's folder with --to)",
                    req.to.display()
                )));
            }
            for d in req.desa {
                if !seen.insert(digits(d)) {
                    return Err(RegistryError::Invalid(format!(
                        "desa {d} is named for two packages: a family goes into one package"
                    )));
                }
            }
        }
        Ok(keys)
    }

    /// A package's families read, checked and serialized.
    fn prepare(
        &self,
        req: &PackageRequest<'_>,
        d: &DeviceEntry,
        recipient: age::x25519::Recipient,
        now: DateTime<FixedOffset>,
    ) -> Result<Prepared> {
        let wanted: BTreeSet<String> = req.desa.iter().map(|c| digits(c)).collect();
        let (families, busy, not_settled) = self.families_of_desa(&wanted)?;
        if families.is_empty() {
            return Err(RegistryError::Invalid(format!(
                "no accepted family in desa {}",
                req.desa.join(", ")
            )));
        }
        if !busy.is_empty() && !req.reassign {
            return Err(RegistryError::Invalid(format!(
                "{} of these families are in another open package (first: {} in package {}): cancel that package or give --reassign",
                busy.len(),
                busy.first().map(|b| b.0.to_string()).unwrap_or_default(),
                busy.first().map(|b| short(b.1)).unwrap_or_default()
            )));
        }
        let package = self.new_package(d.id, req, families, now);
        let envelope = package
            .envelope()
            .map_err(|e| RegistryError::Invalid(format!("cannot write the package: {e}")))?;
        let entry = PackageEntry {
            package_id: package.package_id,
            device: d.id,
            file_name: package.file_name(),
            families: package
                .families
                .into_iter()
                .map(|f| (f.family, f.base))
                .collect(),
            desa: package.desa,
            created_at: now,
            due: package.due,
            expires: package.expires,
            note: package.note,
            state: PackageState::Open,
            changed_at: None,
        };
        Ok(Prepared {
            path: req.to.join(&entry.file_name),
            entry,
            envelope,
            recipient,
            reassigned: busy.len(),
            not_settled,
        })
    }

    /// The pipeline's last stage: each package whose file is written is recorded, one commit a
    /// package. After a failed commit the files still coming are removed (not recorded, not to be
    /// handed out).
    fn commit_stage(
        &self,
        committing: &Receiver<(usize, Prepared)>,
        stop: &AtomicBool,
        now: DateTime<FixedOffset>,
    ) -> (Vec<WrittenPackage>, Stopped) {
        let mut written = Vec::new();
        let mut failed: Stopped = None;
        for (i, p) in committing {
            if failed.is_some() {
                let _ = std::fs::remove_file(&p.path);
                continue;
            }
            match self.record_package(&p.entry, now) {
                Ok(()) => written.push(WrittenPackage {
                    path: p.path,
                    entry: p.entry,
                    reassigned: p.reassigned,
                    not_settled: p.not_settled,
                }),
                Err(e) => {
                    let _ = std::fs::remove_file(&p.path);
                    stop.store(true, Ordering::Relaxed);
                    failed = Some((i, e));
                }
            }
        }
        (written, failed)
    }

    /// A package in the registry: its entry, its families marked as in it, the audit line.
    fn record_package(&self, entry: &PackageEntry, now: DateTime<FixedOffset>) -> Result<()> {
        let txn = self.db.begin()?;
        {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, super::Role::Operator)?;
            t.put_package(entry)?;
            for (family, _) in &entry.families {
                t.set_package_of(family.as_u128(), Some(entry.package_id))?;
            }
            let objects = vec![
                format!("package:{}", entry.package_id),
                format!("device:{}", entry.device),
            ];
            let detail = Some(format!(
                "{} families of desa {}",
                entry.families.len(),
                entry.desa.join(", ")
            ));
            self.audit_in(&mut t, &actor, now, "package.issue", objects, detail)?;
        }
        txn.commit()
    }

    /// The package's contents: its dates (valid 30 days after the due date, else 90 days) and forms.
    fn new_package(
        &self,
        device: Uuid,
        req: &PackageRequest<'_>,
        families: Vec<StoredFamily>,
        now: DateTime<FixedOffset>,
    ) -> Package<StoredFamily> {
        let forms: BTreeSet<FormRef> = families
            .iter()
            .map(|f| FormRef {
                id: f.form_id.clone(),
                version: f.form_version,
            })
            .collect();
        let expires = match req.due {
            Some(due) => due + Duration::days(GRACE_DAYS),
            None => now.date_naive() + Duration::days(VALID_DAYS),
        };
        Package {
            format: PACKAGE_FORMAT.into(),
            format_version: PACKAGE_FORMAT_VERSION,
            package_id: Uuid::now_v7(),
            created_at: now,
            registry: self.keys.public.name.clone(),
            device,
            desa: req.desa.to_vec(),
            due: req.due,
            expires,
            note: req.note.clone(),
            forms: forms.into_iter().collect(),
            families,
        }
    }

    /// An approved device and the age recipient its bundles told the registry.
    fn package_key(&self, device: &str) -> Result<(DeviceEntry, age::x25519::Recipient)> {
        let d = self.find_device(device)?;
        if d.state != DeviceState::Approved {
            return Err(RegistryError::Invalid(format!(
                "device {} ({}) is {}: approve it first",
                short(d.id),
                d.name,
                d.state.as_str()
            )));
        }
        let recipient = d.age_recipient.as_deref().ok_or_else(|| {
            RegistryError::Invalid(format!(
                "device {} ({}) has not told this registry its package key yet: import one bundle exported by its current pendata first",
                short(d.id),
                d.name
            ))
        })?;
        let recipient = age::x25519::Recipient::from_str(recipient).map_err(|e| {
            RegistryError::Invalid(format!("device {}: bad age recipient: {e}", short(d.id)))
        })?;
        Ok((d, recipient))
    }

    /// The accepted families of the desa (digits only), with their current revision's answers and
    /// hash; those of them already in an open package (family, package); and how many others (in a
    /// conflict, quarantined) were left out.
    fn families_of_desa(
        &self,
        wanted: &BTreeSet<String>,
    ) -> Result<(Vec<StoredFamily>, Busy, usize)> {
        // The desa index names the families of each desa: only theirs are read, and only the chosen
        // families' revisions unpacked.
        let mut chosen = Vec::new();
        let mut busy = Vec::new();
        let mut not_settled = 0;
        for desa in wanted.iter().filter_map(|d| desa_number(d)) {
            self.db.package_sources(desa, |src| {
                if !src.accepted {
                    not_settled += 1;
                    return Ok(());
                }
                if let Some(p) = src.package {
                    busy.push((src.record, p));
                }
                chosen.push(stored_family(src.record, src.line, src.revision_hash)?);
                Ok(())
            })?;
        }
        Ok((chosen, busy, not_settled))
    }

    /// Every package issued, oldest first.
    pub fn packages(&self) -> Result<Vec<PackageEntry>> {
        self.db.packages()
    }

    /// A package by its id, or the first or last digits of it (`query::find_id`).
    pub fn find_package(&self, text: &str) -> Result<PackageEntry> {
        super::query::find_id(
            self.packages()?,
            |p| p.package_id,
            text,
            "package",
            "pendata registry packages DIR list",
        )
    }

    /// Cancels an open package: its families may go into another one.
    pub fn cancel_package(&self, text: &str, now: DateTime<FixedOffset>) -> Result<PackageEntry> {
        let mut p = self.find_package(text)?;
        if p.state != PackageState::Open {
            return Err(RegistryError::Invalid(format!(
                "package {} was already cancelled",
                short(p.package_id)
            )));
        }
        p.state = PackageState::Cancelled;
        p.changed_at = Some(now);
        let txn = self.db.begin()?;
        {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, super::Role::Operator)?;
            t.put_package(&p)?;
            for (family, _) in &p.families {
                let r = family.as_u128();
                if t.package_of(r)? == Some(p.package_id) {
                    t.set_package_of(r, None)?;
                }
            }
            let objects = vec![format!("package:{}", p.package_id)];
            self.audit_in(&mut t, &actor, now, "package.cancel", objects, None)?;
        }
        txn.commit()?;
        Ok(p)
    }

    /// How far the visits of a package are: a family is visited when its current revision is a visit
    /// from this package.
    pub fn package_progress(&self, p: &PackageEntry) -> Result<Progress> {
        // Only the package's families are read, and of their revisions only what they are based on.
        let listed: BTreeSet<Uuid> = p.families.iter().map(|(f, _)| *f).collect();
        let listed: Vec<Uuid> = listed.into_iter().collect();
        let mut progress = Progress::default();
        self.db.families_based(&listed, |fam, base| {
            let desa = fam
                .facts
                .as_ref()
                .and_then(|f| f.desa.clone())
                .unwrap_or_default();
            let visited = base.is_some_and(|b| b.package == p.package_id);
            let slot = progress.desa.entry(desa).or_default();
            slot.1 += 1;
            progress.total += 1;
            if visited {
                slot.0 += 1;
                progress.visited += 1;
            }
            Ok(())
        })?;
        Ok(progress)
    }
}
