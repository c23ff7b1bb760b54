//! The verivali report: per kabupaten/kota, kecamatan and desa, the families on a work package's list,
//! those visited and each outcome (`status_kunjungan`), the new proposals beside them (families entered
//! in a listed desa that were on no list) and the coverage (visited / listed), with the report's date and
//! the data's cut-off (the newest import). Text and JSON; read-only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use uuid::Uuid;

use super::entries::PackageState;
use super::storage::Storage;
use super::{Registry, Result};
use crate::model::household::{self as hh, visit};

/// The counts of one area.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VisitFigures {
    /// On the list of a package (not cancelled).
    pub listed: u64,
    /// Listed, and their current version is a visit.
    pub visited: u64,
    pub found: u64,
    pub moved: u64,
    pub deceased: u64,
    pub not_found: u64,
    pub refused: u64,
    pub duplicate: u64,
    /// Families in a listed desa that were on no list (usulan baru).
    pub new_proposals: u64,
}

impl VisitFigures {
    /// Visited / listed, in percent.
    pub fn coverage(&self) -> Option<f64> {
        (self.listed > 0).then(|| self.visited as f64 * 100.0 / self.listed as f64)
    }

    fn add(&mut self, o: &VisitFigures) {
        self.listed += o.listed;
        self.visited += o.visited;
        self.found += o.found;
        self.moved += o.moved;
        self.deceased += o.deceased;
        self.not_found += o.not_found;
        self.refused += o.refused;
        self.duplicate += o.duplicate;
        self.new_proposals += o.new_proposals;
    }
}

/// One area's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitArea {
    /// `kabkota`, `kecamatan` or `desa`.
    pub level: &'static str,
    pub code: String,
    pub name: Option<String>,
    pub figures: VisitFigures,
    pub coverage_percent: Option<f64>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitReport {
    pub created_at: DateTime<FixedOffset>,
    /// When the newest import ran: nothing later is counted.
    pub data_cut_off: Option<DateTime<FixedOffset>>,
    pub province: VisitFigures,
    pub province_coverage_percent: Option<f64>,
    /// Kabupaten/kota, each followed by its kecamatan, each followed by its desa.
    pub areas: Vec<VisitArea>,
}

impl<S: Storage> Registry<S> {
    /// Counts the visits of every package's families, per area.
    pub fn visit_report(&self, now: DateTime<FixedOffset>) -> Result<VisitReport> {
        let listed: BTreeSet<Uuid> = self
            .packages()?
            .into_iter()
            .filter(|p| p.state != PackageState::Cancelled)
            .flat_map(|p| p.families.into_iter().map(|(f, _)| f))
            .collect();
        // Per desa (its dotted code): figures; and the families on no list per desa.
        let mut desa: BTreeMap<String, VisitFigures> = BTreeMap::new();
        let mut unlisted: BTreeMap<String, u64> = BTreeMap::new();
        self.db.families_with_revisions(|fam, rev| {
            let code = fam
                .facts
                .as_ref()
                .and_then(|f| f.desa.clone())
                .unwrap_or_default();
            if !listed.contains(&fam.family.record) {
                *unlisted.entry(code).or_default() += 1;
                return Ok(());
            }
            let f = desa.entry(code).or_default();
            f.listed += 1;
            if rev.base.is_none() {
                return Ok(());
            }
            f.visited += 1;
            let outcome = rev.answers.get(hh::VISIT_STATUS).and_then(|v| v.as_str());
            match outcome {
                Some(visit::FOUND) => f.found += 1,
                Some(visit::MOVED) => f.moved += 1,
                Some(visit::ALL_DECEASED) => f.deceased += 1,
                Some(visit::NOT_FOUND) => f.not_found += 1,
                Some(visit::REFUSED) => f.refused += 1,
                Some(visit::DUPLICATE) => f.duplicate += 1,
                _ => {}
            }
            Ok(())
        })?;
        for (code, f) in &mut desa {
            f.new_proposals = unlisted.get(code).copied().unwrap_or(0);
        }
        let names = self.region_names();
        let mut province = VisitFigures::default();
        let mut kab: BTreeMap<String, VisitFigures> = BTreeMap::new();
        let mut kec: BTreeMap<String, VisitFigures> = BTreeMap::new();
        for (code, f) in &desa {
            province.add(f);
            kab.entry(prefix(code, 2)).or_default().add(f);
            kec.entry(prefix(code, 3)).or_default().add(f);
        }
        let area = |level, code: &String, f: &VisitFigures| VisitArea {
            level,
            code: code.clone(),
            name: names.get(code).cloned(),
            figures: f.clone(),
            coverage_percent: f.coverage(),
        };
        let mut areas = Vec::new();
        for (k, kf) in &kab {
            areas.push(area("kabkota", k, kf));
            for (c, cf) in kec.iter().filter(|(c, _)| prefix(c, 2) == *k) {
                areas.push(area("kecamatan", c, cf));
                for (d, df) in desa.iter().filter(|(d, _)| prefix(d, 3) == *c) {
                    areas.push(area("desa", d, df));
                }
            }
        }
        Ok(VisitReport {
            created_at: now,
            data_cut_off: self.imports()?.last().map(|i| i.at),
            province_coverage_percent: province.coverage(),
            province,
            areas,
        })
    }

    /// Region names from the newest household form: kabupaten/kota, kecamatan and desa (also the
    /// conflicts queue's, `queue`).
    pub(crate) fn region_names(&self) -> HashMap<String, String> {
        let Some(form) = self.catalog.latest(hh::FORM_ID) else {
            return HashMap::new();
        };
        [hh::KABKOTA, hh::KECAMATAN, hh::DESA]
            .into_iter()
            .filter_map(|name| form.field(name).and_then(|f| form.choices_of(f)))
            .flat_map(|l| l.choices.iter())
            .map(|c| (c.value.clone(), c.label.id.clone()))
            .collect()
    }
}

/// The first `parts` dot-separated parts of a region code (`64.72.01.1001`, 2 → `64.72`).
fn prefix(code: &str, parts: usize) -> String {
    code.split('.').take(parts).collect::<Vec<_>>().join(".")
}

impl VisitReport {
    /// Aligned plain text, headings in both languages.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Laporan kunjungan (verivali) / Visit report — dibuat/made {}, data s.d./cut-off {}",
            self.created_at.format("%Y-%m-%d %H:%M"),
            self.data_cut_off.map_or_else(
                || "-".to_string(),
                |d| d.format("%Y-%m-%d %H:%M").to_string()
            )
        );
        let _ = writeln!(
            s,
            "{:<16} {:<28} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7}",
            "kode/code",
            "wilayah/area",
            "daftar",
            "dikunj.",
            "ditemu",
            "pindah",
            "mening",
            "tdk.ada",
            "tolak",
            "duplik",
            "baru",
            "cakupan"
        );
        let _ = writeln!(
            s,
            "{:<16} {:<28} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7}",
            "",
            "",
            "listed",
            "visited",
            "found",
            "moved",
            "dead",
            "notfnd",
            "refus",
            "dupl",
            "new",
            "cover"
        );
        let row = |s: &mut String, code: &str, name: &str, f: &VisitFigures| {
            let cov = f
                .coverage()
                .map_or_else(|| "-".to_string(), |c| format!("{c:.1}%"));
            let name: String = name.chars().take(28).collect();
            let _ = writeln!(
                s,
                "{code:<16} {name:<28} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {cov:>7}",
                f.listed,
                f.visited,
                f.found,
                f.moved,
                f.deceased,
                f.not_found,
                f.refused,
                f.duplicate,
                f.new_proposals
            );
        };
        for a in &self.areas {
            let indent = match a.level {
                "kabkota" => "",
                "kecamatan" => "  ",
                _ => "    ",
            };
            let code = format!("{indent}{}", a.code);
            row(&mut s, &code, a.name.as_deref().unwrap_or(""), &a.figures);
        }
        row(&mut s, "", "Provinsi / Province", &self.province);
        s
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl VisitReport {
    /// One self-contained page (no scripts, nothing fetched), headings in both languages.
    pub fn to_html(&self) -> String {
        let mut s = String::from(
            "<!DOCTYPE html>\n<html lang=\"id\"><head><meta charset=\"utf-8\">\
             <title>Laporan kunjungan / Visit report</title>\
             <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
             td,th{border:1px solid #444;padding:.3em .6em;text-align:right}\
             td.l,th.l{text-align:left}tr.kabkota{font-weight:bold}tr.total{font-weight:bold;background:#eee}\
             </style></head><body>\n<h1>Laporan kunjungan (verivali) / Visit report</h1>\n",
        );
        let _ = writeln!(
            s,
            "<p>Dibuat / made: {} · data s.d. / data cut-off: {}</p>",
            self.created_at.format("%Y-%m-%d %H:%M"),
            self.data_cut_off.map_or_else(
                || "-".to_string(),
                |d| d.format("%Y-%m-%d %H:%M").to_string()
            )
        );
        s.push_str(
            "<table><tr><th class=\"l\">Kode / code</th><th class=\"l\">Wilayah / area</th>\
             <th>Daftar / listed</th><th>Dikunjungi / visited</th><th>Ditemukan / found</th>\
             <th>Pindah / moved</th><th>Meninggal semua / all deceased</th>\
             <th>Tidak ditemukan / not found</th><th>Menolak / refused</th><th>Duplikat / duplicate</th>\
             <th>Usulan baru / new proposals</th><th>Cakupan / coverage</th></tr>\n",
        );
        let row = |s: &mut String, class: &str, code: &str, name: &str, f: &VisitFigures| {
            let cov = f
                .coverage()
                .map_or_else(|| "-".to_string(), |c| format!("{c:.1}%"));
            let _ = writeln!(
                s,
                "<tr class=\"{class}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{cov}</td></tr>",
                escape(code),
                escape(name),
                f.listed,
                f.visited,
                f.found,
                f.moved,
                f.deceased,
                f.not_found,
                f.refused,
                f.duplicate,
                f.new_proposals
            );
        };
        for a in &self.areas {
            row(
                &mut s,
                a.level,
                &a.code,
                a.name.as_deref().unwrap_or(""),
                &a.figures,
            );
        }
        row(&mut s, "total", "", "Provinsi / Province", &self.province);
        s.push_str("</table>\n</body></html>\n");
        s
    }
}
