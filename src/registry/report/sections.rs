//! The report laid out as titled tables with headings in both languages, shared by the text and HTML
//! renderers: families per area, indicators, results of enumeration, changes, then each kabupaten/kota's
//! kecamatan.

use std::borrow::Cow;

use super::{FamilyState, Figures, Indicators, RegistryReport, Share};
use crate::model::Localized;

/// Reads one indicator's share.
pub(super) type Pick = fn(&Indicators) -> Share;

/// The indicators in report order, with their headings.
pub(super) const INDICATORS: [(Pick, Label); 6] = [
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

impl RegistryReport {
    /// The report's tables, shared by the text and HTML renderers.
    pub(super) fn sections(&self) -> Vec<Section> {
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
            Label::new("Tidak diterima", "Not accepted"),
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
}

pub(super) const TITLE: Label = Label::new(
    "Laporan Registri Pendataan Keluarga",
    "Registry report of the household assessment",
);
pub(super) const PROVINCE: Label = Label::new("Provinsi", "Province");
const CODE: Label = Label::new("Kode", "Code");
const KABKOTA: Label = Label::new("Kabupaten/kota", "Regency/city");
const KECAMATAN: Label = Label::new("Kecamatan", "District");
const UNKNOWN: Label = Label::new("Tidak diketahui", "Unknown");

pub(super) fn state_label(s: FamilyState) -> Label {
    match s {
        FamilyState::Accepted => Label::new("Diterima", "Accepted"),
        FamilyState::Conflict => Label::new("Konflik", "Conflict"),
        FamilyState::Quarantined => Label::new("Tidak diterima", "Not accepted"),
    }
}

fn area_code(code: &Option<String>) -> String {
    code.clone().unwrap_or_else(|| "?".into())
}

pub(super) fn area_name(code: &Option<String>, name: &Option<String>) -> String {
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

pub(super) fn share_text(s: Share) -> String {
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
        Label::new("Tidak diterima", "Not accepted"),
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
pub(super) struct Label {
    pub(super) id: Cow<'static, str>,
    pub(super) en: Cow<'static, str>,
}

impl Label {
    pub(super) const fn new(id: &'static str, en: &'static str) -> Label {
        Label {
            id: Cow::Borrowed(id),
            en: Cow::Borrowed(en),
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

/// A titled table.
pub(super) struct Section {
    pub(super) title: Label,
    pub(super) table: Table,
    /// Codes used in the table's headings, explained.
    pub(super) legend: Vec<(String, Label)>,
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
pub(super) struct Table {
    pub(super) head: Vec<Label>,
    pub(super) rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(head: Vec<Label>, rows: Vec<Vec<String>>) -> Table {
        Table { head, rows }
    }
}
