//! What an operator decides: devices (enrol, approve, revoke), quarantined revisions (release, reject)
//! and conflicts (keep one revision, distinct families). Each decision is one write transaction; the
//! families it touches are recomputed by the merge rules (`registry::merge`).

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::entries::{
    Conflict, ConflictKind, Decision, DeviceEntry, DeviceState, Member, PendingBundle,
    QuarantineEntry, QuarantineState, Reason, Role,
};
use super::merge::{LINE_TOO_LONG, Merge, NOT_A_REVISION};
use super::storage::{Storage, Tables, Transaction};
use super::{FileOutcome, Registry, RegistryError, Result};
use crate::bundle::short;

impl<S: Storage> Registry<S> {
    /// Registers a device as approved before its first bundle (provisioning: the operator knows the
    /// tablet's key from `pendata device` on it).
    pub fn enrol(
        &self,
        id: Uuid,
        name: &str,
        public_key: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<DeviceEntry> {
        crate::bundle::keys::parse_verifying_key(public_key)
            .map_err(|e| RegistryError::Invalid(format!("the device key {e}")))?;
        if let Some(d) = self.db.device(id)? {
            if d.public_key != public_key {
                return Err(RegistryError::Invalid(format!(
                    "device {id} is already registered with another key"
                )));
            }
            return Ok(d);
        }
        let d = DeviceEntry {
            id,
            name: name.to_string(),
            public_key: public_key.to_string(),
            state: DeviceState::Approved,
            first_seen: now,
            changed_at: now,
            age_recipient: None,
            wilayah: None,
        };
        self.put_device(&d, Role::Operator, "device.enrol", Vec::new(), now)?;
        Ok(d)
    }

    /// Registers a tablet from what `pendata device --json` printed on it (carried on a stick), before
    /// it ever exported: pending until an operator approves it after comparing the fingerprint with the
    /// tablet's Settings. Its age recipient is kept, so a work package can be written for it once it is
    /// approved. A device already known with the same key gets the recipient if it lacked one; with
    /// another key it is refused.
    pub fn enrol_pending(
        &self,
        id: Uuid,
        name: &str,
        public_key: &str,
        age_recipient: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<DeviceEntry> {
        use std::str::FromStr as _;
        let public_key = public_key.trim().to_ascii_lowercase();
        crate::bundle::keys::parse_verifying_key(&public_key)
            .map_err(|e| RegistryError::Invalid(format!("the device key {e}")))?;
        age::x25519::Recipient::from_str(age_recipient.trim())
            .map_err(|e| RegistryError::Invalid(format!("the device's package key: {e}")))?;
        let name: String = crate::model::printable::clean(name.trim())
            .chars()
            .take(100)
            .collect();
        let d = match self.db.device(id)? {
            Some(d) if d.public_key != public_key => {
                return Err(RegistryError::Invalid(format!(
                    "device {id} is already registered with another key"
                )));
            }
            Some(mut d) => {
                if d.age_recipient.is_none() {
                    d.age_recipient = Some(age_recipient.trim().to_string());
                    d.changed_at = now;
                }
                d
            }
            None => DeviceEntry {
                id,
                name,
                public_key,
                state: DeviceState::Pending,
                first_seen: now,
                changed_at: now,
                age_recipient: Some(age_recipient.trim().to_string()),
                wilayah: None,
            },
        };
        self.put_device(&d, Role::Operator, "device.add", Vec::new(), now)?;
        Ok(d)
    }

    /// Stores a device's entry (if it changed) with its audit line (`action`, the device and `more`
    /// objects), in one transaction, after checking the session may make a decision needing `need`.
    fn put_device(
        &self,
        d: &DeviceEntry,
        need: Role,
        action: &str,
        more: Vec<String>,
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        let txn = self.db.begin()?;
        {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, need)?;
            if t.device(d.id)?.as_ref() != Some(d) {
                t.put_device(d)?;
            }
            let mut objects = vec![format!("device:{}", d.id)];
            objects.extend(more);
            self.audit_in(&mut t, &actor, now, action, objects, None)?;
        }
        txn.commit()
    }

    /// Trusts a device and merges the bundles held for it, oldest sequence first, logged as an import
    /// run when any merged.
    pub fn approve(
        &self,
        device: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<(DeviceEntry, Vec<(PendingBundle, FileOutcome)>)> {
        let mut d = self.find_device(device)?;
        if d.state == DeviceState::Revoked {
            return Err(RegistryError::Invalid(format!(
                "device {} ({}) was revoked; a revoked device cannot be approved again — enrol the tablet anew",
                d.id, d.name
            )));
        }
        let mut held: Vec<PendingBundle> = self
            .pending_bundles()?
            .into_iter()
            .filter(|p| p.device == d.id)
            .collect();
        held.sort_by_key(|p| (p.sequence.from, p.sequence.to));
        if d.state != DeviceState::Approved {
            d.state = DeviceState::Approved;
            d.changed_at = now;
        }
        let bundles = held.iter().map(|p| format!("bundle:{}", p.bundle_id));
        self.put_device(&d, Role::Operator, "device.approve", bundles.collect(), now)?;
        let mut out = Vec::new();
        for p in held {
            let path = self.dir.join(&p.file);
            let prepared = self.prepare_file(&path)?;
            // The merge and the end of the hold in one transaction: a kill between them leaves at
            // most the copy, which the next import or approval removes (`tidy_pending`).
            let txn = self.db.begin()?;
            let outcome = {
                let mut t = txn.tables()?;
                let outcome = self.commit_in(&mut t, prepared, now)?;
                if matches!(
                    outcome,
                    FileOutcome::Merged(_) | FileOutcome::AlreadyImported { .. }
                ) {
                    t.remove_pending(p.bundle_id)?;
                }
                outcome
            };
            txn.commit()?;
            out.push((p, outcome));
        }
        self.tidy_pending()?;
        // The held bundles were imported now: logged like an import run, so the reports' data
        // cut-off and "changes since the previous import" count them.
        let mut total = super::MergeCounts::default();
        let mut bundles = 0;
        for (_, outcome) in &out {
            if let FileOutcome::Merged(b) = outcome {
                total.add(&b.merged);
                bundles += 1;
            }
        }
        if bundles > 0 {
            self.log_import(now, bundles, total, super::snapshot(self)?)?;
        }
        Ok((d, out))
    }

    /// Stops trusting a device (a supervisor's decision): its bundles are refused from now on (what was
    /// merged stays), and the bundles held for it are discarded in the same transaction, as they can
    /// never be merged.
    pub fn revoke(&self, device: &str, now: DateTime<FixedOffset>) -> Result<DeviceEntry> {
        let mut d = self.find_device(device)?;
        if d.state != DeviceState::Revoked {
            d.state = DeviceState::Revoked;
            d.changed_at = now;
        }
        let held = self.held_for(&d)?;
        let txn = self.db.begin()?;
        {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Supervisor)?;
            if t.device(d.id)?.as_ref() != Some(&d) {
                t.put_device(&d)?;
            }
            let objects = vec![format!("device:{}", d.id)];
            self.audit_in(&mut t, &actor, now, "device.revoke", objects, None)?;
            self.discard_in(&mut t, &actor, &d, &held, now)?;
        }
        txn.commit()?;
        self.tidy_pending()?;
        Ok(d)
    }

    /// Discards the bundles still held for a device revoked earlier (a supervisor's decision): their
    /// entries and their copies under `pending/`. Returns the bundles discarded.
    pub fn discard_held(
        &self,
        device: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<PendingBundle>> {
        let d = self.find_device(device)?;
        if d.state != DeviceState::Revoked {
            return Err(RegistryError::Invalid(format!(
                "device {} is {}: only a revoked device's held bundles are discarded (approve merges them)",
                short(d.id),
                d.state.as_str()
            )));
        }
        let held = self.held_for(&d)?;
        let txn = self.db.begin()?;
        {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Supervisor)?;
            self.discard_in(&mut t, &actor, &d, &held, now)?;
        }
        txn.commit()?;
        self.tidy_pending()?;
        Ok(held)
    }

    fn held_for(&self, d: &DeviceEntry) -> Result<Vec<PendingBundle>> {
        let mut held = self.pending_bundles()?;
        held.retain(|p| p.device == d.id);
        Ok(held)
    }

    /// Ends the hold of `held` (their copies go with the next `tidy_pending`), with an audit line.
    fn discard_in(
        &self,
        t: &mut impl Tables,
        actor: &super::Actor,
        d: &DeviceEntry,
        held: &[PendingBundle],
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        if held.is_empty() {
            return Ok(());
        }
        let mut objects = vec![format!("device:{}", d.id)];
        for p in held {
            t.remove_pending(p.bundle_id)?;
            objects.push(format!("bundle:{}", p.bundle_id));
        }
        let detail = Some(format!("{} held bundle(s) discarded", held.len()));
        self.audit_in(t, actor, now, "device.discard", objects, detail)?;
        Ok(())
    }

    /// Lets a quarantined revision in (`release`) or confirms its rejection.
    pub fn decide_quarantine(
        &self,
        key: &str,
        release: bool,
        now: DateTime<FixedOffset>,
    ) -> Result<QuarantineEntry> {
        let (device, seq) = self.quarantine_key(key)?;
        let txn = self.db.begin()?;
        let q = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Operator)?;
            let Some(mut q) = t.quarantined(device, seq)? else {
                return Err(RegistryError::Invalid(format!(
                    "nothing quarantined at {}:{seq}",
                    short(device)
                )));
            };
            let kept = !q
                .reasons
                .iter()
                .any(|r| r.code == LINE_TOO_LONG || r.code == NOT_A_REVISION);
            if release && !kept {
                return Err(RegistryError::Invalid(format!(
                    "{}:{seq} cannot be released: its revision could not be read and was not kept; reject it, and the tablet corrects the family / revisi ini tidak disimpan dan tidak dapat dilepas: tolak, lalu perbaiki di tablet",
                    short(device)
                )));
            }
            q.state = if release {
                QuarantineState::Released
            } else {
                QuarantineState::Rejected
            };
            q.decided_at = Some(now);
            t.put_quarantine(&q)?;
            let action = if release {
                "quarantine.release"
            } else {
                "quarantine.reject"
            };
            let objects = vec![
                format!("revision:{}:{seq}", q.device),
                format!("family:{}", q.record),
            ];
            self.audit_in(&mut t, &actor, now, action, objects, None)?;
            let mut merge = Merge::new(&mut t, self.catalog, now, Default::default());
            merge.set_candidate(&q, release)?;
            merge.recompute(q.record.as_u128())?;
            q
        };
        txn.commit()?;
        Ok(q)
    }

    /// Resolves a conflict by keeping one member (`keep` = its number in the listing, from 1): the
    /// others are overruled and reported to their tablets as rejected, with the reason.
    pub fn keep(&self, conflict: u64, keep: usize, now: DateTime<FixedOffset>) -> Result<Conflict> {
        let txn = self.db.begin()?;
        let c = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Operator)?;
            let mut merge = Merge::new(&mut t, self.catalog, now, Default::default());
            let mut c = open_conflict(merge.tables(), conflict)?;
            let kept = *c.members.get(keep.wrapping_sub(1)).ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "conflict {conflict} has members 1 to {}; there is no {keep}",
                    c.members.len()
                ))
            })?;
            let losers: Vec<Member> = c.members.iter().filter(|m| **m != kept).copied().collect();
            merge.close(&mut c, Decision::Kept { member: kept })?;
            let reason = overruled(&c, &kept);
            for m in &losers {
                // A two-device conflict overrules the losing revision; a duplicate family loses every
                // revision it has, so that an older one does not take its place.
                let targets: Vec<(u128, u32, u64)> = if c.kind.is_one_family() {
                    vec![(m.device.as_u128(), m.revision, m.seq)]
                } else {
                    merge.candidates_of(m.record.as_u128())?
                };
                for (device, revision, seq) in targets {
                    let q = QuarantineEntry {
                        device: Uuid::from_u128(device),
                        seq,
                        record: m.record,
                        revision,
                        bundle: Uuid::nil(),
                        reasons: vec![reason.clone()],
                        state: QuarantineState::Rejected,
                        held_at: now,
                        decided_at: Some(now),
                    };
                    merge.tables().put_quarantine(&q)?;
                    merge.set_candidate(&q, false)?;
                }
            }
            let records: BTreeSet<u128> = c.members.iter().map(|m| m.record.as_u128()).collect();
            for r in records {
                merge.recompute(r)?;
            }
            let detail = Some(format!("kept member {keep}"));
            let objects = conflict_objects(&c);
            self.audit_in(
                merge.tables(),
                &actor,
                now,
                "conflict.keep",
                objects,
                detail,
            )?;
            c
        };
        txn.commit()?;
        Ok(c)
    }

    /// Resolves a shared NIK or KK conflict between two families as **one** family: member `keep` (its
    /// number in the listing, from 1; the registry's family) stays, and the other (entered as new, the
    /// same family visited again) becomes its update: its answers are the family's version now, no family
    /// is added. Its later revisions keep updating the family.
    pub fn same(&self, conflict: u64, keep: usize, now: DateTime<FixedOffset>) -> Result<Conflict> {
        let txn = self.db.begin()?;
        let c = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Operator)?;
            let mut c = open_conflict(&t, conflict)?;
            if c.kind.is_one_family() {
                return Err(RegistryError::Invalid(format!(
                    "conflict {conflict} is already one family: keep one revision (`keep {conflict} N`)"
                )));
            }
            let kept = *c.members.get(keep.wrapping_sub(1)).ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "conflict {conflict} has members 1 to {}; there is no {keep}",
                    c.members.len()
                ))
            })?;
            let others: BTreeSet<Uuid> = c
                .members
                .iter()
                .map(|m| m.record)
                .filter(|r| *r != kept.record)
                .collect();
            let [merged] = others.into_iter().collect::<Vec<_>>()[..] else {
                return Err(RegistryError::Invalid(format!(
                    "conflict {conflict} is between more than two families: decide them two at a time (`keep` or `distinct`)"
                )));
            };
            let family = t.family(kept.record.as_u128())?.ok_or_else(|| {
                RegistryError::Invalid(format!("family {} is not in the registry", kept.record))
            })?;
            let base = super::package::revision_hash(
                &t.revision(family.family.device.as_u128(), family.family.seq)?,
            );
            let mut merge = Merge::new(&mut t, self.catalog, now, Default::default());
            merge.close(
                &mut c,
                Decision::Same {
                    kept: kept.record,
                    merged,
                },
            )?;
            merge.absorb(merged.as_u128(), kept.record.as_u128(), &base)?;
            let detail = Some(format!("family {merged} merged into {}", kept.record));
            let objects = conflict_objects(&c);
            self.audit_in(
                merge.tables(),
                &actor,
                now,
                "conflict.same",
                objects,
                detail,
            )?;
            c
        };
        txn.commit()?;
        Ok(c)
    }

    /// Resolves a shared NIK or KK conflict: these are different families; both stay accepted.
    pub fn distinct(&self, conflict: u64, now: DateTime<FixedOffset>) -> Result<Conflict> {
        let txn = self.db.begin()?;
        let c = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Operator)?;
            let mut c = open_conflict(&t, conflict)?;
            if c.kind.is_one_family() {
                return Err(RegistryError::Invalid(format!(
                    "conflict {conflict} is one family revised on two devices: keep one revision (`keep {conflict} N`)"
                )));
            }
            Merge::new(&mut t, self.catalog, now, Default::default())
                .close(&mut c, Decision::Distinct)?;
            let objects = conflict_objects(&c);
            self.audit_in(&mut t, &actor, now, "conflict.distinct", objects, None)?;
            c
        };
        txn.commit()?;
        Ok(c)
    }
}

/// Why the losers of a conflict decided by keeping `kept` are rejected, for their tablets.
fn overruled(c: &Conflict, kept: &Member) -> Reason {
    let conflict = c.id;
    match c.kind {
        ConflictKind::TwoDevices | ConflictKind::Update => Reason::new(
            "overruled",
            "",
            format!(
                "registri menyimpan revisi keluarga ini dari perangkat {} (konflik {conflict})",
                short(kept.device)
            ),
            format!(
                "the registry kept this family's revision from device {} (conflict {conflict})",
                short(kept.device)
            ),
        ),
        ConflictKind::SharedNik | ConflictKind::SharedKk => {
            let (id, en) = if c.kind == ConflictKind::SharedNik {
                ("NIK", "NIK")
            } else {
                ("nomor KK", "KK number")
            };
            Reason::new(
                "duplicate_family",
                "",
                format!(
                    "{id} {} sudah terdaftar pada keluarga {} (konflik {conflict})",
                    c.key, kept.record
                ),
                format!(
                    "{en} {} is already registered to family {} (conflict {conflict})",
                    c.key, kept.record
                ),
            )
        }
    }
}

/// A conflict's audit objects: the conflict and its families (ids; never the NIK or KK it shares).
fn conflict_objects(c: &Conflict) -> Vec<String> {
    let families: BTreeSet<Uuid> = c.members.iter().map(|m| m.record).collect();
    std::iter::once(format!("conflict:{}", c.id))
        .chain(families.iter().map(|f| format!("family:{f}")))
        .collect()
}

fn open_conflict(t: &impl Tables, id: u64) -> Result<Conflict> {
    match t.conflict(id)? {
        Some(c) if c.is_open() => Ok(c),
        Some(_) => Err(RegistryError::Invalid(format!(
            "conflict {id} was already decided"
        ))),
        None => Err(RegistryError::Invalid(format!(
            "no conflict {id} (see `pendata registry conflicts DIR`)"
        ))),
    }
}
