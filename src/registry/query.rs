//! Read-only views of the registry for the operator and the outputs: devices, held bundles, coverage
//! and its gaps, quarantine, conflicts, what needs an operator, families (with or without their current
//! revision), bundles merged and import runs. Nothing here writes.

use uuid::Uuid;

use super::entries::{
    BundleEntry, Conflict, DeviceEntry, DeviceState, FamilyEntry, ImportEntry, PendingBundle,
    QuarantineEntry, QuarantineState, id_number,
};
use super::storage::{Index, Storage};
use super::{Registry, RegistryError, Result};
use crate::bundle::manifest::SeqRange;
use crate::model::record::Revision;

/// A gap in a device's change sequence: positions no imported bundle covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub device: Uuid,
    pub from: u64,
    pub to: u64,
    /// The sender is a kabupaten/kota registry (its upward sequence), not a tablet.
    pub kabupaten: bool,
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

/// The one item whose id `text` names: the whole id (with or without dashes), or its first or last
/// digits, at least 4 — listings show the last 8 ([`crate::bundle::short`]), bundle file names the
/// first 8. Several matches: refused, listing them.
pub fn find_id<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> Uuid,
    text: &str,
    what: &str,
    listing: &str,
) -> Result<T> {
    let want = text.trim().to_ascii_lowercase().replace('-', "");
    if want.len() < 4 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RegistryError::Invalid(format!(
            "`{text}` is not a {what} id: give the id or its 8 hex digits as `{listing}` shows them"
        )));
    }
    let mut found: Vec<T> = items
        .into_iter()
        .filter(|x| {
            let s = id(x).simple().to_string();
            s.starts_with(&want)
                || s.ends_with(&want)
                || crate::bundle::short(id(x)).starts_with(&want)
        })
        .collect();
    match (found.pop(), found.len()) {
        (Some(x), 0) => Ok(x),
        (None, _) => Err(RegistryError::Invalid(format!(
            "no {what} {text} in this registry (see `{listing}`)"
        ))),
        (Some(x), _) => {
            found.push(x);
            let names: Vec<String> = found
                .iter()
                .map(|x| format!("{} ({})", crate::bundle::short(id(x)), id(x)))
                .collect();
            Err(RegistryError::Invalid(format!(
                "{} {what}s match {text}: {} — give more digits",
                found.len(),
                names.join(", ")
            )))
        }
    }
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
                kabupaten: false,
            });
        }
        next = next.max(r.to.saturating_add(1));
    }
    out
}

impl<S: Storage> Registry<S> {
    /// Every device the registry has seen, in id order.
    pub fn devices(&self) -> Result<Vec<DeviceEntry>> {
        self.db.devices()
    }

    /// Finds a device by its id, or the first or last digits of it (at least 4, as file names and
    /// listings show it).
    pub fn find_device(&self, text: &str) -> Result<DeviceEntry> {
        find_id(
            self.devices()?,
            |d| d.id,
            text,
            "device",
            "pendata registry devices DIR list",
        )
    }

    /// Bundles held for devices not yet approved.
    pub fn pending_bundles(&self) -> Result<Vec<PendingBundle>> {
        self.db.pending_bundles()
    }

    /// The covered ranges of a device's sequence, sorted.
    pub fn coverage(&self, device: Uuid) -> Result<Vec<SeqRange>> {
        self.db.coverage(device)
    }

    /// Gaps in every approved device's sequence (a bundle that never arrived).
    pub fn gaps(&self) -> Result<Vec<Gap>> {
        let mut out = Vec::new();
        for d in self.devices()? {
            if d.state == DeviceState::Approved {
                let kabupaten = super::upward_import::is_kabupaten(&d);
                out.extend(
                    holes(d.id, &self.coverage(d.id)?)
                        .into_iter()
                        .map(|g| Gap { kabupaten, ..g }),
                );
            }
        }
        Ok(out)
    }

    /// Quarantined revisions; `all` includes released and rejected ones.
    pub fn quarantine(&self, all: bool) -> Result<Vec<QuarantineEntry>> {
        let mut out = self.db.quarantine()?;
        out.retain(|q| all || q.state == QuarantineState::Open);
        Ok(out)
    }

    /// Conflicts; `all` includes decided ones.
    pub fn conflicts(&self, all: bool) -> Result<Vec<Conflict>> {
        let mut out = self.db.conflicts()?;
        out.retain(|c| all || c.is_open());
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

    /// Visits every family with its current revision.
    pub fn for_each_family(
        &self,
        f: impl FnMut(&FamilyEntry, &Revision) -> Result<()>,
    ) -> Result<u64> {
        self.db.families_with_revisions(f)
    }

    /// How many families the registry holds.
    pub fn family_count(&self) -> Result<u64> {
        self.db.family_count()
    }

    /// Every family's entry (no answers): what reports aggregate.
    pub fn family_entries(&self, mut f: impl FnMut(&FamilyEntry)) -> Result<u64> {
        self.db.families(|e| {
            f(e);
            Ok(())
        })
    }

    /// One family's entry.
    pub fn family(&self, record: Uuid) -> Result<Option<FamilyEntry>> {
        self.db.family(record)
    }

    /// Records whose current revision lists this NIK.
    pub fn families_with_nik(&self, nik: &str) -> Result<Vec<Uuid>> {
        match id_number(nik.trim()) {
            Some(n) => self.db.indexed(Index::Nik, n),
            None => Ok(Vec::new()),
        }
    }

    /// Every bundle merged, in id (time) order.
    pub fn bundles(&self) -> Result<Vec<BundleEntry>> {
        self.db.bundles()
    }

    /// The import runs, oldest first.
    pub fn imports(&self) -> Result<Vec<ImportEntry>> {
        self.db.imports()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_below_the_highest_position() {
        let d = Uuid::nil();
        let r = [SeqRange { from: 3, to: 10 }, SeqRange { from: 21, to: 30 }];
        let got: Vec<(u64, u64)> = holes(d, &r).iter().map(|g| (g.from, g.to)).collect();
        assert_eq!(got, vec![(1, 2), (11, 20)]);
        assert!(holes(d, &[SeqRange { from: 1, to: 5 }]).is_empty());
    }
}
