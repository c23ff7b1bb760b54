//! The dashboard's figures: the registry's report per kabupaten/kota and kecamatan (families, accepted,
//! waiting for a decision, the welfare indicators), compared with the registry as it was on a chosen
//! date (the snapshot kept by the last import on or before it), with the date and the data's cut-off.
//! Read in a background task: it reads every family.

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::Office;
use super::session::Result;
pub use crate::registry::report::{
    Change, Figures, Indicators, Kabupaten, Kecamatan, RegistryReport, Share, StateCounts,
};

/// The dashboard as read: the report, and the day its changes are counted from (`None`: no import on
/// or before the chosen day, or none chosen and fewer than two imports: no changes shown).
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub report: RegistryReport,
    /// When the registry's state compared with was recorded.
    pub compared_with: Option<DateTime<FixedOffset>>,
}

/// Families waiting for an operator's decision (open conflicts and quarantine).
pub fn waiting(f: &Figures) -> u64 {
    f.states.conflict + f.states.quarantined
}

/// Reads the dashboard at `now`; changes are counted since the registry as it was at the end of
/// `since` (the last import on or before that day), or since the import before the latest.
pub fn read(
    office: &Office,
    since: Option<NaiveDate>,
    now: DateTime<FixedOffset>,
) -> Result<Dashboard> {
    let reg = office.read();
    let imports = reg.imports()?;
    let base = match since {
        Some(day) => imports.iter().rev().find(|i| i.at.date_naive() <= day),
        None => imports.len().checked_sub(2).and_then(|i| imports.get(i)),
    };
    let previous = base
        .and_then(|i| i.snapshot.clone())
        .and_then(|v| serde_json::from_value(v).ok());
    let mut report = crate::registry::report(&reg, previous.as_ref())?;
    report.about = Some(crate::registry::report::About {
        registry: reg.keys.public.name.clone(),
        made_at: now,
        data_cut_off: imports.last().map(|i| i.at),
    });
    Ok(Dashboard {
        report,
        compared_with: base.filter(|i| i.snapshot.is_some()).map(|i| i.at),
    })
}
