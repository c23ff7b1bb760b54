//! The registry's report per kabupaten/kota and kecamatan: its figures (this file), counted from stored
//! [`Facts`] and compared with the previous import's [`Snapshot`] (`build`), laid out as titled tables
//! (`sections`) and rendered as plain text (`text`), JSON (this file) and one self-contained HTML page with
//! inline SVG charts (`html`). Pure — no I/O, no clock — except `save`, which writes a rendered report to
//! a file.
//!
//! The JSON (`RegistryReport::to_json`) is the serde form of [`RegistryReport`], field names stable:
//!
//! ```text
//! { "version": 1,
//!   "compared": bool,                     // whether "change" compares with a previous import
//!   "results": [ {"code": "1", "label": {"id": "Terisi lengkap", "en": "Completed"} | null}, … ],
//!   "province": Figures,
//!   "kabupaten": [ {"code": "64.01" | null, "name": "Kabupaten Paser" | null, "figures": Figures,
//!                   "kecamatan": [ {"code", "name", "figures"}, … ]}, … ] }
//! Figures = { "families": n,
//!             "states": {"accepted": n, "conflict": n, "quarantined": n},
//!             "results": {"<hasil_pendataan code>": n, …}, "result_unknown": n,
//!             "members": n, "members_present": n,
//!             "indicators": {"earth_floor" | "no_electricity" | "no_pln_electricity" | "no_own_toilet"
//!                            | "pkh" | "sembako": {"yes": n, "known": n}},
//!             "change": null | {"families": ±n, "accepted": ±n, "conflict": ±n, "quarantined": ±n} }
//! ```
//!
//! A `null` code is a family whose region is missing or not in the form's list. A share is `yes / known`:
//! families whose answer is unknown are left out of both. What makes each indicator is documented in
//! [`super::facts`].

mod build;
mod html;
pub mod proposals;
mod save;
mod sections;
mod text;

pub use save::{ReportError, ReportFormat, save_text};

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::facts::{self, Facts};
use super::family::FamilyState;
use crate::form::Form;
use crate::model::Localized;

pub const REPORT_VERSION: u32 = 1;
pub const SNAPSHOT_VERSION: u32 = 1;

/// Names shown next to codes: regions (kabupaten/kota, kecamatan) and results of enumeration.
#[derive(Debug, Clone, Default)]
pub struct Names {
    regions: HashMap<String, String>,
    results: Vec<(String, Localized)>,
}

impl Names {
    pub fn new(
        regions: impl IntoIterator<Item = (String, String)>,
        results: impl IntoIterator<Item = (String, Localized)>,
    ) -> Names {
        Names {
            regions: regions.into_iter().collect(),
            results: results.into_iter().collect(),
        }
    }

    /// Names from the form's own lists: `kabkota`, `kecamatan` and `hasil_pendataan`.
    pub fn from_form(form: &Form) -> Names {
        let list = |field: &str| {
            form.field(field)
                .and_then(|f| form.choices_of(f))
                .map(|l| l.choices.as_slice())
                .unwrap_or_default()
        };
        let regions = [facts::KABKOTA, facts::KECAMATAN]
            .into_iter()
            .flat_map(list)
            .map(|c| (c.value.clone(), c.label.id.clone()));
        let results = list(facts::RESULT)
            .iter()
            .map(|c| (c.value.clone(), c.label.clone()));
        Names::new(regions, results)
    }

    fn region(&self, code: Option<&str>) -> Option<String> {
        code.and_then(|c| self.regions.get(c)).cloned()
    }
}

/// Families per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    pub accepted: u64,
    pub conflict: u64,
    pub quarantined: u64,
}

impl StateCounts {
    pub fn total(&self) -> u64 {
        self.accepted + self.conflict + self.quarantined
    }

    fn add(&mut self, state: FamilyState, n: u64) {
        match state {
            FamilyState::Accepted => self.accepted += n,
            FamilyState::Conflict => self.conflict += n,
            FamilyState::Quarantined => self.quarantined += n,
        }
    }

    fn get(&self, state: FamilyState) -> u64 {
        match state {
            FamilyState::Accepted => self.accepted,
            FamilyState::Conflict => self.conflict,
            FamilyState::Quarantined => self.quarantined,
        }
    }

    fn plus(self, o: StateCounts) -> StateCounts {
        StateCounts {
            accepted: self.accepted + o.accepted,
            conflict: self.conflict + o.conflict,
            quarantined: self.quarantined + o.quarantined,
        }
    }
}

/// Families for which an indicator holds, out of those whose answer is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub yes: u64,
    pub known: u64,
}

impl Share {
    /// The share in percent; `None` when no answer is known.
    pub fn percent(&self) -> Option<f64> {
        (self.known > 0).then(|| self.yes as f64 * 100.0 / self.known as f64)
    }

    fn add(&mut self, v: Option<bool>) {
        if let Some(v) = v {
            self.known += 1;
            self.yes += u64::from(v);
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indicators {
    pub earth_floor: Share,
    pub no_electricity: Share,
    pub no_pln_electricity: Share,
    pub no_own_toilet: Share,
    pub pkh: Share,
    pub sembako: Share,
}

/// Differences since the previous import's snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub families: i64,
    pub accepted: i64,
    pub conflict: i64,
    pub quarantined: i64,
}

impl Change {
    fn between(before: StateCounts, now: StateCounts) -> Change {
        let d = |a: u64, b: u64| {
            i64::try_from(b).unwrap_or(i64::MAX) - i64::try_from(a).unwrap_or(i64::MAX)
        };
        Change {
            families: d(before.total(), now.total()),
            accepted: d(before.accepted, now.accepted),
            conflict: d(before.conflict, now.conflict),
            quarantined: d(before.quarantined, now.quarantined),
        }
    }
}

/// The figures of one area (province, kabupaten/kota or kecamatan).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub families: u64,
    pub states: StateCounts,
    /// Families per `hasil_pendataan` code.
    pub results: BTreeMap<String, u64>,
    /// Families without a known result.
    pub result_unknown: u64,
    pub members: u64,
    pub members_present: u64,
    pub indicators: Indicators,
    /// Since the previous import; `None` when there is none to compare with.
    pub change: Option<Change>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kecamatan {
    pub code: Option<String>,
    pub name: Option<String>,
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kabupaten {
    pub code: Option<String>,
    pub name: Option<String>,
    pub figures: Figures,
    pub kecamatan: Vec<Kecamatan>,
}

/// A category of the result of enumeration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultCategory {
    pub code: String,
    /// `None` for a code the form's list does not have.
    pub label: Option<Localized>,
}

/// The report. Build it with [`RegistryReport::build`]; render with `to_text`, `to_json`, `to_html`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryReport {
    pub version: u32,
    pub compared: bool,
    pub results: Vec<ResultCategory>,
    pub province: Figures,
    /// By code; families of an unknown region last.
    pub kabupaten: Vec<Kabupaten>,
    /// Whose report, when it was made and how new its data are (set by whoever shows it: a snapshot
    /// kept with an import has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<About>,
}

/// The report's header: the registry's name, when the report was made, the data's cut-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct About {
    pub registry: String,
    pub made_at: chrono::DateTime<chrono::FixedOffset>,
    /// The newest import's time (`None`: nothing imported yet).
    pub data_cut_off: Option<chrono::DateTime<chrono::FixedOffset>>,
}

impl About {
    /// One line, Indonesian then English.
    pub fn line(&self) -> String {
        format!(
            "{} — dibuat / made {} — data s.d. / data cut-off {}",
            crate::model::printable::clean(&self.registry),
            self.made_at.format("%Y-%m-%d %H:%M %:z"),
            self.data_cut_off.map_or_else(
                || "belum ada impor / nothing imported yet".to_string(),
                |t| t.format("%Y-%m-%d %H:%M %:z").to_string()
            )
        )
    }
}

/// What the registry keeps of a report after each import, to show the next one's changes: families per
/// state per kabupaten/kota and kecamatan. Stored (JSON): fields are only ever added. The empty key is
/// the unknown region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub kabupaten: BTreeMap<String, SnapshotKabupaten>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotKabupaten {
    pub states: StateCounts,
    #[serde(default)]
    pub kecamatan: BTreeMap<String, StateCounts>,
}

impl RegistryReport {
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

/// Families counted by hand in the tests of every part of the report.
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;
    use crate::form::catalog::Catalog;
    use FamilyState::{Accepted, Conflict, Quarantined};

    pub(super) fn names() -> Names {
        Names::from_form(Catalog::shared().unwrap().latest("keluarga").unwrap())
    }

    pub(super) fn at(kec: &str) -> Facts {
        Facts {
            kabkota: kec.get(..5).map(str::to_string),
            kecamatan: Some(kec.to_string()),
            ..Facts::default()
        }
    }

    /// Five families over two kabupaten and one with no region, counted by hand below.
    pub(super) fn sample() -> Vec<(FamilyState, Facts)> {
        vec![
            (
                Accepted,
                Facts {
                    result: Some("1".into()),
                    members: Some(4),
                    members_present: Some(3),
                    earth_floor: Some(true),
                    no_electricity: Some(false),
                    no_pln_electricity: Some(true),
                    no_own_toilet: Some(true),
                    pkh: Some(true),
                    ..at("64.01.01")
                },
            ),
            (
                Conflict,
                Facts {
                    result: Some("1".into()),
                    members: Some(2),
                    members_present: Some(2),
                    earth_floor: Some(false),
                    no_electricity: Some(false),
                    no_pln_electricity: Some(false),
                    no_own_toilet: Some(false),
                    pkh: Some(false),
                    sembako: Some(true),
                    ..at("64.01.02")
                },
            ),
            (Quarantined, at("64.01.01")),
            (
                Accepted,
                Facts {
                    result: Some("4".into()),
                    members: Some(3),
                    members_present: Some(3),
                    earth_floor: Some(false),
                    no_electricity: Some(true),
                    no_pln_electricity: Some(true),
                    sembako: Some(false),
                    ..at("64.72.01")
                },
            ),
            (
                Accepted,
                Facts {
                    result: Some("9".into()),
                    members: Some(1),
                    members_present: Some(0),
                    earth_floor: Some(true),
                    ..at("64.72.01")
                },
            ),
            (Quarantined, Facts::default()),
        ]
    }

    pub(super) fn share(yes: u64, known: u64) -> Share {
        Share { yes, known }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{names, sample};
    use super::*;

    /// The stored snapshot format of version 1.
    #[test]
    fn reads_snapshot_version_1() {
        let v1 = r#"{"version":1,"kabupaten":{"":{"states":{"accepted":0,"conflict":0,"quarantined":2},"kecamatan":{"":{"accepted":0,"conflict":0,"quarantined":2}}},"64.01":{"states":{"accepted":3,"conflict":1,"quarantined":0},"kecamatan":{"64.01.01":{"accepted":3,"conflict":1,"quarantined":0}}}}}"#;
        let s: Snapshot = serde_json::from_str(v1).unwrap();
        assert_eq!(s.kabupaten["64.01"].states.total(), 4);
        assert_eq!(serde_json::to_string(&s).unwrap(), v1);
    }

    #[test]
    fn json_has_the_documented_fields() {
        let r = RegistryReport::build(sample(), None, &names());
        let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["kabupaten"][0]["code"], "64.01");
        assert_eq!(
            v["kabupaten"][0]["figures"]["indicators"]["earth_floor"],
            serde_json::json!({"yes": 1, "known": 2})
        );
        assert_eq!(v["province"]["states"]["quarantined"], 2);
        assert_eq!(v["kabupaten"][2]["code"], serde_json::Value::Null);
        assert_eq!(v["results"][0]["label"]["en"], "Completed");
        let back: RegistryReport = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
