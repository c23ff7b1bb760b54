//! The merge rules, over any [`Tables`]: what a bundle's revisions add, and the per-record
//! recomputation — a family's current revision, its NIK/KK index entries and the conflicts it takes part
//! in follow from the set of revisions received, so the order bundles arrive in does not change the end
//! state. Decisions (`registry::decide`) reuse the recomputation. No storage types here.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::Result;
use super::entries::{
    BundleEntry, Conflict, ConflictKind, Decision, FamilyEntry, Member, MergeCounts,
    QuarantineEntry, QuarantineState, Reason, id_number,
};
use super::family::{Family, FamilyState};
use super::storage::{Added, Final, Index, Tables};
use super::validate::{RevisionSummary, summarize};
use crate::bundle::read;
use crate::form::catalog::Catalog;
use crate::model::record::Action;

/// A bundle that passed every check of the reader, held in memory for its merge.
pub(crate) struct Opened {
    pub verified: read::Verified,
    pub revisions: Vec<Slim>,
    pub attachments: Vec<(String, Vec<u8>)>,
    /// Lines that could not be read as revisions but name their family: quarantined, not stored.
    pub unreadable: Vec<Unreadable>,
}

/// A line of the bundle that is not a revision the registry can keep (too long, or not a revision).
pub(crate) struct Unreadable {
    pub head: read::Head,
    pub why: read::BadLine,
}

/// Reason codes of lines that were not kept: such a quarantine entry cannot be released (there is
/// nothing to release); the family comes back corrected from the tablet.
pub const LINE_TOO_LONG: &str = "line_too_long";
pub const NOT_A_REVISION: &str = "not_a_revision";

impl Unreadable {
    fn reason(&self) -> Reason {
        match &self.why {
            read::BadLine::TooLong { limit } => Reason::new(
                LINE_TOO_LONG,
                "",
                format!(
                    "revisi ini lebih panjang dari batas {limit} byte (misalnya catatan yang sangat panjang): perbaiki keluarga ini di tablet lalu finalisasi lagi"
                ),
                format!(
                    "this revision is longer than the {limit}-byte limit (a very long note, for instance): correct the family on the tablet and finalize it again"
                ),
            ),
            read::BadLine::NotARevision(e) => Reason::new(
                NOT_A_REVISION,
                "",
                format!(
                    "revisi ini tidak dapat dibaca ({e}): perbaiki keluarga ini di tablet lalu finalisasi lagi"
                ),
                format!(
                    "this revision cannot be read ({e}): correct the family on the tablet and finalize it again"
                ),
            ),
        }
    }
}

/// What a merge needs of one revision, worked out beside the merge: its exact line, its keys, the
/// validation verdict and the summary of its answers. The parsed answers are dropped where they were
/// parsed.
pub(crate) struct Slim {
    /// The line as the store keeps it (its `storage::Pack` made it). The line itself is not kept: only a position the registry
    /// already holds in other bytes needs it (unpacked then).
    pub stored: Vec<u8>,
    pub record: Uuid,
    pub number: u32,
    pub seq: u64,
    pub action: Action,
    pub at: DateTime<FixedOffset>,
    /// Validation of the revision (empty: it passed).
    pub reasons: Vec<Reason>,
    pub summary: RevisionSummary,
}

/// The bundle file a merge records.
pub(crate) struct File<'a> {
    pub name: &'a str,
    pub sha: &'a str,
    /// SHA-256 of the signed manifest's bytes.
    pub manifest_sha: &'a str,
}

/// Merges a verified bundle of an approved device: stores its revisions (a position held before stays),
/// quarantines the finals that failed validation, recomputes every family it touched and records the
/// bundle.
pub(crate) fn merge_bundle<T: Tables>(
    t: &mut T,
    catalog: &'static Catalog,
    b: &Opened,
    file: &File<'_>,
    now: DateTime<FixedOffset>,
) -> Result<BundleEntry> {
    let m = &b.verified.manifest;
    let device = m.device.id.as_u128();
    let mut counts = MergeCounts::default();
    let mut touched: BTreeSet<u128> = BTreeSet::new();
    for rev in &b.revisions {
        match t.add_revision(device, rev.seq, &rev.stored)? {
            Added::New => {}
            Added::Same => {
                counts.duplicates += 1;
                continue;
            }
            Added::Different => {
                counts.mismatched += 1;
                continue;
            }
        }
        if rev.action == Action::Corrected {
            counts.accepted += 1;
            continue;
        }
        let reasons = rev.reasons.clone();
        let candidate = reasons.is_empty();
        // A device that finalized one revision number twice (at two positions): the later position
        // stands for it, whatever order its bundles came in.
        let later = t
            .final_revision(rev.record.as_u128(), device, rev.number)?
            .is_some_and(|f| f.seq > rev.seq);
        if !later {
            t.put_final(
                rev.record.as_u128(),
                &Final {
                    device,
                    number: rev.number,
                    seq: rev.seq,
                    at_ms: rev.at.timestamp_millis(),
                    candidate,
                },
            )?;
        }
        if candidate {
            counts.accepted += 1;
        } else {
            counts.quarantined += 1;
            t.put_quarantine(&QuarantineEntry {
                device: m.device.id,
                seq: rev.seq,
                record: rev.record,
                revision: rev.number,
                bundle: m.bundle_id,
                reasons,
                state: QuarantineState::Open,
                held_at: now,
                decided_at: None,
            })?;
        }
        // A record merged into another family (`conflicts same`) is recomputed as that family.
        let record = rev.record.as_u128();
        touched.insert(t.alias_of(record)?.map_or(record, |(into, _)| into));
    }
    for u in &b.unreadable {
        counts.quarantined += 1;
        t.put_quarantine(&QuarantineEntry {
            device: m.device.id,
            seq: u.head.seq,
            record: u.head.record,
            revision: u.head.number,
            bundle: m.bundle_id,
            reasons: vec![u.reason()],
            state: QuarantineState::Open,
            held_at: now,
            decided_at: None,
        })?;
    }
    for (sha, bytes) in &b.attachments {
        t.add_attachment(sha, bytes)?;
    }
    t.add_coverage(device, m.sequence)?;
    let fresh = b
        .revisions
        .iter()
        .map(|r| ((device, r.seq), &r.summary))
        .collect();
    let mut merge = Merge::new(t, catalog, now, fresh);
    for r in &touched {
        merge.recompute(*r)?;
    }
    counts.conflicts += merge.opened;
    let entry = BundleEntry {
        bundle_id: m.bundle_id,
        device: m.device.id,
        file_name: file.name.to_string(),
        file_sha256: file.sha.to_string(),
        sequence: m.sequence,
        kind: m.kind,
        created_at: m.created_at,
        imported_at: now,
        counts: m.counts,
        merged: counts,
        manifest_sha256: Some(file.manifest_sha.to_string()),
    };
    t.put_bundle(&entry)?;
    keep_custody(t, &b.verified)?;
    Ok(entry)
}

/// Keeps a bundle's signed manifest and line hashes (format 2), what forwarding carries upward.
fn keep_custody(t: &mut impl Tables, v: &read::Verified) -> Result<()> {
    if let Some(list) = &v.line_hashes {
        t.put_custody(
            v.manifest.bundle_id,
            &super::entries::Custody {
                manifest: v.manifest_bytes.clone(),
                signature: v.signature,
                line_hashes: list.clone(),
            },
        )?;
    }
    Ok(())
}

/// Whether the family's entry names this revision as its current one.
fn is_current(e: &FamilyEntry, f: &Final) -> bool {
    e.family.device.as_u128() == f.device && e.family.seq == f.seq
}

/// A family's versions sorted by [`Merge::visits`].
struct Chain {
    /// The newest version of the chain of visits, if there are visits.
    current: Option<Final>,
    /// The latest revision of each device that entered the family (not a visit).
    origins: Vec<Final>,
    /// Visits not based on the current version.
    stale: Vec<Final>,
}

/// The per-record recomputation inside a merge or a decision.
pub(crate) struct Merge<'m, T: Tables> {
    t: &'m mut T,
    /// Summaries of the bundle being merged, by (device, position): read from memory, not the store.
    fresh: HashMap<(u128, u64), &'m RevisionSummary>,
    catalog: &'static Catalog,
    now: DateTime<FixedOffset>,
    /// Conflicts opened or reopened.
    pub opened: u64,
}

impl<'m, T: Tables> Merge<'m, T> {
    pub fn new(
        t: &'m mut T,
        catalog: &'static Catalog,
        now: DateTime<FixedOffset>,
        fresh: HashMap<(u128, u64), &'m RevisionSummary>,
    ) -> Merge<'m, T> {
        Merge {
            t,
            fresh,
            catalog,
            now,
            opened: 0,
        }
    }

    /// The rows underneath, for a decision's own reads and writes.
    pub fn tables(&mut self) -> &mut T {
        self.t
    }

    fn summary(&self, device: u128, seq: u64) -> Result<Cow<'m, RevisionSummary>> {
        if let Some(r) = self.fresh.get(&(device, seq)) {
            return Ok(Cow::Borrowed(*r));
        }
        let rev = self.t.revision(device, seq)?;
        let mut summary = summarize(self.catalog, &rev);
        summary.hash = Some(super::package::revision_hash(&rev));
        Ok(Cow::Owned(summary))
    }

    /// Every candidate revision of a record: (device, number, seq).
    pub fn candidates_of(&self, record: u128) -> Result<Vec<(u128, u32, u64)>> {
        Ok(self
            .t
            .finals_of(record)?
            .into_iter()
            .filter(|f| f.candidate)
            .map(|f| (f.device, f.number, f.seq))
            .collect())
    }

    /// Marks a final revision as a candidate for its family's current revision, or not.
    pub fn set_candidate(&mut self, q: &QuarantineEntry, candidate: bool) -> Result<()> {
        let family = q.record.as_u128();
        // The revision may be one of a record merged into this family.
        for record in std::iter::once(family).chain(self.t.aliases_into(family)?) {
            if let Some(f) = self
                .t
                .final_revision(record, q.device.as_u128(), q.revision)?
            {
                self.t.put_final(record, &Final { candidate, ..f })?;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Merges family `from` (entered as new) into `into` as an update: its entry and index entries go,
    /// and its revisions count from now on as visits of `into` based on the revision hashed `base`.
    pub fn absorb(&mut self, from: u128, into: u128, base: &str) -> Result<()> {
        if let Some(old) = self.t.family(from)? {
            self.reindex(from, ConflictKind::SharedNik, &old.niks, &[])?;
            let kk: Vec<String> = old.kk.into_iter().collect();
            self.reindex(from, ConflictKind::SharedKk, &kk, &[])?;
        }
        let key = Uuid::from_u128(from).to_string();
        self.dissolve(ConflictKind::TwoDevices, &key)?;
        self.dissolve(ConflictKind::Update, &key)?;
        self.t.remove_family(from)?;
        self.t.put_alias(from, into, base)?;
        self.recompute(into)
    }

    /// Makes the family's current revision, indexes and conflicts agree with the revisions received.
    pub fn recompute(&mut self, record: u128) -> Result<()> {
        if let Some((into, _)) = self.t.alias_of(record)? {
            return self.recompute(into);
        }
        let (all, merged) = self.finals_with_merged(record)?;
        // The latest candidate of each device.
        let mut latest: BTreeMap<u128, Final> = BTreeMap::new();
        for f in all.iter().filter(|f| f.candidate) {
            let e = latest.entry(f.device).or_insert(*f);
            if f.number > e.number {
                *e = *f;
            }
        }
        let rid = Uuid::from_u128(record);
        let old = self.t.family(record)?;
        let chain = self.visits(&all, &merged, old.as_ref())?;
        let (current, state) = match chain
            .current
            .or_else(|| latest.values().max_by_key(|f| (f.at_ms, f.device)).copied())
        {
            Some(f) => (f, FamilyState::Accepted),
            // Only held revisions: the newest of them stands for the family, quarantined.
            None => match all.iter().max_by_key(|f| (f.at_ms, f.device, f.number)) {
                Some(f) => (*f, FamilyState::Quarantined),
                None => return Ok(()),
            },
        };
        let rev = self.summary(current.device, current.seq)?;
        // A visit that became the family's version closes the family's place in its package.
        if let Some(b) = &rev.base
            && chain.current.is_some()
            && self.t.package_of(record)? == Some(b.package)
        {
            self.t.set_package_of(record, None)?;
        }
        let (niks, kk) = match state {
            FamilyState::Accepted => (rev.niks.clone(), rev.kk.clone()),
            _ => (Vec::new(), None),
        };
        let mut entry = FamilyEntry {
            family: Family {
                record: rid,
                state,
                device: Uuid::from_u128(current.device),
                revision: current.number,
                seq: current.seq,
                petugas: rev.petugas.clone(),
                at: rev.at,
                form_id: rev.form_id.clone(),
                form_version: rev.form_version,
            },
            niks: niks.clone(),
            kk: kk.clone(),
            facts: rev.facts.clone(),
            revision_hash: rev.hash.clone(),
        };
        // Written first (conflicts read members' current revisions), then once more only if the
        // conflicts changed its state.
        self.t.put_family(record, &entry)?;
        let member = |f: &Final| Member {
            record: rid,
            device: Uuid::from_u128(f.device),
            revision: f.number,
            seq: f.seq,
        };
        if chain.origins.len() > 1 {
            let members = chain.origins.iter().map(member).collect();
            self.ensure(ConflictKind::TwoDevices, &rid.to_string(), members)?;
        } else if old.is_some() {
            self.dissolve(ConflictKind::TwoDevices, &rid.to_string())?;
        }
        if chain.stale.is_empty() {
            if old.is_some() {
                self.dissolve(ConflictKind::Update, &rid.to_string())?;
            }
        } else {
            let members = chain
                .stale
                .iter()
                .chain(chain.current.as_ref())
                .map(member)
                .collect();
            self.ensure(ConflictKind::Update, &rid.to_string(), members)?;
        }
        let (old_niks, old_kk) = old.map(|o| (o.niks, o.kk)).unwrap_or_default();
        self.reindex(record, ConflictKind::SharedNik, &old_niks, &niks)?;
        self.reindex(
            record,
            ConflictKind::SharedKk,
            &old_kk.into_iter().collect::<Vec<_>>(),
            &kk.into_iter().collect::<Vec<_>>(),
        )?;
        if state != FamilyState::Quarantined {
            let now = if self.t.in_open_conflict(record)? {
                FamilyState::Conflict
            } else {
                FamilyState::Accepted
            };
            if now != entry.family.state {
                entry.family.state = now;
                self.t.put_family(record, &entry)?;
            }
        }
        Ok(())
    }

    /// A family's final revisions, with those of the records merged into it (`conflicts same`), whose
    /// revisions are visits based on the hash kept with them: (device, position) → base.
    #[expect(
        clippy::type_complexity,
        reason = "a pair of the two lists, named by the caller"
    )]
    fn finals_with_merged(
        &self,
        record: u128,
    ) -> Result<(Vec<Final>, HashMap<(u128, u64), String>)> {
        let mut all = self.t.finals_of(record)?;
        let mut merged = HashMap::new();
        for from in self.t.aliases_into(record)? {
            let Some((_, base)) = self.t.alias_of(from)? else {
                continue;
            };
            for f in self.t.finals_of(from)? {
                merged.insert((f.device, f.seq), base.clone());
                all.push(f);
            }
        }
        Ok((all, merged))
    }

    /// Sorts a family's latest candidates per device into its chain of versions: the revisions made
    /// where the family was entered (origins; more than one is a two-device conflict) and the visits
    /// (work packages), each based on the hash of the revision it started from. A visit whose base is
    /// the current version becomes the current one; one whose base is not (the family changed since,
    /// or two visits started from the same version) is stale: an update conflict.
    fn visits(
        &self,
        all: &[Final],
        merged: &HashMap<(u128, u64), String>,
        entry: Option<&FamilyEntry>,
    ) -> Result<Chain> {
        // The latest candidate of each device that entered the family, and of each visit (device and
        // base: finalizing a visit again after a correction keeps its base).
        let mut origin: BTreeMap<u128, Final> = BTreeMap::new();
        let mut visit: BTreeMap<(u128, String), Final> = BTreeMap::new();
        for f in all.iter().filter(|f| f.candidate) {
            let base = match self.base_of(f)? {
                Some(b) => Some(b),
                None => merged.get(&(f.device, f.seq)).cloned(),
            };
            let slot = match base {
                Some(b) => visit.entry((f.device, b)).or_insert(*f),
                None => origin.entry(f.device).or_insert(*f),
            };
            if f.number > slot.number {
                *slot = *f;
            }
        }
        let origins: Vec<Final> = origin.into_values().collect();
        let mut visits: Vec<(Final, String)> =
            visit.into_iter().map(|((_, base), f)| (f, base)).collect();
        if visits.is_empty() {
            return Ok(Chain {
                current: None,
                origins,
                stale: Vec::new(),
            });
        }
        let mut current = origins.iter().max_by_key(|f| (f.at_ms, f.device)).copied();
        // The visits' own hashes matter only to find the root of a chain without an origin, or a
        // visit based on another visit: worked out when needed.
        let mut hashes = HashMap::new();
        if current.is_none() {
            for (f, _) in &visits {
                hashes.insert((f.device, f.seq), self.hash_of(f, entry)?);
            }
            // No origin left (overruled): the visits not based on another visit start the chain.
            let roots: Vec<Final> = visits
                .iter()
                .filter(|(_, base)| !hashes.values().any(|h| h == base))
                .map(|(f, _)| *f)
                .collect();
            if let [root] = roots.as_slice() {
                current = Some(*root);
                visits.retain(|(f, _)| f.seq != root.seq || f.device != root.device);
            }
        }
        while let Some(c) = current {
            if visits.is_empty() {
                break;
            }
            let hash = match hashes.get(&(c.device, c.seq)) {
                Some(h) => h.clone(),
                None => self.hash_of(&c, entry)?,
            };
            let next: Vec<usize> = (0..visits.len())
                .filter(|i| visits.get(*i).is_some_and(|(_, b)| *b == hash))
                .collect();
            let [only] = next.as_slice() else { break };
            current = Some(visits.remove(*only).0);
        }
        Ok(Chain {
            current,
            origins,
            stale: visits.into_iter().map(|(f, _)| f).collect(),
        })
    }

    /// The hash a work package gives as the base of a visit of this revision: worked out beside the
    /// merge for the bundle's revisions, kept in the family's entry for its current one, else hashed
    /// from the stored revision.
    fn hash_of(&self, f: &Final, entry: Option<&FamilyEntry>) -> Result<String> {
        if let Some(h) = self
            .fresh
            .get(&(f.device, f.seq))
            .and_then(|s| s.hash.clone())
        {
            return Ok(h);
        }
        if let Some(h) = entry
            .filter(|e| is_current(e, f))
            .and_then(|e| e.revision_hash.clone())
        {
            return Ok(h);
        }
        Ok(super::package::revision_hash(
            &self.t.revision(f.device, f.seq)?,
        ))
    }

    /// The hash of the revision a visit is based on (none: the revision is not a visit); for a
    /// revision not in the bundle only its `base` is read.
    fn base_of(&self, f: &Final) -> Result<Option<String>> {
        if let Some(s) = self.fresh.get(&(f.device, f.seq)) {
            return Ok(s.base.as_ref().map(|b| b.revision.clone()));
        }
        Ok(self.t.revision_base(f.device, f.seq)?.map(|b| b.revision))
    }

    /// Moves a record's entries in the NIK or KK index from `old` to `new` and brings the conflicts on
    /// every value involved up to date.
    fn reindex(
        &mut self,
        record: u128,
        kind: ConflictKind,
        old: &[String],
        new: &[String],
    ) -> Result<()> {
        let index = if kind == ConflictKind::SharedKk {
            Index::Kk
        } else {
            Index::Nik
        };
        let touched: BTreeSet<&String> = old.iter().chain(new).collect();
        for v in old.iter().filter(|v| !new.contains(v)) {
            if let Some(n) = id_number(v) {
                self.t.index_remove(index, n, record)?;
            }
        }
        for v in new.iter().filter(|v| !old.contains(v)) {
            if let Some(n) = id_number(v) {
                self.t.index_insert(index, n, record)?;
            }
        }
        for v in touched {
            let Some(n) = id_number(v) else { continue };
            let records = self.t.indexed(index, n)?;
            if records.len() < 2 {
                // Only a value that was shared can have a conflict to dissolve.
                if old.contains(v) {
                    self.dissolve(kind, v)?;
                }
                continue;
            }
            let mut members = Vec::new();
            for r in records {
                if let Some(f) = self.t.family(r)? {
                    members.push(Member {
                        record: f.family.record,
                        device: f.family.device,
                        revision: f.family.revision,
                        seq: f.family.seq,
                    });
                }
            }
            self.ensure(kind, v, members)?;
        }
        Ok(())
    }

    fn conflict_on(&self, kind: ConflictKind, key: &str) -> Result<Option<Conflict>> {
        match self.t.latest_conflict(&Conflict::table_key(kind, key))? {
            Some(id) => self.t.conflict(id),
            None => Ok(None),
        }
    }

    /// Makes sure an open conflict with these members exists on `key` — unless an operator already
    /// decided about exactly these families.
    fn ensure(&mut self, kind: ConflictKind, key: &str, mut members: Vec<Member>) -> Result<()> {
        members.sort();
        let records = |ms: &[Member]| ms.iter().map(|m| m.record).collect::<BTreeSet<_>>();
        if let Some(mut c) = self.conflict_on(kind, key)? {
            if c.is_open() {
                if c.members != members {
                    let before: BTreeSet<Uuid> = records(&c.members);
                    let after: BTreeSet<Uuid> = records(&members);
                    c.members = members;
                    self.t.put_conflict(&c)?;
                    for r in before.difference(&after) {
                        self.t.remove_open_conflict(r.as_u128(), c.id)?;
                    }
                    for r in after.difference(&before) {
                        self.t.add_open_conflict(r.as_u128(), c.id)?;
                    }
                    for r in before.symmetric_difference(&after) {
                        self.refresh_state(r.as_u128())?;
                    }
                }
                return Ok(());
            }
            let same_families = records(&c.members) == records(&members);
            let settled = match &c.decision {
                Some(Decision::Distinct) => same_families,
                Some(Decision::Kept { .. }) => c.members == members,
                _ => false,
            };
            if settled {
                return Ok(());
            }
        }
        let id = self.t.next_conflict_id()?;
        let c = Conflict {
            id,
            kind,
            key: key.to_string(),
            members,
            detected_at: self.now,
            decision: None,
            decided_at: None,
        };
        self.t.put_conflict(&c)?;
        self.t
            .set_latest_conflict(&Conflict::table_key(kind, key), id)?;
        for m in &c.members {
            self.t.add_open_conflict(m.record.as_u128(), id)?;
        }
        self.opened += 1;
        for m in &c.members {
            self.refresh_state(m.record.as_u128())?;
        }
        Ok(())
    }

    /// Closes the open conflict on `key`, if any, because nothing is shared any more.
    fn dissolve(&mut self, kind: ConflictKind, key: &str) -> Result<()> {
        let Some(mut c) = self.conflict_on(kind, key)? else {
            return Ok(());
        };
        if !c.is_open() {
            return Ok(());
        }
        self.close(&mut c, Decision::Dissolved)
    }

    /// Records a decision on an open conflict and lets its families leave the conflict state.
    pub fn close(&mut self, c: &mut Conflict, d: Decision) -> Result<()> {
        c.decision = Some(d);
        c.decided_at = Some(self.now);
        self.t.put_conflict(c)?;
        for m in &c.members {
            self.t.remove_open_conflict(m.record.as_u128(), c.id)?;
        }
        for m in c.members.clone() {
            self.refresh_state(m.record.as_u128())?;
        }
        Ok(())
    }

    /// A family in an open conflict is `Conflict`; otherwise `Accepted` (quarantined ones stay so).
    fn refresh_state(&mut self, record: u128) -> Result<()> {
        let Some(mut f) = self.t.family(record)? else {
            return Ok(());
        };
        if f.family.state == FamilyState::Quarantined {
            return Ok(());
        }
        let state = if self.t.in_open_conflict(record)? {
            FamilyState::Conflict
        } else {
            FamilyState::Accepted
        };
        if f.family.state != state {
            f.family.state = state;
            self.t.put_family(record, &f)?;
        }
        Ok(())
    }
}
