//! The chain between levels on the office screens: at a kabupaten/kota registry the pengesahan of its
//! accepted families and their forwarding to the province; at a province the proposals received per
//! kabupaten/kota and their evaluation. The same registry calls as `registry endorse`, `registry
//! forward` and `registry evaluate`, with who decided recorded through the session.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::Office;
use super::queue::registry_text;
use crate::bundle::keys::Level;
use crate::model::Localized;
use crate::registry::endorse::Selection;
use crate::registry::evaluate::KabupatenFigures;
use crate::registry::family::FamilyState;
pub use crate::registry::report::proposals::MonthFigures;
use crate::registry::{Endorsement, Evaluation};

/// What the chain screen shows of this registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chain {
    /// A kabupaten/kota registry: its pengesahan and where it forwards.
    Kabupaten {
        wilayah: Option<String>,
        /// Accepted families with no pengesahan decision on their current revision.
        waiting: u64,
        /// Families endorsed (disahkan) on their current revision, and held back.
        endorsed: u64,
        held: u64,
        /// The province it forwards to (name, fingerprint), once set.
        upstream: Option<(String, String)>,
    },
    /// A province: the proposals its kabupaten/kota registries forwarded, per kabupaten/kota, and
    /// their course per month (`registry proposals`).
    Provinsi {
        proposals: Vec<KabupatenFigures>,
        course: Vec<Course>,
    },
}

/// One kabupaten/kota's proposals per month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    pub kabkota: String,
    pub months: Vec<MonthFigures>,
}

/// Reads what the chain screen shows.
pub fn read(office: &Office) -> Result<Chain, Localized> {
    let reg = office.read();
    let err = |e: crate::registry::RegistryError| registry_text(&e);
    if reg.keys.public.level == Level::Provinsi {
        let report = reg.proposals_report(crate::app::now()).map_err(err)?;
        let course = report
            .kabupaten
            .iter()
            .map(|k| Course {
                kabkota: k.figures.kabkota.clone(),
                months: k.months.clone(),
            })
            .collect();
        return Ok(Chain::Provinsi {
            proposals: report.kabupaten.into_iter().map(|k| k.figures).collect(),
            course,
        });
    }
    let decided: HashMap<u128, (u128, u64, bool)> = reg
        .endorsements()
        .map_err(err)?
        .into_iter()
        .map(|e| {
            let endorsed = matches!(e.decision, Endorsement::Endorsed { .. });
            (e.record.as_u128(), (e.device.as_u128(), e.seq, endorsed))
        })
        .collect();
    let (mut waiting, mut endorsed, mut held) = (0, 0, 0);
    reg.family_entries(|f| {
        if f.family.state != FamilyState::Accepted {
            return;
        }
        match decided.get(&f.family.record.as_u128()) {
            Some((device, seq, e))
                if *device == f.family.device.as_u128() && *seq == f.family.seq =>
            {
                if *e {
                    endorsed += 1;
                } else {
                    held += 1;
                }
            }
            _ => waiting += 1,
        }
    })
    .map_err(err)?;
    let upstream = reg
        .upstream()
        .map_err(err)?
        .map(|p| (p.name.clone(), p.fingerprint()));
    Ok(Chain::Kabupaten {
        wilayah: reg.keys.public.wilayah.clone(),
        waiting,
        endorsed,
        held,
        upstream,
    })
}

/// Pengesahan of the accepted families of one desa (`desa`, e.g. `64.72.01.1001`), or of every one
/// waiting for it, with the minutes' reference and date; returns how many were endorsed now.
pub fn endorse(
    office: &Office,
    desa: Option<&str>,
    minutes: &str,
    date: NaiveDate,
    now: DateTime<FixedOffset>,
) -> Result<usize, Localized> {
    let decision = Endorsement::Endorsed {
        minutes: minutes.to_string(),
        date,
    };
    decide(office, desa, decision, now)
}

/// Holds the accepted families of one desa back (not forwarded; of those forwarded before, the
/// province is told they are withdrawn), with the reason; returns how many were held now.
pub fn hold(
    office: &Office,
    desa: &str,
    reason: &str,
    now: DateTime<FixedOffset>,
) -> Result<usize, Localized> {
    let decision = Endorsement::Held {
        reason: reason.to_string(),
        minutes: None,
        date: None,
    };
    decide(office, Some(desa), decision, now)
}

fn decide(
    office: &Office,
    desa: Option<&str>,
    decision: Endorsement,
    now: DateTime<FixedOffset>,
) -> Result<usize, Localized> {
    let selection = desa.map_or(Selection::All, |d| Selection::Desa(d.to_string()));
    let reg = office.read();
    let done = reg
        .endorse(&selection, decision, now)
        .map_err(|e| registry_text(&e))?;
    Ok(done.decided.len())
}

/// Forwards what was endorsed since the last forwarding into `folder` (a stick): the upward bundle's
/// file and how many families it carries.
pub fn forward(
    office: &Office,
    folder: &Path,
    now: DateTime<FixedOffset>,
) -> Result<(PathBuf, u64), Localized> {
    let reg = office.read();
    let done = reg
        .forward(crate::registry::forward::Forward::SinceLast, folder, now)
        .map_err(|e| registry_text(&e))?;
    Ok((done.path, done.families))
}

/// The province's evaluation of every family a kabupaten/kota (`kabkota`, e.g. `64.72`) forwarded:
/// accepted, or returned with `reason`. Returns how many were decided now.
pub fn evaluate_kabupaten(
    office: &Office,
    kabkota: &str,
    returned: Option<&str>,
    now: DateTime<FixedOffset>,
) -> Result<usize, Localized> {
    let mut reg = office.write();
    let decision = match returned {
        Some(reason) => Evaluation::Returned {
            reason: reason.to_string(),
        },
        None => Evaluation::Accepted,
    };
    reg.session.reason = returned.map(str::to_string);
    let done = reg.evaluate(&Selection::Desa(kabkota.to_string()), decision, now);
    reg.session.reason = None;
    Ok(done.map_err(|e| registry_text(&e))?.decided.len())
}
