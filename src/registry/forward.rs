//! Forwarding at a kabupaten/kota registry: the province it sends to (`registry upstream set`, kept as
//! `DIR/upstream.pub`) and the upward bundle (`registry forward`) of the families endorsed
//! (`registry::endorse`) — each with the revision endorsed exactly as its tablet signed it, and what the
//! registry kept of that tablet's bundle (`Custody`: the signed manifest and line hashes), the
//! kabupaten's decisions and the device keys it approved. The format is `bundle::upward`.
//!
//! Like a tablet's export: each endorsement has a position in the kabupaten's upward sequence;
//! `--since-last` forwards the positions after the last forwarded (and moves that watermark), `--all`
//! every position, `--range A..B` those again (a lost stick; the watermark stays). The file is written
//! durably and read back (`durable`) before the watermark moves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::endorse::{UPWARD_LAST, UPWARD_WATERMARK};
use super::entries::{BundleEntry, Custody, DeviceState, Endorsement, EndorsementEntry, Role};
use super::storage::{Storage, Tables, Transaction};
use super::{Registry, RegistryError, Result};
use crate::bundle::keys::{Level, RegistryPub};
use crate::bundle::manifest::{ExportKind, SeqRange};
use crate::bundle::upward::{
    ApprovedDevice, Forwarded, ForwardedRevision, Sender, SignedBundle, UPWARD_FORMAT,
    UPWARD_FORMAT_VERSION, Upward, Withdrawn,
};
use crate::bundle::{hex, short};

/// The province's public key file, kept in the kabupaten's folder.
pub const UPSTREAM_FILE: &str = "upstream.pub";

/// Which positions of the upward sequence to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    SinceLast,
    All,
    Range(u64, u64),
}

/// What `registry forward` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForwardDone {
    pub path: PathBuf,
    pub bundle_id: Uuid,
    pub sequence: SeqRange,
    /// Families forwarded (endorsed at a covered position, still endorsed on the same revision).
    pub families: u64,
    /// Revisions of those families carried (each family's not forwarded before, the endorsed last).
    pub revisions: u64,
    /// Families forwarded before and held back since: the province is told they are withdrawn.
    pub withdrawn: u64,
    /// Endorsed families not forwarded: their revision came in a bundle of format 1 (no line hashes),
    /// so the province could not verify it: re-export them from the tablet (`export --all`).
    pub without_custody: Vec<Uuid>,
}

fn invalid(id: impl std::fmt::Display, en: impl std::fmt::Display) -> RegistryError {
    RegistryError::Invalid(format!("{en} / {id}"))
}

impl<S: Storage> Registry<S> {
    fn only_kabupaten(&self) -> Result<()> {
        if self.keys.public.level != Level::Kabupaten {
            return Err(invalid(
                "hanya registri kabupaten/kota yang meneruskan usulan ke provinsi",
                "only a kabupaten/kota registry forwards proposals to a province",
            ));
        }
        Ok(())
    }

    /// Sets the province this kabupaten forwards to: its `registry.pub`, which must be a province's
    /// (of the kabupaten's province, and demo like this registry or not). Recorded in the audit trail.
    pub fn set_upstream(&self, bytes: &[u8], now: DateTime<FixedOffset>) -> Result<RegistryPub> {
        self.only_kabupaten()?;
        let p = RegistryPub::parse(bytes).map_err(|e| {
            invalid(
                format!("bukan registry.pub: {e}"),
                format!("not a registry.pub: {e}"),
            )
        })?;
        if p.level != Level::Provinsi {
            return Err(invalid(
                "berkas ini milik registri kabupaten/kota, bukan provinsi",
                "this file is a kabupaten/kota registry's, not a province's",
            ));
        }
        if p.demo != self.keys.public.demo {
            return Err(invalid(
                "registri demo hanya meneruskan ke provinsi demo (dan sebaliknya)",
                "a demo registry forwards only to a demo province (and a real one only to a real one)",
            ));
        }
        if let (Some(prov), Some(own)) = (&p.wilayah, &self.keys.public.wilayah)
            && !own.starts_with(&format!("{prov}."))
        {
            return Err(invalid(
                format!("wilayah {own} tidak termasuk provinsi {prov}"),
                format!("region {own} is not in province {prov}"),
            ));
        }
        p.recipients()
            .map_err(|e| invalid(format!("kunci age: {e}"), format!("its age key: {e}")))?;
        self.check_allowed(Role::Operator)?;
        crate::durable::write_bytes(
            &self.dir.join(UPSTREAM_FILE),
            p.to_json().as_bytes(),
            &crate::durable::Options::replace(),
        )?;
        self.record(
            Role::Operator,
            now,
            "upstream.set",
            Vec::new(),
            Some(format!("{} ({})", p.name, p.fingerprint())),
        )?;
        Ok(p)
    }

    /// The province set with [`Registry::set_upstream`], if any.
    pub fn upstream(&self) -> Result<Option<RegistryPub>> {
        let path = self.dir.join(UPSTREAM_FILE);
        match std::fs::read(&path) {
            Ok(b) => RegistryPub::parse(&b)
                .map(Some)
                .map_err(|e| RegistryError::Key {
                    path,
                    detail: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(super::io(&path)(e)),
        }
    }

    /// Writes the upward bundle of `which` positions into `folder`; moves the watermark unless a range
    /// was asked for. Refused when nothing is to be forwarded.
    pub fn forward(
        &self,
        which: Forward,
        folder: &Path,
        now: DateTime<FixedOffset>,
    ) -> Result<ForwardDone> {
        self.only_kabupaten()?;
        let province = self.upstream()?.ok_or_else(|| {
            invalid(
                "provinsi tujuan belum ditetapkan: pendata registry upstream set DIR PROVINSI.pub",
                "no province set to forward to: pendata registry upstream set DIR PROVINCE.pub",
            )
        })?;
        self.check_allowed(Role::Operator)?;
        let last = self.db.counter(UPWARD_LAST)?;
        let watermark = self.db.counter(UPWARD_WATERMARK)?;
        let (from, to, kind) = match which {
            Forward::SinceLast => (watermark + 1, last, ExportKind::Incremental),
            Forward::All => (1, last, ExportKind::All),
            Forward::Range(a, b) => (a.max(1), b.min(last), ExportKind::Range),
        };
        if from > to {
            return Err(invalid(
                format!(
                    "tidak ada pengesahan baru untuk diteruskan (terakhir diteruskan: {watermark} dari {last})"
                ),
                format!("no new endorsements to forward (forwarded up to {watermark} of {last})"),
            ));
        }
        let chosen: Vec<EndorsementEntry> = self
            .db
            .endorsements()?
            .into_iter()
            .filter(|e| e.position.is_some_and(|p| (from..=to).contains(&p)))
            .collect();
        let (up, without_custody) = self.upward(&chosen, SeqRange { from, to }, kind, now)?;
        let recipients = province.recipients().map_err(|e| {
            invalid(
                format!("kunci provinsi: {e}"),
                format!("the province's key: {e}"),
            )
        })?;
        let bytes = up
            .seal(&self.keys.signing, &recipients)
            .map_err(|e| invalid(format!("gagal menulis: {e}"), format!("cannot write: {e}")))?;
        let written = crate::durable::write_bytes(
            &folder.join(up.file_name()),
            &bytes,
            &crate::durable::Options::refuse().private(),
        )?;
        let txn = self.db.begin()?;
        {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Operator)?;
            if which == Forward::SinceLast || which == Forward::All {
                t.set_counter(UPWARD_WATERMARK, to.max(watermark))?;
            }
            self.audit_in(
                &mut t,
                &actor,
                now,
                "forward",
                vec![format!("upward:{}", up.bundle_id)],
                Some(format!(
                    "positions {from}..{to}: {} families, {} withdrawn, to {}",
                    up.families.len(),
                    up.withdrawn.len(),
                    province.name
                )),
            )?;
        }
        txn.commit()?;
        Ok(ForwardDone {
            path: written.path,
            bundle_id: up.bundle_id,
            sequence: up.sequence,
            families: up.families.len() as u64,
            revisions: up.families.iter().map(|f| f.revisions.len() as u64).sum(),
            withdrawn: up.withdrawn.len() as u64,
            without_custody,
        })
    }

    /// The upward bundle of these decisions: each endorsed family's revisions not forwarded before
    /// (oldest first, the endorsed one last), each with the custody of a device bundle that carried
    /// it; families whose endorsed revision has none are left out (and listed); holds of families
    /// forwarded before as withdrawals.
    fn upward(
        &self,
        chosen: &[EndorsementEntry],
        sequence: SeqRange,
        kind: ExportKind,
        now: DateTime<FixedOffset>,
    ) -> Result<(Upward, Vec<Uuid>)> {
        let mut found = Found {
            bundles: self.db.bundles()?,
            custody: BTreeMap::new(),
            devices: BTreeMap::new(),
        };
        let mut families = Vec::new();
        let mut withdrawn = Vec::new();
        let mut without = Vec::new();
        for e in chosen {
            let (minutes, date) = match &e.decision {
                Endorsement::Endorsed { minutes, date } => (minutes, date),
                Endorsement::Held {
                    reason,
                    minutes,
                    date,
                } => {
                    withdrawn.push(Withdrawn {
                        position: e.position.unwrap_or(0),
                        record: e.record,
                        reason: reason.clone(),
                        minutes: minutes.clone(),
                        date: *date,
                        decided_by: e.actor.name().to_string(),
                        decided_at: e.at,
                    });
                    continue;
                }
            };
            let Some(endorsed) = self.carried(&mut found, e.device, e.seq)? else {
                without.push(e.record);
                continue;
            };
            let mut revisions = Vec::new();
            for (device, seq) in self.not_forwarded(e)? {
                if let Some(r) = self.carried(&mut found, device, seq)? {
                    revisions.push(r);
                }
            }
            revisions.push(endorsed);
            families.push(Forwarded {
                position: e.position.unwrap_or(0),
                record: e.record,
                minutes: minutes.clone(),
                date: *date,
                decided_by: e.actor.name().to_string(),
                decided_at: e.at,
                revisions,
            });
        }
        let Found {
            custody, devices, ..
        } = found;
        let used: std::collections::BTreeSet<Uuid> = families
            .iter()
            .flat_map(|f| f.revisions.iter().map(|r| r.bundle))
            .collect();
        let custody = custody
            .into_iter()
            .filter(|(id, _)| used.contains(id))
            .filter_map(|(id, c)| {
                c.map(|c| SignedBundle {
                    bundle_id: id,
                    manifest: String::from_utf8_lossy(&c.manifest).into_owned(),
                    signature: hex(&c.signature),
                    line_hashes: hex(&c.line_hashes),
                })
            })
            .collect();
        let public = &self.keys.public;
        let up = Upward {
            format: UPWARD_FORMAT.into(),
            format_version: UPWARD_FORMAT_VERSION,
            bundle_id: Uuid::now_v7(),
            created_at: now,
            registry: Sender {
                name: public.name.clone(),
                wilayah: public.wilayah.clone(),
                signing_key: public.signing_key.clone(),
                demo: public.demo,
            },
            sequence,
            kind,
            devices: devices.into_values().collect(),
            custody,
            families,
            withdrawn,
        };
        tracing::info!(
            bundle = %short(up.bundle_id),
            families = up.families.len(),
            withdrawn = up.withdrawn.len(),
            "upward bundle built"
        );
        Ok((up, without))
    }

    /// The family's accepted revisions before the endorsed one and after the one last forwarded
    /// (`since`), oldest first: (device, sequence position).
    fn not_forwarded(&self, e: &EndorsementEntry) -> Result<Vec<(Uuid, u64)>> {
        let mut finals: Vec<_> = self
            .db
            .finals_of(e.record)?
            .into_iter()
            .filter(|f| f.candidate)
            .map(|f| (f.at_ms, Uuid::from_u128(f.device), f.seq))
            .collect();
        finals.sort();
        let at = |d: Uuid, s: u64| finals.iter().position(|f| f.1 == d && f.2 == s);
        let end = at(e.device, e.seq).unwrap_or(finals.len());
        let start = e
            .since
            .and_then(|(d, s)| at(d, s))
            .map_or(0, |i| i + 1)
            .min(end);
        Ok(finals
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .filter(|f| (f.1, f.2) != (e.device, e.seq))
            .map(|f| (f.1, f.2))
            .collect())
    }

    /// A stored revision with the tablet bundle whose custody lists it, its device approved here
    /// (recorded in `found`); None when there is no such bundle.
    fn carried(
        &self,
        found: &mut Found,
        device: Uuid,
        seq: u64,
    ) -> Result<Option<ForwardedRevision>> {
        let Some(line) = self.db.stored_line(device, seq)? else {
            return Ok(None);
        };
        let mut bundle = None;
        for b in found
            .bundles
            .iter()
            .filter(|b| b.device == device && b.sequence.from <= seq && seq <= b.sequence.to)
        {
            if let std::collections::btree_map::Entry::Vacant(v) = found.custody.entry(b.bundle_id)
            {
                v.insert(self.db.custody(b.bundle_id)?);
            }
            if found
                .custody
                .get(&b.bundle_id)
                .and_then(Option::as_ref)
                .is_some_and(|c| c.lists(&line))
            {
                bundle = Some(b.bundle_id);
                break;
            }
        }
        let (Some(bundle), Ok(line)) = (bundle, String::from_utf8(line)) else {
            return Ok(None);
        };
        if !found.devices.contains_key(&device) {
            match self.db.device(device)? {
                Some(d) if d.state == DeviceState::Approved => {
                    found.devices.insert(
                        d.id,
                        ApprovedDevice {
                            id: d.id,
                            name: d.name,
                            public_key: d.public_key,
                        },
                    );
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(ForwardedRevision { bundle, line }))
    }
}

/// What an upward bundle being built has looked up: the tablet bundles merged, the custody read of
/// them, the devices whose revisions it carries.
struct Found {
    bundles: Vec<BundleEntry>,
    custody: BTreeMap<Uuid, Option<Custody>>,
    devices: BTreeMap<Uuid, ApprovedDevice>,
}
