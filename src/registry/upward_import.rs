//! The province's import of upward bundles (`bundle::upward`), beside the tablets' bundles: the
//! kabupaten/kota registry that signed it is enrolled like a device (pending, refused until an operator
//! approves it with `registry devices DIR approve ID` after comparing fingerprints; its id is derived from
//! its signing key, [`kabupaten_id`]); then the file is checked whole — decrypted, the kabupaten's
//! signature, every revision back to its tablet's signature, every family inside the kabupaten's region
//! — and merged in one transaction (each tablet bundle's forwarded lines through the same merge rules as
//! a tablet's bundle), with the kabupaten's endorsements and the tablets it approved. The same file or
//! bundle id again changes nothing; the positions of the kabupaten's upward sequence received are its
//! coverage, so a missing bundle shows as a gap (`registry forward --range` fills it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::entries::{
    Actor, BundleEntry, DeviceEntry, DeviceState, Endorsement, EndorsementEntry, MergeCounts, Role,
};
use super::import::{FileOutcome, open_regular};
use super::merge::{File, Opened, Slim, merge_bundle};
use super::storage::{Pack, Storage, Tables, Transaction};
use super::validate::{check, summarize};
use super::{Registry, RegistryError, Result};
use crate::bundle::BundleError;
use crate::bundle::keys::{Level, key_fingerprint};
use crate::bundle::manifest::Counts;
use crate::bundle::read::Verified;
use crate::bundle::upward::{CheckedBundle, Forwarded, RawUpward, Upward, verify_revision};
use crate::bundle::{hex, unhex};
use crate::model::printable::clean;

/// The id a kabupaten/kota registry is enrolled under at its province: from its signing key (hex), so
/// the same registry always has the same id and another key is another registry.
pub fn kabupaten_id(signing_key: &str) -> Uuid {
    let h = Sha256::digest(format!(
        "pendata-kabupaten:{}",
        signing_key.to_ascii_lowercase()
    ));
    let mut b = [0u8; 16];
    b.copy_from_slice(h.get(..16).unwrap_or(&[0u8; 16]));
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// The region a kabupaten/kota registry's entry at the province was enrolled for (kept with the entry;
/// entries older than that name it at the end of their name).
pub fn region(d: &DeviceEntry) -> Option<String> {
    d.wilayah.clone().or_else(|| {
        d.name
            .rsplit_once("kabupaten/kota ")
            .map(|(_, w)| w.trim_end_matches(')').to_string())
    })
}

/// Whether an enrolled entry is a kabupaten/kota registry (not a tablet).
pub fn is_kabupaten(d: &DeviceEntry) -> bool {
    kabupaten_id(&d.public_key) == d.id
}

fn refused(id: impl std::fmt::Display, en: impl std::fmt::Display) -> FileOutcome {
    FileOutcome::Refused {
        reason: format!("{id} / {en}"),
    }
}

impl<S: Storage> Registry<S> {
    /// Imports one upward bundle file (see the module's comment). Refusals are outcomes, not errors.
    pub fn import_upward_path(
        &self,
        path: &Path,
        now: DateTime<FixedOffset>,
    ) -> Result<FileOutcome> {
        if self.keys.public.level != Level::Provinsi {
            return Ok(refused(
                "bundel usulan hanya diimpor di registri provinsi",
                "upward bundles are imported at a province's registry",
            ));
        }
        let bytes = match open_regular(path, self.limits.max_file_bytes).and_then(|mut f| {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut b)
                .map(|_| b)
                .map_err(|e| e.to_string())
        }) {
            Ok(b) => b,
            Err(reason) => return Ok(FileOutcome::Refused { reason }),
        };
        let sha = hex(&Sha256::digest(&bytes));
        // The families stay raw JSON here: the preparing threads parse them (`prepare_and_merge`).
        let opened = Upward::decrypt(&bytes, std::slice::from_ref(&self.keys.identity));
        drop(bytes);
        let json = match opened {
            Ok(json) => json,
            Err(e) => {
                return Ok(FileOutcome::Refused {
                    reason: e.to_string(),
                });
            }
        };
        let raw = match Upward::open_decrypted(&json) {
            Ok(raw) => raw,
            Err(e) => {
                return Ok(FileOutcome::Refused {
                    reason: e.to_string(),
                });
            }
        };
        let up = &raw.head;
        let name = path
            .file_name()
            .map(|n| clean(&n.to_string_lossy()).into_owned())
            .unwrap_or_default();
        let txn = self.db.begin()?;
        let outcome = {
            let mut t = txn.tables()?;
            self.authorize(&t, Role::Operator)?;
            let (outcome, keep) = self.upward_in(&mut t, &raw, (&name, &sha), now)?;
            if !keep {
                // Refused after some families were merged: nothing of it is kept.
                drop(t);
                drop(txn);
                return Ok(outcome);
            }
            if matches!(outcome, FileOutcome::Merged(_)) {
                let actor = self.authorize(&t, Role::Operator)?;
                self.audit_in(
                    &mut t,
                    &actor,
                    now,
                    "import.upward",
                    vec![format!("upward:{}", up.bundle_id)],
                    Some(format!("{} families", raw.families.len())),
                )?;
            }
            outcome
        };
        // A refusal may still have enrolled the kabupaten as pending: kept, as a tablet's first bundle
        // registers it.
        txn.commit()?;
        Ok(outcome)
    }

    /// The checks and the merge, in the caller's transaction.
    fn upward_in(
        &self,
        t: &mut impl Tables,
        raw: &RawUpward<'_>,
        (name, sha): (&str, &str),
        now: DateTime<FixedOffset>,
    ) -> Result<(FileOutcome, bool)> {
        let (up, payload_sha) = (&raw.head, raw.payload_sha256.as_str());
        if up.registry.demo != self.keys.public.demo {
            return Ok((
                refused(
                    "bundel demo dan registri sungguhan (atau sebaliknya) tidak bercampur",
                    "demo and real registries do not mix: a demo kabupaten forwards only to a demo province",
                ),
                true,
            ));
        }
        let id = kabupaten_id(&up.registry.signing_key);
        let Some(wilayah) = self.kabupaten_region(up) else {
            return Ok((
                refused(
                    format!("{} bukan kabupaten/kota provinsi ini", up.registry.name),
                    format!(
                        "{} is not a kabupaten/kota of this province",
                        up.registry.name
                    ),
                ),
                true,
            ));
        };
        if let Some(outcome) = self.enrolled(t, id, up, &wilayah, now)? {
            return Ok((outcome, true));
        }
        if let Some(b) = t.bundle(up.bundle_id)? {
            let again = if b.manifest_sha256.as_deref() == Some(payload_sha) {
                FileOutcome::AlreadyImported { bundle: b }
            } else {
                refused(
                    "bundel usulan dengan id yang sama tetapi isi lain: ditolak",
                    format!(
                        "another upward bundle under the id of bundle {} already imported: refused as a replay or forgery",
                        up.bundle_id
                    ),
                )
            };
            return Ok((again, true));
        }
        if let Some(bad) = self.withdrawals(t, raw, &wilayah)? {
            return Ok((bad, true));
        }
        let custody = match up.checked_custody() {
            Ok(c) => c,
            Err(e) => {
                let reason = e.to_string();
                return Ok((FileOutcome::Refused { reason }, true));
            }
        };
        // From here the bundle writes (the tablets it names, then the families merged as they are
        // prepared): a refusal leaves the transaction uncommitted, so nothing of it is kept.
        if let Some(outcome) = self.tablets_of(t, up, now)? {
            return Ok((outcome, false));
        }
        let done = match self.prepare_and_merge(t, raw, &custody, &wilayah, (name, sha), now)? {
            Ok(done) => done,
            Err(refusal) => return Ok((refusal, false)),
        };
        let (merged, revisions) = (done.counts, done.revisions);
        let entry = BundleEntry {
            bundle_id: up.bundle_id,
            device: id,
            file_name: name.to_string(),
            file_sha256: sha.to_string(),
            sequence: up.sequence,
            kind: up.kind,
            created_at: up.created_at,
            imported_at: now,
            counts: Counts {
                records: raw.families.len() as u64,
                revisions,
                attachments: 0,
            },
            merged,
            manifest_sha256: Some(payload_sha.to_string()),
        };
        t.put_bundle(&entry)?;
        t.add_coverage(id.as_u128(), up.sequence)?;
        keep_decisions(t, up, (&done.decided, &done.lasts), (&wilayah, now))?;
        Ok((FileOutcome::Merged(entry), true))
    }

    /// A refusal naming the first withdrawal of a family this kabupaten/kota never forwarded here (or
    /// of another region's), if any. A withdrawal that comes before the bundle that forwarded its
    /// family is refused too: importing the earlier bundle first fills the gap.
    fn withdrawals(
        &self,
        t: &impl Tables,
        raw: &RawUpward<'_>,
        wilayah: &str,
    ) -> Result<Option<FileOutcome>> {
        let up = &raw.head;
        // The families this bundle forwards, by their ids alone (a family that is not one is refused
        // when it is prepared).
        let mut here = None;
        for w in &up.withdrawn {
            #[derive(serde::Deserialize)]
            struct Id {
                record: Uuid,
            }
            let here = here.get_or_insert_with(|| {
                raw.families
                    .iter()
                    .filter_map(|f| serde_json::from_str::<Id>(f.get()).ok())
                    .map(|f| f.record)
                    .collect::<std::collections::HashSet<Uuid>>()
            });
            let forwarded =
                t.endorsement(w.record.as_u128())?.is_some() || here.contains(&w.record);
            let Some(family) = t.family(w.record.as_u128())?.filter(|_| forwarded) else {
                return Ok(Some(refused(
                    format!(
                        "penarikan keluarga {} yang tidak pernah diteruskan ke provinsi ini: bundel ditolak (impor dulu bundel usulan sebelumnya)",
                        w.record
                    ),
                    format!(
                        "a withdrawal of family {}, which was never forwarded to this province: the bundle is refused (import the earlier upward bundles first)",
                        w.record
                    ),
                )));
            };
            let kabkota = family.facts.and_then(|f| f.kabkota).unwrap_or_default();
            if kabkota != wilayah {
                return Ok(Some(refused(
                    format!(
                        "penarikan keluarga {} di luar wilayah kabupaten/kota {wilayah} (kabupaten/kotanya {kabkota}): bundel ditolak",
                        w.record
                    ),
                    format!(
                        "a withdrawal of family {}, outside the kabupaten/kota {wilayah} that sent it (its kabupaten/kota is {kabkota}): the bundle is refused",
                        w.record
                    ),
                )));
            }
        }
        Ok(None)
    }

    /// The kabupaten/kota code the sender names, if it is one of this province's.
    fn kabupaten_region(&self, up: &Upward) -> Option<String> {
        let w = up.registry.wilayah.clone()?;
        super::scope::check_wilayah(Level::Kabupaten, &w).ok()?;
        match &self.keys.public.wilayah {
            Some(p) if !w.starts_with(&format!("{p}.")) => None,
            _ => Some(w),
        }
    }

    /// The sender's enrolment: approved (None: go on), or the outcome that stops here (enrolled as
    /// pending now, still pending, revoked).
    fn enrolled(
        &self,
        t: &mut impl Tables,
        id: Uuid,
        up: &Upward,
        wilayah: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Option<FileOutcome>> {
        let known = t.device(id)?;
        let approve = |d: &DeviceEntry| {
            refused(
                format!(
                    "registri {} belum disetujui: bandingkan sidik kunci {} dengan kantornya, lalu `pendata registry devices DIR approve {}` dan impor lagi",
                    d.name,
                    key_fingerprint(&d.public_key),
                    d.id
                ),
                format!(
                    "the registry {} is not approved yet: compare its key fingerprint {} with its office, then `pendata registry devices DIR approve {}` and import again",
                    d.name,
                    key_fingerprint(&d.public_key),
                    d.id
                ),
            )
        };
        // The region a kabupaten registry was enrolled for is pinned: a later bundle naming another
        // would let it forward families of a region that is not its own.
        if let Some(d) = &known
            && let Some(pinned) = region(d)
            && pinned != wilayah
        {
            return Ok(Some(refused(
                format!(
                    "registri {} terdaftar untuk kabupaten/kota {pinned}, bukan {wilayah}",
                    d.name
                ),
                format!(
                    "the registry {} was enrolled for kabupaten/kota {pinned}, not {wilayah}",
                    d.name
                ),
            )));
        }
        match known {
            Some(d) if d.state == DeviceState::Approved => Ok(None),
            Some(d) if d.state == DeviceState::Revoked => Ok(Some(refused(
                format!("registri {} dicabut", d.name),
                format!("the registry {} was revoked", d.name),
            ))),
            Some(d) => Ok(Some(approve(&d))),
            None => {
                let d = DeviceEntry {
                    id,
                    name: format!("{} (kabupaten/kota {wilayah})", clean(&up.registry.name)),
                    public_key: up.registry.signing_key.to_ascii_lowercase(),
                    state: DeviceState::Pending,
                    first_seen: now,
                    changed_at: now,
                    age_recipient: None,
                    wilayah: Some(wilayah.to_string()),
                };
                t.put_device(&d)?;
                Ok(Some(approve(&d)))
            }
        }
    }

    /// Every forwarded revision verified back to its device ([`verify_revision`]) and prepared for
    /// the merge as a tablet bundle's reader prepares it (parsed, validated, summarized, packed), on
    /// one thread per core, a share of [`SHARE`] families at a time; this thread merges the shares in
    /// order as they come. The first revision that fails, or the first family outside the kabupaten,
    /// refuses the bundle (`Err`: the caller leaves the transaction uncommitted).
    fn prepare_and_merge(
        &self,
        t: &mut impl Tables,
        raw: &RawUpward<'_>,
        custody: &BTreeMap<Uuid, CheckedBundle>,
        wilayah: &str,
        (name, sha): (&str, &str),
        now: DateTime<FixedOffset>,
    ) -> Result<std::result::Result<Prepared, FileOutcome>> {
        let up = &raw.head;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
        let shares: Vec<&[&serde_json::value::RawValue]> =
            raw.families.chunks(self.share.max(1)).collect();
        let shares = &shares;
        std::thread::scope(|s| {
            let mut receivers = Vec::new();
            for k in 0..threads {
                // One share waiting per thread at most: memory stays a few shares whatever the size.
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                receivers.push(rx);
                s.spawn(move || {
                    for share in shares.iter().skip(k).step_by(threads) {
                        let prepared = self.prepare_families(custody, share);
                        let failed = !matches!(prepared, Ok(Ok(_)));
                        // The merging thread stopped (a refusal), or this share failed: stop.
                        if tx.send(prepared).is_err() || failed {
                            break;
                        }
                    }
                });
            }
            let mut kept = BTreeSet::new();
            let mut done = Prepared {
                counts: MergeCounts::default(),
                revisions: 0,
                lasts: Vec::with_capacity(raw.families.len()),
                decided: Vec::with_capacity(raw.families.len()),
            };
            for i in 0..shares.len() {
                let prepared = receivers
                    .get(i % threads)
                    .and_then(|rx| rx.recv().ok())
                    .ok_or_else(|| {
                        RegistryError::Invalid("a preparing thread stopped early".into())
                    })?;
                let (families, decided) = match prepared? {
                    Ok(f) => f,
                    Err(e) => {
                        let reason = e.to_string();
                        return Ok(Err(FileOutcome::Refused { reason }));
                    }
                };
                if let Some(outside) = outside_kabupaten(&families, wilayah) {
                    return Ok(Err(outside));
                }
                // Each family's last revision: the one its endorsement names.
                done.lasts.extend(
                    families
                        .iter()
                        .map(|f| f.last().map(|r| (r.device, r.slim.seq, r.slim.number))),
                );
                done.revisions += families.iter().map(|f| f.len() as u64).sum::<u64>();
                done.decided.extend(decided);
                let counts =
                    self.merge_forwarded(t, up, (custody, &mut kept), families, (name, sha), now)?;
                done.counts.add(&counts);
            }
            Ok(Ok(done))
        })
    }

    /// [`Registry::prepare_and_merge`] on one share of the families: each parsed, its revisions
    /// prepared; with each family's decision (the family without its revisions), in order.
    fn prepare_families(
        &self,
        custody: &BTreeMap<Uuid, CheckedBundle>,
        families: &[&serde_json::value::RawValue],
    ) -> Result<std::result::Result<Share, BundleError>> {
        let mut z = self.db.packer().map_err(bundle_error)?;
        let mut out = Vec::with_capacity(families.len());
        let mut decided = Vec::with_capacity(families.len());
        for raw in families {
            let mut f = match Forwarded::parse(raw) {
                Ok(f) => f,
                Err(e) => return Ok(Err(e)),
            };
            let mut revisions = Vec::with_capacity(f.revisions.len());
            for r in &f.revisions {
                let revision = match verify_revision(custody, f.record, r) {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
                let mut summary = summarize(self.catalog, &revision);
                summary.hash = Some(super::package::revision_hash(&revision));
                let mut reasons = check(self.catalog, &revision);
                reasons.extend(super::scope::outside(
                    &self.keys.public,
                    summary.facts.as_ref(),
                ));
                revisions.push(Ready {
                    bundle: r.bundle,
                    device: revision.device,
                    slim: Slim {
                        stored: z.pack(r.line.as_bytes()).map_err(bundle_error)?,
                        record: revision.record,
                        number: revision.number,
                        seq: revision.seq,
                        action: revision.action,
                        at: revision.at,
                        reasons,
                        summary,
                    },
                });
            }
            out.push(revisions);
            f.revisions = Vec::new();
            decided.push(f);
        }
        Ok(Ok((out, decided)))
    }

    /// The tablets the kabupaten approved, registered as approved here (through it); a tablet known
    /// with another key, or revoked here, refuses the bundle.
    fn tablets_of(
        &self,
        t: &mut impl Tables,
        up: &Upward,
        now: DateTime<FixedOffset>,
    ) -> Result<Option<FileOutcome>> {
        for d in &up.devices {
            match t.device(d.id)? {
                Some(k) if !k.public_key.eq_ignore_ascii_case(&d.public_key) => {
                    return Ok(Some(refused(
                        format!("tablet {} terdaftar dengan kunci lain", d.id),
                        format!("tablet {} is registered here with another key", d.id),
                    )));
                }
                Some(k) if k.state == DeviceState::Revoked => {
                    return Ok(Some(refused(
                        format!("tablet {} dicabut di provinsi", d.id),
                        format!("tablet {} was revoked at the province", d.id),
                    )));
                }
                Some(_) => {}
                None => t.put_device(&DeviceEntry {
                    id: d.id,
                    name: clean(&d.name).into_owned(),
                    public_key: d.public_key.to_ascii_lowercase(),
                    state: DeviceState::Approved,
                    first_seen: now,
                    changed_at: now,
                    age_recipient: None,
                    wilayah: None,
                })?,
            }
        }
        Ok(None)
    }

    /// Each tablet bundle's forwarded lines merged as that bundle (the same rules as a tablet's own).
    fn merge_forwarded(
        &self,
        t: &mut impl Tables,
        up: &Upward,
        (custody, kept): (&BTreeMap<Uuid, CheckedBundle>, &mut BTreeSet<Uuid>),
        families: Vec<Vec<Ready>>,
        (name, sha): (&str, &str),
        now: DateTime<FixedOffset>,
    ) -> Result<MergeCounts> {
        let mut by_bundle: BTreeMap<Uuid, Vec<Slim>> = BTreeMap::new();
        for r in families.into_iter().flatten() {
            by_bundle.entry(r.bundle).or_default().push(r.slim);
        }
        let mut total = MergeCounts::default();
        for c in &up.custody {
            let Some(slim) = by_bundle.remove(&c.bundle_id) else {
                continue;
            };
            let Some(checked) = custody.get(&c.bundle_id) else {
                continue;
            };
            let signature: [u8; 64] = unhex(&c.signature)
                .and_then(|b| b.try_into().ok())
                .unwrap_or([0; 64]);
            let manifest_sha = hex(&Sha256::digest(c.manifest.as_bytes()));
            let opened = Opened {
                verified: Verified {
                    manifest: checked.manifest.clone(),
                    manifest_bytes: c.manifest.as_bytes().to_vec(),
                    signature,
                    records: 0,
                    // Its custody is kept once, with the first share that has lines of it.
                    line_hashes: kept
                        .insert(c.bundle_id)
                        .then(|| checked.line_hashes.clone()),
                },
                revisions: slim,
                attachments: Vec::new(),
                unreadable: Vec::new(),
            };
            let file = File {
                name,
                sha,
                manifest_sha: &manifest_sha,
            };
            // Another upward bundle (or the tablet itself) may have brought other lines of this tablet
            // bundle before: its entry adds up what each brought, under the first file's name.
            let before = t.bundle(c.bundle_id)?;
            let entry = merge_bundle(t, self.catalog, &opened, &file, now)?;
            total.add(&entry.merged);
            if let Some(mut before) = before {
                before.merged.add(&entry.merged);
                t.put_bundle(&before)?;
            }
        }
        Ok(total)
    }
}

/// Families a preparing thread takes at a time (see [`Registry::prepare_and_merge`]; `Registry::share`
/// by default): the merge of a share records each tablet bundle it has lines of, so a share is a few
/// thousand families.
pub const SHARE: usize = 10_000;

/// A family's last revision: its device, sequence position and number.
type Last = Option<(Uuid, u64, u32)>;

/// A share prepared: each family's revisions ready for the merge, and each family's decision (the
/// family without its revisions), in order.
type Share = (Vec<Vec<Ready>>, Vec<Forwarded>);

/// What [`Registry::prepare_and_merge`] merged.
struct Prepared {
    counts: MergeCounts,
    revisions: u64,
    /// Each family's last revision, in the bundle's order.
    lasts: Vec<Last>,
    /// Each family's endorsement (the family without its revisions), in the same order.
    decided: Vec<Forwarded>,
}

/// A forwarded revision verified and prepared for the merge.
struct Ready {
    /// The tablet bundle it came in, and its device.
    bundle: Uuid,
    device: Uuid,
    slim: Slim,
}

/// A refusal naming the first family outside the kabupaten's region, if any.
fn outside_kabupaten(families: &[Vec<Ready>], wilayah: &str) -> Option<FileOutcome> {
    families.iter().flatten().find_map(|r| {
        let kabkota = r
            .slim
            .summary
            .facts
            .as_ref()
            .and_then(|f| f.kabkota.clone())
            .unwrap_or_default();
        (kabkota != wilayah).then(|| {
            refused(
                format!("keluarga {} di luar wilayah kabupaten/kota {wilayah} (kabupaten/kotanya {kabkota}): bundel ditolak", r.slim.record),
                format!("family {} is outside the kabupaten/kota {wilayah} that forwarded it (its kabupaten/kota is {kabkota}): the bundle is refused", r.slim.record),
            )
        })
    })
}

/// The kabupaten's decisions the bundle carries, kept as the families' latest (`keep_latest`): each
/// family's endorsement of the last revision it carries, each withdrawal of a family forwarded before.
fn keep_decisions(
    t: &mut impl Tables,
    up: &Upward,
    (decided, lasts): (&[Forwarded], &[Last]),
    (wilayah, now): (&str, DateTime<FixedOffset>),
) -> Result<()> {
    for (f, last) in decided.iter().zip(lasts) {
        let Some((device, seq, revision)) = *last else {
            continue;
        };
        let decision = Endorsement::Endorsed {
            minutes: f.minutes.clone(),
            date: f.date,
        };
        let e = (f.record, (device, seq, revision), decision);
        keep_latest(
            t,
            e,
            (f.position, f.decided_at, &f.decided_by),
            (wilayah, now),
        )?;
    }
    for w in &up.withdrawn {
        // The family as it was forwarded (checked in `withdrawals`); the entry names that revision.
        let Some(held) = t.endorsement(w.record.as_u128())? else {
            continue;
        };
        let decision = Endorsement::Held {
            reason: clean(&w.reason).into_owned(),
            minutes: w.minutes.as_deref().map(|m| clean(m).into_owned()),
            date: w.date,
        };
        let e = (w.record, (held.device, held.seq, held.revision), decision);
        keep_latest(
            t,
            e,
            (w.position, w.decided_at, &w.decided_by),
            (wilayah, now),
        )?;
    }
    Ok(())
}

/// Keeps a kabupaten's decision on a family (endorsed, or withdrawn) unless one of a later position in
/// its upward sequence is held already: bundles imported in any order end with the latest.
fn keep_latest(
    t: &mut impl Tables,
    (record, (device, seq, revision), decision): (Uuid, (Uuid, u64, u32), Endorsement),
    (position, at, by): (u64, DateTime<FixedOffset>, &str),
    (wilayah, now): (&str, DateTime<FixedOffset>),
) -> Result<()> {
    if t.endorsement(record.as_u128())?
        .is_some_and(|e| e.position.is_some_and(|p| p > position))
    {
        return Ok(());
    }
    t.put_endorsement(&EndorsementEntry {
        record,
        device,
        seq,
        revision,
        decision,
        at,
        actor: Actor::Account {
            name: format!("{} @ {}", clean(by), wilayah),
        },
        audit: 0,
        position: Some(position),
        since: None,
        received: Some(now),
    })
}

fn bundle_error(e: crate::bundle::BundleError) -> RegistryError {
    RegistryError::Invalid(e.to_string())
}
