//! What an operator sees and decides: devices (approve, revoke), conflicts (keep one, distinct families),
//! quarantine (release, reject), gaps in a device's sequence, and the receipt for a device.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use redb::{ReadableDatabase, ReadableTable};
use uuid::Uuid;

use super::db::*;
use super::import::Merge;
use super::{FileOutcome, Registry, RegistryError, Result};
use crate::bundle::manifest::SeqRange;
use crate::bundle::receipt::{Receipt, Rejection};
use crate::bundle::short_id;
use crate::model::record::Revision;

fn db_err(e: impl Into<DbError>) -> RegistryError {
    RegistryError::Db(e.into())
}

/// A gap in a device's change sequence: positions no imported bundle covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub device: Uuid,
    pub from: u64,
    pub to: u64,
}

/// What needs an operator, in numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attention {
    pub pending_devices: u64,
    pub pending_bundles: u64,
    pub open_quarantine: u64,
    pub open_conflicts: u64,
    pub gaps: Vec<Gap>,
}

impl Attention {
    pub fn is_empty(&self) -> bool {
        self.pending_devices == 0
            && self.pending_bundles == 0
            && self.open_quarantine == 0
            && self.open_conflicts == 0
            && self.gaps.is_empty()
    }
}

/// A receipt written for a device.
#[derive(Debug, Clone)]
pub struct WrittenReceipt {
    pub path: PathBuf,
    pub receipt: Receipt,
    /// Positions accepted, and revisions held back for a conflict (neither accepted nor rejected yet).
    pub accepted_positions: u64,
    pub held_for_conflicts: u64,
}

/// Removes `held` positions from sorted, disjoint `ranges`.
pub fn subtract(ranges: &[SeqRange], held: &BTreeSet<u64>) -> Vec<SeqRange> {
    let mut out = Vec::new();
    for r in ranges {
        let mut from = r.from;
        for &h in held.range(r.from..=r.to) {
            if h > from {
                out.push(SeqRange { from, to: h - 1 });
            }
            from = h + 1;
        }
        if from <= r.to {
            out.push(SeqRange { from, to: r.to });
        }
    }
    out
}

/// The holes below the highest covered position.
pub fn holes(device: Uuid, ranges: &[SeqRange]) -> Vec<Gap> {
    let mut out = Vec::new();
    let mut next = 1u64;
    for r in ranges {
        if r.from > next {
            out.push(Gap {
                device,
                from: next,
                to: r.from - 1,
            });
        }
        next = next.max(r.to.saturating_add(1));
    }
    out
}

impl Registry {
    /// Every device the registry has seen, in id order.
    pub fn devices(&self) -> Result<Vec<DeviceEntry>> {
        Ok(self.db.all_json(DEVICES)?)
    }

    /// Finds a device by its full id or a prefix of at least 4 hex digits (as file names show it).
    pub fn find_device(&self, text: &str) -> Result<DeviceEntry> {
        let want = text.trim().to_ascii_lowercase().replace('-', "");
        if want.len() < 4 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RegistryError::Invalid(format!(
                "`{text}` is not a device id: give the id or at least its first 8 hex digits (see `pendata registry devices DIR list`)"
            )));
        }
        let found: Vec<DeviceEntry> = self
            .devices()?
            .into_iter()
            .filter(|d| d.id.simple().to_string().starts_with(&want))
            .collect();
        match found.len() {
            1 => Ok(found.into_iter().next().unwrap_or_else(|| unreachable!())),
            0 => Err(RegistryError::Invalid(format!(
                "no device {text} in this registry (see `pendata registry devices DIR list`)"
            ))),
            n => Err(RegistryError::Invalid(format!(
                "{n} devices start with {text}: give more digits"
            ))),
        }
    }

    fn put_device(&self, d: &DeviceEntry) -> Result<()> {
        let txn = self.db.db.begin_write().map_err(db_err)?;
        {
            let mut t = txn.open_table(DEVICES).map_err(db_err)?;
            t.insert(d.id.as_u128(), encode(d)?.as_slice())
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(())
    }

    /// Bundles held for devices not yet approved.
    pub fn pending_bundles(&self) -> Result<Vec<PendingBundle>> {
        Ok(self.db.all_json(PENDING)?)
    }

    /// Trusts a device and merges the bundles held for it, oldest sequence first.
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
        if d.state != DeviceState::Approved {
            d.state = DeviceState::Approved;
            d.changed_at = now;
            self.put_device(&d)?;
        }
        let mut held: Vec<PendingBundle> = self
            .pending_bundles()?
            .into_iter()
            .filter(|p| p.device == d.id)
            .collect();
        held.sort_by_key(|p| (p.sequence.from, p.sequence.to));
        let mut out = Vec::new();
        for p in held {
            let path = self.dir.join(&p.file);
            let bytes = super::import::read_file(&path)?;
            let outcome = self.import_bytes(&bytes, &p.file, now)?;
            if matches!(
                outcome,
                FileOutcome::Merged(_) | FileOutcome::AlreadyImported { .. }
            ) {
                let txn = self.db.db.begin_write().map_err(db_err)?;
                {
                    let mut t = txn.open_table(PENDING).map_err(db_err)?;
                    t.remove(p.bundle_id.as_u128()).map_err(db_err)?;
                }
                txn.commit().map_err(db_err)?;
                let _ = fs::remove_file(&path);
            }
            out.push((p, outcome));
        }
        Ok((d, out))
    }

    /// Stops trusting a device: its bundles are refused from now on (what was merged stays).
    pub fn revoke(&self, device: &str, now: DateTime<FixedOffset>) -> Result<DeviceEntry> {
        let mut d = self.find_device(device)?;
        if d.state != DeviceState::Revoked {
            d.state = DeviceState::Revoked;
            d.changed_at = now;
            self.put_device(&d)?;
        }
        Ok(d)
    }

    /// The covered ranges of a device's sequence, sorted.
    pub fn coverage(&self, device: Uuid) -> Result<Vec<SeqRange>> {
        let txn = self.db.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(COVERAGE).map_err(db_err)?;
        let mut out = Vec::new();
        let d = device.as_u128();
        for e in t.range((d, 0)..=(d, u64::MAX)).map_err(db_err)? {
            let (k, v) = e.map_err(db_err)?;
            out.push(SeqRange {
                from: k.value().1,
                to: v.value(),
            });
        }
        Ok(out)
    }

    /// Gaps in every approved device's sequence (a bundle that never arrived).
    pub fn gaps(&self) -> Result<Vec<Gap>> {
        let mut out = Vec::new();
        for d in self.devices()? {
            if d.state == DeviceState::Approved {
                out.extend(holes(d.id, &self.coverage(d.id)?));
            }
        }
        Ok(out)
    }

    /// Quarantined revisions; `all` includes released and rejected ones.
    pub fn quarantine(&self, all: bool) -> Result<Vec<QuarantineEntry>> {
        let txn = self.db.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(QUARANTINE).map_err(db_err)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(db_err)? {
            let (_, v) = e.map_err(db_err)?;
            let q: QuarantineEntry = decode(v.value(), "quarantine entry")?;
            if all || q.state == QuarantineState::Open {
                out.push(q);
            }
        }
        Ok(out)
    }

    /// Conflicts; `all` includes decided ones.
    pub fn conflicts(&self, all: bool) -> Result<Vec<Conflict>> {
        let txn = self.db.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(CONFLICTS).map_err(db_err)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(db_err)? {
            let (_, v) = e.map_err(db_err)?;
            let c: Conflict = decode(v.value(), "conflict")?;
            if all || c.is_open() {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// What needs an operator now.
    pub fn attention(&self) -> Result<Attention> {
        Ok(Attention {
            pending_devices: self
                .devices()?
                .iter()
                .filter(|d| d.state == DeviceState::Pending)
                .count() as u64,
            pending_bundles: self.pending_bundles()?.len() as u64,
            open_quarantine: self.quarantine(false)?.len() as u64,
            open_conflicts: self.conflicts(false)?.len() as u64,
            gaps: self.gaps()?,
        })
    }

    /// Parses `DEVICE:SEQ` (a device id or prefix, a sequence position) as the quarantine list shows it.
    pub fn quarantine_key(&self, text: &str) -> Result<(Uuid, u64)> {
        let (d, s) = text.rsplit_once(':').ok_or_else(|| {
            RegistryError::Invalid(format!(
                "`{text}` is not DEVICE:SEQ (as `pendata registry quarantine DIR list` shows it)"
            ))
        })?;
        let seq: u64 = s
            .parse()
            .map_err(|_| RegistryError::Invalid(format!("`{s}` is not a sequence position")))?;
        Ok((self.find_device(d)?.id, seq))
    }

    /// Lets a quarantined revision in (`release`) or confirms its rejection.
    pub fn decide_quarantine(
        &self,
        key: &str,
        release: bool,
        now: DateTime<FixedOffset>,
    ) -> Result<QuarantineEntry> {
        let (device, seq) = self.quarantine_key(key)?;
        let txn = self.db.db.begin_write().map_err(db_err)?;
        let q = {
            let mut t = txn.open_table(QUARANTINE).map_err(db_err)?;
            let mut q: QuarantineEntry = match t.get((device.as_u128(), seq)).map_err(db_err)? {
                Some(v) => decode(v.value(), "quarantine entry")?,
                None => {
                    return Err(RegistryError::Invalid(format!(
                        "nothing quarantined at {}:{seq}",
                        short_id(device)
                    )));
                }
            };
            q.state = if release {
                QuarantineState::Released
            } else {
                QuarantineState::Rejected
            };
            q.decided_at = Some(now);
            t.insert((device.as_u128(), seq), encode(&q)?.as_slice())
                .map_err(db_err)?;
            q
        };
        let mut merge = Merge::new(&txn, self.catalog, now, Default::default())?;
        merge.set_candidate(&q, release)?;
        merge.recompute(q.record.as_u128())?;
        drop(merge);
        txn.commit().map_err(db_err)?;
        Ok(q)
    }

    /// Resolves a conflict by keeping one member (`keep` = its number in the listing, from 1): the
    /// others are overruled and reported to their tablets as rejected, with the reason.
    pub fn keep(&self, conflict: u64, keep: usize, now: DateTime<FixedOffset>) -> Result<Conflict> {
        let txn = self.db.db.begin_write().map_err(db_err)?;
        let mut merge = Merge::new(&txn, self.catalog, now, Default::default())?;
        let mut c = open_conflict(&merge, conflict)?;
        let kept = *c.members.get(keep.wrapping_sub(1)).ok_or_else(|| {
            RegistryError::Invalid(format!(
                "conflict {conflict} has members 1 to {}; there is no {keep}",
                c.members.len()
            ))
        })?;
        let losers: Vec<Member> = c.members.iter().filter(|m| **m != kept).copied().collect();
        merge.close(&mut c, Decision::Kept { member: kept })?;
        let reason = |m: &Member| match c.kind {
            ConflictKind::TwoDevices => Reason::new(
                "overruled",
                "",
                format!(
                    "registri menyimpan revisi keluarga ini dari perangkat {} (konflik {conflict})",
                    short_id(kept.device)
                ),
                format!(
                    "the registry kept this family's revision from device {} (conflict {conflict})",
                    short_id(kept.device)
                ),
            ),
            ConflictKind::SharedNik | ConflictKind::SharedKk => {
                let what = if c.kind == ConflictKind::SharedNik {
                    "NIK"
                } else {
                    "nomor KK"
                };
                let _ = m;
                Reason::new(
                    "duplicate_family",
                    "",
                    format!(
                        "{what} {} sudah terdaftar pada keluarga {} (konflik {conflict})",
                        c.key, kept.record
                    ),
                    format!(
                        "{} {} is already registered to family {} (conflict {conflict})",
                        if c.kind == ConflictKind::SharedNik {
                            "NIK"
                        } else {
                            "KK number"
                        },
                        c.key,
                        kept.record
                    ),
                )
            }
        };
        for m in &losers {
            // A two-device conflict overrules the losing revision; a duplicate family loses every
            // revision it has, so that an older one does not take its place.
            let targets: Vec<(u128, u32, u64)> = if c.kind == ConflictKind::TwoDevices {
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
                    reasons: vec![reason(m)],
                    state: QuarantineState::Rejected,
                    held_at: now,
                    decided_at: Some(now),
                };
                merge.put_quarantine(&q)?;
                merge.set_candidate(&q, false)?;
            }
        }
        let records: BTreeSet<u128> = c.members.iter().map(|m| m.record.as_u128()).collect();
        for r in records {
            merge.recompute(r)?;
        }
        drop(merge);
        txn.commit().map_err(db_err)?;
        Ok(c)
    }

    /// Resolves a shared NIK or KK conflict: these are different families; both stay accepted.
    pub fn distinct(&self, conflict: u64, now: DateTime<FixedOffset>) -> Result<Conflict> {
        let txn = self.db.db.begin_write().map_err(db_err)?;
        let mut merge = Merge::new(&txn, self.catalog, now, Default::default())?;
        let mut c = open_conflict(&merge, conflict)?;
        if c.kind == ConflictKind::TwoDevices {
            return Err(RegistryError::Invalid(format!(
                "conflict {conflict} is one family revised on two devices: keep one revision (`keep {conflict} N`)"
            )));
        }
        merge.close(&mut c, Decision::Distinct)?;
        drop(merge);
        txn.commit().map_err(db_err)?;
        Ok(c)
    }

    /// The receipt for a device: every covered position accepted except the revisions held in
    /// quarantine (rejected, with reasons) and those waiting in a conflict (neither, until decided).
    pub fn receipt(&self, device: &str, now: DateTime<FixedOffset>) -> Result<(Receipt, u64, u64)> {
        let d = self.find_device(device)?;
        if d.state != DeviceState::Approved {
            return Err(RegistryError::Invalid(format!(
                "device {} ({}) is {}: approve it first (`pendata registry devices DIR approve {}`)",
                short_id(d.id),
                d.name,
                d.state.as_str(),
                short_id(d.id)
            )));
        }
        let coverage = self.coverage(d.id)?;
        let mut held = BTreeSet::new();
        let mut rejected = Vec::new();
        for q in self.quarantine(true)? {
            if q.device != d.id || q.state == QuarantineState::Released {
                continue;
            }
            held.insert(q.seq);
            rejected.push(Rejection {
                record: q.record,
                revision: q.revision,
                seq: q.seq,
                reasons: q.reasons.iter().map(Reason::localized).collect(),
            });
        }
        let mut conflict_held = 0u64;
        for c in self.conflicts(false)? {
            for m in c.members.iter().filter(|m| m.device == d.id) {
                if held.insert(m.seq) {
                    conflict_held += 1;
                }
            }
        }
        let accepted = subtract(&coverage, &held);
        let positions = accepted.iter().map(|r| r.to - r.from + 1).sum();
        Ok((
            Receipt::new(&self.keys.public.name, d.id, now, accepted, rejected),
            positions,
            conflict_held,
        ))
    }

    /// Writes the signed receipt for a device into `to` (atomically).
    pub fn write_receipt(
        &self,
        device: &str,
        to: &Path,
        now: DateTime<FixedOffset>,
    ) -> Result<WrittenReceipt> {
        let (receipt, accepted_positions, held_for_conflicts) = self.receipt(device, now)?;
        if !to.is_dir() {
            return Err(RegistryError::Invalid(format!(
                "{} is not a folder (give the stick's folder with --to)",
                to.display()
            )));
        }
        // Two receipts for one stick in the same second get two names: neither replaces the other.
        let path = crate::durable::write_bytes(
            &to.join(receipt.file_name()),
            &receipt.sign(&self.keys.signing),
            &crate::durable::Options::new_name(),
        )?
        .path;
        Ok(WrittenReceipt {
            path,
            receipt,
            accepted_positions,
            held_for_conflicts,
        })
    }

    /// Visits every family (optionally those of one kabupaten/kota, by the first 4 digits of its desa
    /// code in the facts or the answers) with its current revision.
    pub fn for_each_family(
        &self,
        mut f: impl FnMut(&FamilyEntry, &Revision) -> Result<()>,
    ) -> Result<u64> {
        let txn = self.db.db.begin_read().map_err(db_err)?;
        let fams = txn.open_table(FAMILIES).map_err(db_err)?;
        let revs = txn.open_table(REVISIONS).map_err(db_err)?;
        let mut n = 0;
        for e in fams.iter().map_err(db_err)? {
            let (_, v) = e.map_err(db_err)?;
            let fam: FamilyEntry = decode(v.value(), "family")?;
            let raw = revs
                .get((fam.family.device.as_u128(), fam.family.seq))
                .map_err(db_err)?
                .ok_or_else(|| db_err(DbError::Storage("a family's revision is missing".into())))?;
            let rev: Revision = decode(&super::import::unpack(raw.value())?, "revision")?;
            f(&fam, &rev)?;
            n += 1;
        }
        Ok(n)
    }

    /// Every family's entry (no answers): what reports aggregate.
    pub fn family_entries(&self, mut f: impl FnMut(&FamilyEntry)) -> Result<u64> {
        let txn = self.db.db.begin_read().map_err(db_err)?;
        let fams = txn.open_table(FAMILIES).map_err(db_err)?;
        let mut n = 0;
        for e in fams.iter().map_err(db_err)? {
            let (_, v) = e.map_err(db_err)?;
            f(&decode(v.value(), "family")?);
            n += 1;
        }
        Ok(n)
    }

    /// One family's entry.
    pub fn family(&self, record: Uuid) -> Result<Option<FamilyEntry>> {
        Ok(self.db.get_json(FAMILIES, record.as_u128())?)
    }

    /// Records whose current revision lists this NIK.
    pub fn families_with_nik(&self, nik: &str) -> Result<Vec<Uuid>> {
        let txn = self.db.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(NIK_INDEX).map_err(db_err)?;
        let Some(n) = super::db::id_number(nik.trim()) else {
            return Ok(Vec::new());
        };
        Ok(super::db::indexed(&t, n)?
            .into_iter()
            .map(Uuid::from_u128)
            .collect())
    }

    /// Every bundle merged, in id (time) order.
    pub fn bundles(&self) -> Result<Vec<BundleEntry>> {
        Ok(self.db.all_json(BUNDLES)?)
    }

    /// The import runs, oldest first.
    pub fn imports(&self) -> Result<Vec<ImportEntry>> {
        let txn = self.db.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(IMPORTS).map_err(db_err)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(db_err)? {
            let (_, v) = e.map_err(db_err)?;
            out.push(decode(v.value(), "import")?);
        }
        Ok(out)
    }

    /// Logs an import run (with the report snapshot after it).
    pub fn log_import(
        &self,
        at: DateTime<FixedOffset>,
        bundles: u64,
        merged: MergeCounts,
        snapshot: Option<serde_json::Value>,
    ) -> Result<ImportEntry> {
        let txn = self.db.db.begin_write().map_err(db_err)?;
        let entry = {
            let mut t = txn.open_table(IMPORTS).map_err(db_err)?;
            let number = t
                .last()
                .map_err(db_err)?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(1);
            let entry = ImportEntry {
                number,
                at,
                bundles,
                merged,
                snapshot,
            };
            t.insert(number, encode(&entry)?.as_slice())
                .map_err(db_err)?;
            entry
        };
        txn.commit().map_err(db_err)?;
        Ok(entry)
    }
}

fn open_conflict(merge: &Merge<'_>, id: u64) -> Result<Conflict> {
    match merge.conflict(id)? {
        Some(c) if c.is_open() => Ok(c),
        Some(_) => Err(RegistryError::Invalid(format!(
            "conflict {id} was already decided"
        ))),
        None => Err(RegistryError::Invalid(format!(
            "no conflict {id} (see `pendata registry conflicts DIR`)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracting_held_positions_splits_ranges() {
        let r = [SeqRange { from: 1, to: 10 }, SeqRange { from: 15, to: 20 }];
        let held: BTreeSet<u64> = [1, 5, 6, 10, 16, 30].into_iter().collect();
        let got: Vec<(u64, u64)> = subtract(&r, &held).iter().map(|r| (r.from, r.to)).collect();
        assert_eq!(got, vec![(2, 4), (7, 9), (15, 15), (17, 20)]);
        assert_eq!(subtract(&r, &BTreeSet::new()), r.to_vec());
    }

    #[test]
    fn holes_below_the_highest_position() {
        let d = Uuid::nil();
        let r = [SeqRange { from: 3, to: 10 }, SeqRange { from: 21, to: 30 }];
        let got: Vec<(u64, u64)> = holes(d, &r).iter().map(|g| (g.from, g.to)).collect();
        assert_eq!(got, vec![(1, 2), (11, 20)]);
        assert!(holes(d, &[SeqRange { from: 1, to: 5 }]).is_empty());
    }
}
