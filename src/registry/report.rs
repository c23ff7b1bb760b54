//! The registry's report per kabupaten/kota and kecamatan: counts, results of enumeration and indicator
//! shares built from stored [`Facts`], compared with the previous import's [`Snapshot`], and rendered as
//! plain text, JSON and one self-contained HTML page (tables and inline SVG charts). Pure: no I/O, no clock.
//!
//! The JSON (`Report::to_json`) is the serde form of [`Report`], field names stable:
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

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

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

/// The indicators in report order, with their headings.
/// Reads one indicator's share.
type Pick = fn(&Indicators) -> Share;

const INDICATORS: [(Pick, Label); 6] = [
    (|i| i.earth_floor, Label::new("Lantai tanah", "Earth floor")),
    (
        |i| i.no_electricity,
        Label::new("Tanpa listrik", "No electricity"),
    ),
    (
        |i| i.no_pln_electricity,
        Label::new("Tanpa listrik PLN", "No PLN electricity"),
    ),
    (
        |i| i.no_own_toilet,
        Label::new("Tanpa jamban sendiri", "No own toilet"),
    ),
    (|i| i.pkh, Label::new("Penerima PKH", "Receives PKH")),
    (
        |i| i.sembako,
        Label::new("Penerima Sembako/BPNT", "Receives Sembako/BPNT"),
    ),
];

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

impl Figures {
    fn add(&mut self, state: FamilyState, f: &Facts) {
        self.families += 1;
        self.states.add(state, 1);
        match &f.result {
            Some(code) => match self.results.get_mut(code) {
                Some(n) => *n += 1,
                None => {
                    self.results.insert(code.clone(), 1);
                }
            },
            None => self.result_unknown += 1,
        }
        self.members += u64::from(f.members.unwrap_or(0));
        self.members_present += u64::from(f.members_present.unwrap_or(0));
        let i = &mut self.indicators;
        i.earth_floor.add(f.earth_floor);
        i.no_electricity.add(f.no_electricity);
        i.no_pln_electricity.add(f.no_pln_electricity);
        i.no_own_toilet.add(f.no_own_toilet);
        i.pkh.add(f.pkh);
        i.sembako.add(f.sembako);
    }
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

/// The report. Build it with [`Report::build`]; render with `to_text`, `to_json`, `to_html`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub compared: bool,
    pub results: Vec<ResultCategory>,
    pub province: Figures,
    /// By code; families of an unknown region last.
    pub kabupaten: Vec<Kabupaten>,
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

fn key(code: &Option<String>) -> String {
    code.clone().unwrap_or_default()
}

fn unkey(key: &str) -> Option<String> {
    (!key.is_empty()).then(|| key.to_string())
}

/// Known codes in order, the unknown region last.
fn area_order(a: &Option<String>, b: &Option<String>) -> std::cmp::Ordering {
    a.is_none().cmp(&b.is_none()).then_with(|| a.cmp(b))
}

impl Report {
    /// Counts the families. `previous` is the snapshot of the last import, to show what changed.
    pub fn build(
        families: impl IntoIterator<Item = (FamilyState, Facts)>,
        previous: Option<&Snapshot>,
        names: &Names,
    ) -> Report {
        let mut province = Figures::default();
        let mut kabs: BTreeMap<String, (Figures, BTreeMap<String, Figures>)> = BTreeMap::new();
        for (state, mut f) in families {
            province.add(state, &f);
            // The codes move into the keys: counting does not read them.
            let kab_key = f.kabkota.take().unwrap_or_default();
            let kec_key = f.kecamatan.take().unwrap_or_default();
            let (kab, kecs) = kabs.entry(kab_key).or_default();
            kab.add(state, &f);
            kecs.entry(kec_key).or_default().add(state, &f);
        }
        if let Some(prev) = previous {
            // Areas that had families before and have none now still show, with their loss.
            for (k, p) in &prev.kabupaten {
                let (_, kecs) = kabs.entry(k.clone()).or_default();
                for kk in p.kecamatan.keys() {
                    kecs.entry(kk.clone()).or_default();
                }
            }
            for (k, (kab, kecs)) in &mut kabs {
                let p = prev.kabupaten.get(k);
                kab.change = Some(Change::between(
                    p.map(|p| p.states).unwrap_or_default(),
                    kab.states,
                ));
                for (kk, kec) in kecs.iter_mut() {
                    let before = p
                        .and_then(|p| p.kecamatan.get(kk))
                        .copied()
                        .unwrap_or_default();
                    kec.change = Some(Change::between(before, kec.states));
                }
            }
            let before = prev
                .kabupaten
                .values()
                .fold(StateCounts::default(), |a, p| a.plus(p.states));
            province.change = Some(Change::between(before, province.states));
        }

        let mut results: Vec<ResultCategory> = names
            .results
            .iter()
            .map(|(code, label)| ResultCategory {
                code: code.clone(),
                label: Some(label.clone()),
            })
            .collect();
        for code in province.results.keys() {
            if !results.iter().any(|r| &r.code == code) {
                results.push(ResultCategory {
                    code: code.clone(),
                    label: None,
                });
            }
        }

        let mut kabupaten: Vec<Kabupaten> = kabs
            .into_iter()
            .map(|(k, (figures, kecs))| {
                let mut kecamatan: Vec<Kecamatan> = kecs
                    .into_iter()
                    .map(|(kk, figures)| {
                        let code = unkey(&kk);
                        Kecamatan {
                            name: names.region(code.as_deref()),
                            code,
                            figures,
                        }
                    })
                    .collect();
                kecamatan.sort_by(|a, b| area_order(&a.code, &b.code));
                let code = unkey(&k);
                Kabupaten {
                    name: names.region(code.as_deref()),
                    code,
                    figures,
                    kecamatan,
                }
            })
            .collect();
        kabupaten.sort_by(|a, b| area_order(&a.code, &b.code));
        Report {
            version: REPORT_VERSION,
            compared: previous.is_some(),
            results,
            province,
            kabupaten,
        }
    }

    /// The counts to store after this import, for the next report's changes.
    pub fn snapshot(&self) -> Snapshot {
        let kabupaten = self
            .kabupaten
            .iter()
            .filter(|k| k.figures.families > 0)
            .map(|k| {
                let kecamatan = k
                    .kecamatan
                    .iter()
                    .filter(|c| c.figures.families > 0)
                    .map(|c| (key(&c.code), c.figures.states))
                    .collect();
                (
                    key(&k.code),
                    SnapshotKabupaten {
                        states: k.figures.states,
                        kecamatan,
                    },
                )
            })
            .collect();
        Snapshot {
            version: SNAPSHOT_VERSION,
            kabupaten,
        }
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Aligned plain-text tables, Indonesian headings over English ones.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let title = format!("{} — {}", TITLE.id, TITLE.en);
        let _ = writeln!(out, "{title}\n{}", "=".repeat(title.chars().count()));
        for s in self.sections() {
            let heading = format!("{} — {}", s.title.id, s.title.en);
            let _ = writeln!(out, "\n{heading}\n{}", "-".repeat(heading.chars().count()));
            out.push_str(&s.table.to_text());
            for (a, b) in &s.legend {
                let _ = writeln!(out, "  {a}: {} — {}", b.id, b.en);
            }
        }
        out
    }

    /// One self-contained HTML page: no scripts, fonts or images from elsewhere; charts are inline SVG.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"id\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{} — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}<br><small>{}</small></h1>\n",
            esc(&TITLE.id),
            esc(&TITLE.en),
            esc(&TITLE.id),
            esc(&TITLE.en)
        );
        for (i, s) in self.sections().into_iter().enumerate() {
            let _ = write!(
                h,
                "<section>\n<h2>{}<br><small>{}</small></h2>\n",
                esc(&s.title.id),
                esc(&s.title.en)
            );
            if i == 0 {
                h.push_str(&self.states_chart());
            }
            if i == 1 {
                h.push_str(&self.indicator_charts());
            }
            h.push_str(&s.table.to_html());
            if !s.legend.is_empty() {
                h.push_str("<ul class=\"legend\">\n");
                for (a, b) in &s.legend {
                    let _ = writeln!(
                        h,
                        "<li><b>{}</b> {} <small>{}</small></li>",
                        esc(a),
                        esc(&b.id),
                        esc(&b.en)
                    );
                }
                h.push_str("</ul>\n");
            }
            h.push_str("</section>\n");
        }
        h.push_str("</body>\n</html>\n");
        h
    }

    /// The report's tables, shared by the text and HTML renderers.
    fn sections(&self) -> Vec<Section> {
        let kab_rows = || {
            self.kabupaten
                .iter()
                .map(|k| (area_code(&k.code), area_name(&k.code, &k.name), &k.figures))
                .chain([(String::new(), PROVINCE.id.to_string(), &self.province)])
        };
        let mut out = vec![
            Section::new(
                Label::new("Keluarga per kabupaten/kota", "Families per regency/city"),
                self.counts_table(KABKOTA, kab_rows()),
            ),
            Section::new(
                Label::new(
                    "Indikator per kabupaten/kota (persen dari jawaban yang diketahui: ya/diketahui)",
                    "Indicators per regency/city (percent of known answers: yes/known)",
                ),
                indicator_table(KABKOTA, kab_rows()),
            ),
        ];
        let mut results = self.results_table(kab_rows());
        results.legend = self
            .results
            .iter()
            .map(|r| {
                let label = r.label.clone().map_or_else(
                    || Label::new("(kode tidak ada di daftar)", "(code not in the list)"),
                    Label::from,
                );
                (format!("({})", r.code), label)
            })
            .collect();
        out.push(results);
        if self.compared {
            out.push(Section::new(
                Label::new(
                    "Perubahan sejak impor sebelumnya",
                    "Changes since the previous import",
                ),
                changes_table(KABKOTA, kab_rows()),
            ));
        }
        for k in self.kabupaten.iter().filter(|k| k.code.is_some()) {
            let name = area_name(&k.code, &k.name);
            let rows = || {
                k.kecamatan
                    .iter()
                    .map(|c| (area_code(&c.code), area_name(&c.code, &c.name), &c.figures))
                    .chain([(area_code(&k.code), name.clone(), &k.figures)])
            };
            out.push(Section::new(
                Label::owned(
                    format!("Kecamatan di {name}"),
                    format!("Districts of {name}"),
                ),
                self.counts_table(KECAMATAN, rows()),
            ));
            out.push(Section::new(
                Label::owned(
                    format!("Indikator per kecamatan di {name}"),
                    format!("Indicators per district of {name}"),
                ),
                indicator_table(KECAMATAN, rows()),
            ));
        }
        out
    }

    fn counts_table<'a>(
        &self,
        area: Label,
        rows: impl Iterator<Item = (String, String, &'a Figures)>,
    ) -> Table {
        let mut head = vec![
            CODE,
            area,
            Label::new("Keluarga", "Families"),
            Label::new("Diterima", "Accepted"),
            Label::new("Konflik", "Conflict"),
            Label::new("Karantina", "Quarantined"),
            Label::new("Anggota", "Members"),
            Label::new("Tinggal bersama", "Present"),
        ];
        if self.compared {
            head.push(Label::new("Perubahan", "Change"));
        }
        let rows = rows
            .map(|(code, name, f)| {
                let mut r = vec![
                    code,
                    name,
                    f.families.to_string(),
                    f.states.accepted.to_string(),
                    f.states.conflict.to_string(),
                    f.states.quarantined.to_string(),
                    f.members.to_string(),
                    f.members_present.to_string(),
                ];
                if self.compared {
                    r.push(f.change.map_or_else(String::new, |c| signed(c.families)));
                }
                r
            })
            .collect();
        Table::new(head, rows)
    }

    fn results_table<'a>(
        &self,
        rows: impl Iterator<Item = (String, String, &'a Figures)>,
    ) -> Section {
        let mut head = vec![CODE, KABKOTA];
        head.extend(
            self.results
                .iter()
                .map(|r| Label::owned(format!("({})", r.code), format!("({})", r.code))),
        );
        head.push(UNKNOWN);
        let rows = rows
            .map(|(code, name, f)| {
                let mut r = vec![code, name];
                r.extend(
                    self.results
                        .iter()
                        .map(|c| f.results.get(&c.code).copied().unwrap_or(0).to_string()),
                );
                r.push(f.result_unknown.to_string());
                r
            })
            .collect();
        Section::new(
            Label::new("Hasil pendataan", "Result of enumeration"),
            Table::new(head, rows),
        )
    }

    /// Horizontal bars of families per kabupaten/kota, stacked by state.
    fn states_chart(&self) -> String {
        let bars: Vec<Bar> = self
            .kabupaten
            .iter()
            .map(|k| Bar {
                label: area_name(&k.code, &k.name),
                parts: FamilyState::ALL
                    .iter()
                    .map(|s| k.figures.states.get(*s) as f64)
                    .collect(),
                text: k.figures.families.to_string(),
            })
            .collect();
        let max = bars
            .iter()
            .map(|b| b.parts.iter().sum::<f64>())
            .fold(0.0, f64::max);
        let legend = FamilyState::ALL
            .iter()
            .zip(STATE_COLORS)
            .map(|(s, c)| (state_label(*s), c))
            .collect::<Vec<_>>();
        let mut h = String::from("<figure>\n");
        h.push_str(&hbars(&bars, max, &STATE_COLORS));
        h.push_str("<figcaption>");
        for (label, color) in legend {
            let _ = write!(
                h,
                "<span class=\"key\" style=\"background:{color}\"></span>{} <small>{}</small> ",
                esc(label.id.as_ref()),
                esc(label.en.as_ref())
            );
        }
        h.push_str("</figcaption>\n</figure>\n");
        h
    }

    /// One small chart per indicator: the share per kabupaten/kota and the province.
    fn indicator_charts(&self) -> String {
        let mut h = String::from("<div class=\"charts\">\n");
        for (get, label) in &INDICATORS {
            let bars: Vec<Bar> = self
                .kabupaten
                .iter()
                .map(|k| (area_name(&k.code, &k.name), &k.figures))
                .chain([(PROVINCE.id.to_string(), &self.province)])
                .map(|(name, f)| {
                    let s = get(&f.indicators);
                    Bar {
                        label: name,
                        parts: vec![s.percent().unwrap_or(0.0)],
                        text: s
                            .percent()
                            .map_or_else(|| "–".into(), |p| format!("{p:.1}%")),
                    }
                })
                .collect();
            let _ = write!(
                h,
                "<figure>\n<figcaption>{} <small>{}</small></figcaption>\n{}</figure>\n",
                esc(label.id.as_ref()),
                esc(label.en.as_ref()),
                hbars(&bars, 100.0, &["#2b6cb0"])
            );
        }
        h.push_str("</div>\n");
        h
    }
}

const TITLE: Label = Label::new(
    "Laporan Registri Pendataan Keluarga",
    "Registry report of the household assessment",
);
const PROVINCE: Label = Label::new("Provinsi", "Province");
const CODE: Label = Label::new("Kode", "Code");
const KABKOTA: Label = Label::new("Kabupaten/kota", "Regency/city");
const KECAMATAN: Label = Label::new("Kecamatan", "District");
const UNKNOWN: Label = Label::new("Tidak diketahui", "Unknown");
const STATE_COLORS: [&str; 3] = ["#2f855a", "#d69e2e", "#c53030"];

fn state_label(s: FamilyState) -> Label {
    match s {
        FamilyState::Accepted => Label::new("Diterima", "Accepted"),
        FamilyState::Conflict => Label::new("Konflik", "Conflict"),
        FamilyState::Quarantined => Label::new("Karantina", "Quarantined"),
    }
}

fn area_code(code: &Option<String>) -> String {
    code.clone().unwrap_or_else(|| "?".into())
}

fn area_name(code: &Option<String>, name: &Option<String>) -> String {
    match (code, name) {
        (_, Some(n)) => n.clone(),
        (Some(_), None) => String::new(),
        (None, None) => "(tidak diketahui / unknown)".into(),
    }
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

fn share_text(s: Share) -> String {
    match s.percent() {
        Some(p) => format!("{p:.1}% ({}/{})", s.yes, s.known),
        None => "–".into(),
    }
}

fn indicator_table<'a>(
    area: Label,
    rows: impl Iterator<Item = (String, String, &'a Figures)>,
) -> Table {
    let mut head = vec![CODE, area];
    head.extend(INDICATORS.iter().map(|(_, l)| l.clone()));
    let rows = rows
        .map(|(code, name, f)| {
            let mut r = vec![code, name];
            r.extend(
                INDICATORS
                    .iter()
                    .map(|(get, _)| share_text(get(&f.indicators))),
            );
            r
        })
        .collect();
    Table::new(head, rows)
}

fn changes_table<'a>(
    area: Label,
    rows: impl Iterator<Item = (String, String, &'a Figures)>,
) -> Table {
    let head = vec![
        CODE,
        area,
        Label::new("Sebelumnya", "Before"),
        Label::new("Sekarang", "Now"),
        Label::new("Keluarga", "Families"),
        Label::new("Diterima", "Accepted"),
        Label::new("Konflik", "Conflict"),
        Label::new("Karantina", "Quarantined"),
    ];
    let rows = rows
        .map(|(code, name, f)| {
            let c = f.change.unwrap_or_default();
            vec![
                code,
                name,
                (f.families as i64 - c.families).to_string(),
                f.families.to_string(),
                signed(c.families),
                signed(c.accepted),
                signed(c.conflict),
                signed(c.quarantined),
            ]
        })
        .collect();
    Table::new(head, rows)
}

/// A heading in both languages (static for the report's own texts, owned for names from the form).
#[derive(Debug, Clone)]
struct Label {
    id: std::borrow::Cow<'static, str>,
    en: std::borrow::Cow<'static, str>,
}

impl Label {
    const fn new(id: &'static str, en: &'static str) -> Label {
        Label {
            id: std::borrow::Cow::Borrowed(id),
            en: std::borrow::Cow::Borrowed(en),
        }
    }

    fn owned(id: String, en: String) -> Label {
        Label {
            id: id.into(),
            en: en.into(),
        }
    }
}

impl From<Localized> for Label {
    fn from(l: Localized) -> Label {
        Label {
            id: l.id.into(),
            en: l.en.into(),
        }
    }
}

struct Section {
    title: Label,
    table: Table,
    /// Codes used in the table's headings, explained.
    legend: Vec<(String, Label)>,
}

impl Section {
    fn new(title: Label, table: Table) -> Section {
        Section {
            title,
            table,
            legend: Vec::new(),
        }
    }
}

/// A table of text cells; the first two columns (code, name) are text, the rest figures.
struct Table {
    head: Vec<Label>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: Vec<Label>, rows: Vec<Vec<String>>) -> Table {
        Table { head, rows }
    }

    fn to_text(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self
            .head
            .iter()
            .map(|l| width(&l.id).max(width(&l.en)))
            .collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut l = String::new();
            for (i, (cell, w)) in cells.zip(&widths).enumerate() {
                let pad = w.saturating_sub(width(cell));
                if i > 0 {
                    l.push_str("  ");
                }
                if i < 2 {
                    l.push_str(cell);
                    l.extend(std::iter::repeat_n(' ', pad));
                } else {
                    l.extend(std::iter::repeat_n(' ', pad));
                    l.push_str(cell);
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(&mut self.head.iter().map(|l| l.id.as_ref()));
        line(&mut self.head.iter().map(|l| l.en.as_ref()));
        let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&mut rules.iter().map(String::as_str));
        for row in &self.rows {
            line(&mut row.iter().map(String::as_str));
        }
        out
    }

    fn to_html(&self) -> String {
        let mut h = String::from("<table>\n<thead><tr>");
        for (i, l) in self.head.iter().enumerate() {
            let class = if i < 2 { "" } else { " class=\"n\"" };
            let _ = write!(
                h,
                "<th{class}>{}<br><small>{}</small></th>",
                esc(&l.id),
                esc(&l.en)
            );
        }
        h.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            h.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let class = if i < 2 { "" } else { " class=\"n\"" };
                let _ = write!(h, "<td{class}>{}</td>", esc(cell));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>\n</table>\n");
        h
    }
}

struct Bar {
    label: String,
    /// Stacked segments, drawn in the colours given.
    parts: Vec<f64>,
    text: String,
}

/// Horizontal (stacked) bars as an inline SVG, scaled so `max` fills the plot.
fn hbars(bars: &[Bar], max: f64, colors: &[&str]) -> String {
    const ROW: f64 = 22.0;
    const LABEL: f64 = 220.0;
    const PLOT: f64 = 360.0;
    let height = ROW * bars.len() as f64 + 4.0;
    let width = LABEL + PLOT + 70.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\">\n"
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = ROW * i as f64 + 2.0;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL - 6.0,
            y + 15.0,
            esc(&bar.label)
        );
        let _ = writeln!(
            s,
            "<rect x=\"{LABEL}\" y=\"{y:.1}\" width=\"{PLOT}\" height=\"{}\" fill=\"#edf2f7\"/>",
            ROW - 6.0
        );
        let mut x = LABEL;
        for (part, color) in bar.parts.iter().zip(colors.iter().cycle()) {
            let w = if max > 0.0 { part / max * PLOT } else { 0.0 };
            if w > 0.0 {
                let _ = writeln!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{}\" fill=\"{color}\"/>",
                    ROW - 6.0
                );
            }
            x += w;
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\">{}</text>",
            x + 4.0,
            y + 15.0,
            esc(&bar.text)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Escapes text for HTML and SVG content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#1a202c}\
h1,h2{font-weight:600}h1 small,h2 small,th small,figcaption small,li small{font-weight:normal;color:#4a5568;font-size:.8em}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #cbd5e0;padding:.25em .6em;text-align:left}\
.n{text-align:right}tbody tr:last-child{font-weight:600}svg text{font-size:12px;fill:#1a202c}\
.charts{display:flex;flex-wrap:wrap;gap:1em}.key{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em;vertical-align:middle}\
figure{margin:1em 0}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::catalog::Catalog;
    use FamilyState::{Accepted, Conflict, Quarantined};

    fn names() -> Names {
        Names::from_form(Catalog::shared().unwrap().latest("keluarga").unwrap())
    }

    fn at(kec: &str) -> Facts {
        Facts {
            kabkota: kec.get(..5).map(str::to_string),
            kecamatan: Some(kec.to_string()),
            ..Facts::default()
        }
    }

    /// Five families over two kabupaten and one with no region, counted by hand below.
    fn sample() -> Vec<(FamilyState, Facts)> {
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

    fn share(yes: u64, known: u64) -> Share {
        Share { yes, known }
    }

    #[test]
    fn counts_match_a_hand_count() {
        let r = Report::build(sample(), None, &names());
        assert!(!r.compared);
        let p = &r.province;
        assert_eq!(p.families, 6);
        assert_eq!(
            p.states,
            StateCounts {
                accepted: 3,
                conflict: 1,
                quarantined: 2
            }
        );
        assert_eq!((p.members, p.members_present), (10, 8));
        assert_eq!(p.indicators.earth_floor, share(2, 4));
        assert_eq!(p.indicators.no_electricity, share(1, 3));
        assert_eq!(p.indicators.no_pln_electricity, share(2, 3));
        assert_eq!(p.indicators.no_own_toilet, share(1, 2));
        assert_eq!(p.indicators.pkh, share(1, 2));
        assert_eq!(p.indicators.sembako, share(1, 2));
        assert_eq!(p.indicators.earth_floor.percent(), Some(50.0));
        assert_eq!(p.change, None);
        assert_eq!(
            p.results,
            BTreeMap::from([("1".into(), 2), ("4".into(), 1), ("9".into(), 1)])
        );
        assert_eq!(p.result_unknown, 2);
        // The form's five results, then the code it does not know.
        let codes: Vec<&str> = r.results.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["1", "2", "3", "4", "5", "9"]);
        assert_eq!(
            r.results
                .first()
                .and_then(|c| c.label.as_ref())
                .map(|l| l.id.as_str()),
            Some("Terisi lengkap")
        );
        assert_eq!(r.results.last().unwrap().label, None);

        let areas: Vec<(Option<&str>, Option<&str>, u64)> = r
            .kabupaten
            .iter()
            .map(|k| (k.code.as_deref(), k.name.as_deref(), k.figures.families))
            .collect();
        assert_eq!(
            areas,
            [
                (Some("64.01"), Some("Kabupaten Paser"), 3),
                (Some("64.72"), Some("Kota Samarinda"), 2),
                (None, None, 1)
            ]
        );
        let paser = &r.kabupaten[0];
        assert_eq!(
            paser.figures.states,
            StateCounts {
                accepted: 1,
                conflict: 1,
                quarantined: 1
            }
        );
        assert_eq!(
            (paser.figures.members, paser.figures.members_present),
            (6, 5)
        );
        assert_eq!(paser.figures.indicators.earth_floor, share(1, 2));
        assert_eq!(paser.figures.indicators.sembako, share(1, 1));
        assert_eq!(paser.figures.result_unknown, 1);
        let kec: Vec<(&str, Option<&str>, u64)> = paser
            .kecamatan
            .iter()
            .map(|k| {
                (
                    k.code.as_deref().unwrap(),
                    k.name.as_deref(),
                    k.figures.families,
                )
            })
            .collect();
        assert_eq!(
            kec,
            [
                ("64.01.01", Some("Batu Sopang"), 2),
                ("64.01.02", Some("Tanjung Harapan"), 1)
            ]
        );
        let samarinda = &r.kabupaten[1].figures;
        assert_eq!(samarinda.indicators.earth_floor, share(1, 2));
        assert_eq!(samarinda.indicators.no_electricity, share(1, 1));
        assert_eq!(samarinda.indicators.pkh, share(0, 0));
        assert_eq!(samarinda.indicators.pkh.percent(), None);
    }

    #[test]
    fn changes_since_the_previous_snapshot() {
        // Before: the first two Paser families accepted, and one family in Kutai Barat (64.07).
        let before = vec![
            (Accepted, at("64.01.01")),
            (Accepted, at("64.01.02")),
            (Accepted, at("64.07.01")),
        ];
        let snapshot = Report::build(before, None, &names()).snapshot();
        let json = serde_json::to_string(&snapshot).unwrap();
        let snapshot: Snapshot = serde_json::from_str(&json).unwrap();

        let r = Report::build(sample(), Some(&snapshot), &names());
        assert!(r.compared);
        assert_eq!(
            r.province.change,
            Some(Change {
                families: 3,
                accepted: 0,
                conflict: 1,
                quarantined: 2
            })
        );
        let change = |code: Option<&str>| {
            r.kabupaten
                .iter()
                .find(|k| k.code.as_deref() == code)
                .and_then(|k| k.figures.change)
                .unwrap()
        };
        assert_eq!(
            change(Some("64.01")),
            Change {
                families: 1,
                accepted: -1,
                conflict: 1,
                quarantined: 1
            }
        );
        assert_eq!(change(Some("64.72")).families, 2);
        // Gone since: still listed, with nothing now.
        assert_eq!(
            change(Some("64.07")),
            Change {
                families: -1,
                accepted: -1,
                conflict: 0,
                quarantined: 0
            }
        );
        assert_eq!(change(None).quarantined, 1);
        let paser = &r.kabupaten[0];
        let kec02 = paser
            .kecamatan
            .iter()
            .find(|k| k.code.as_deref() == Some("64.01.02"))
            .unwrap();
        assert_eq!(
            kec02.figures.change,
            Some(Change {
                families: 0,
                accepted: -1,
                conflict: 1,
                quarantined: 0
            })
        );
        // The new snapshot forgets areas without families.
        let next = r.snapshot();
        assert!(!next.kabupaten.contains_key("64.07"));
        assert_eq!(next.kabupaten[""].states.quarantined, 1);
        assert_eq!(next.kabupaten["64.01"].kecamatan["64.01.01"].total(), 2);

        let text = r.to_text();
        assert!(text.contains("Perubahan sejak impor sebelumnya"), "{text}");
        let changes = text.find("Perubahan sejak impor sebelumnya").unwrap();
        let row = text[changes..]
            .lines()
            .find(|l| l.starts_with("64.07"))
            .unwrap_or_else(|| panic!("a change row for 64.07:\n{text}"));
        let figures: Vec<&str> = row.split_whitespace().rev().take(6).collect();
        assert_eq!(figures, ["0", "0", "-1", "-1", "0", "1"], "{row}");
    }

    /// The stored snapshot format of version 1.
    #[test]
    fn reads_snapshot_version_1() {
        let v1 = r#"{"version":1,"kabupaten":{"":{"states":{"accepted":0,"conflict":0,"quarantined":2},"kecamatan":{"":{"accepted":0,"conflict":0,"quarantined":2}}},"64.01":{"states":{"accepted":3,"conflict":1,"quarantined":0},"kecamatan":{"64.01.01":{"accepted":3,"conflict":1,"quarantined":0}}}}}"#;
        let s: Snapshot = serde_json::from_str(v1).unwrap();
        assert_eq!(s.kabupaten["64.01"].states.total(), 4);
        assert_eq!(serde_json::to_string(&s).unwrap(), v1);
    }

    #[test]
    fn text_tables_are_aligned() {
        let text = Report::build(sample(), None, &names()).to_text();
        let lines: Vec<&str> = text.lines().collect();
        let head = lines
            .iter()
            .position(|l| l.starts_with("Kode") && l.contains("Keluarga"))
            .unwrap();
        assert!(lines[head + 1].starts_with("Code") && lines[head + 1].contains("Families"));
        let end = |l: &str, word: &str| l.find(word).map(|i| i + word.len());
        let paser = lines[head..]
            .iter()
            .find(|l| l.starts_with("64.01  Kabupaten Paser"))
            .unwrap();
        // Right-aligned figures end under the end of their heading.
        let families_end = end(lines[head], "Keluarga").unwrap();
        assert_eq!(&paser[families_end - 1..families_end], "3", "{text}");
        let total = lines[head..]
            .iter()
            .find(|l| l.contains("Provinsi"))
            .unwrap();
        assert_eq!(&total[families_end - 1..families_end], "6", "{text}");
        assert!(text.contains("50.0% (2/4)"), "{text}");
        assert!(text.contains("(9): (kode tidak ada di daftar)"), "{text}");
        assert!(text.contains("Kecamatan di Kabupaten Paser — Districts of Kabupaten Paser"));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let r = Report::build(sample(), None, &names());
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
        let back: Report = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn html_is_self_contained_and_escapes_every_name() {
        let names = Names::new(
            [
                (
                    "64.01".to_string(),
                    "<script>alert('x')</script>".to_string(),
                ),
                ("64.01.01".to_string(), "A & B \"Kota\"".to_string()),
            ],
            [("1".to_string(), Localized::new("<b>Terisi</b>", "Done"))],
        );
        let html = Report::build(sample(), None, &names).to_html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>Terisi"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("A &amp; B &quot;Kota&quot;"));
        // One stacked chart of states and one per indicator.
        assert_eq!(html.matches("<svg").count(), 1 + INDICATORS.len());
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        assert_eq!(
            html.matches("<table>").count(),
            html.matches("</table>").count()
        );
        for outside in ["src=", "href=", "<link", "@import", "url("] {
            assert!(!html.contains(outside), "{outside}");
        }
        assert!(html.contains("Keluarga<br><small>Families</small>"));
    }
}
