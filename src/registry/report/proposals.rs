//! The province's proposals report (`registry proposals`): per kabupaten/kota the families its registry
//! forwarded — received (new proposals and updates of families sent out), accepted, returned, waiting,
//! withdrawn — their course per month, and the welfare indicators of the kabupaten/kota's families (the
//! registry report's, `super::Indicators`); with the date and the data's cut-off. Rendered as text,
//! JSON and one self-contained HTML page with a line chart per kabupaten/kota (inline SVG). Pure: the
//! registry reads the proposals (`registry::evaluate`).
//!
//! The course counts each family at its latest forwarding and its latest evaluation: a family is
//! received in the month its latest upward bundle was imported, accepted or returned in the month of
//! the province's decision on the revision it holds now, waiting at the end of every month from its
//! reception until that decision, withdrawn in the month the withdrawal arrived. So the months add up
//! to the totals, and the last month's waiting is the families waiting now.
//!
//! JSON (`ProposalsReport`, field names stable):
//!
//! ```text
//! { "version": 1, "about": {"registry", "made_at", "data_cut_off"},
//!   "months": ["2026-10", "2026-11", …],
//!   "kabupaten": [ {"kabkota": "64.02", "name": "Kutai Kartanegara" | null, "received": n, "new": n,
//!                   "updated": n, "accepted": n, "returned": n, "waiting": n, "withdrawn": n,
//!                   "families": n, "indicators": Indicators (as in the registry report),
//!                   "months": [ {"month": "2026-10", "received", "new", "updated", "accepted",
//!                                "returned", "withdrawn", "waiting"}, … ]}, … ] }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, FixedOffset};
use serde::Serialize;

use super::html::esc;
use super::sections::{INDICATORS, Label, Table, share_text};
use super::{About, Indicators, RegistryReport, ReportFormat};
use crate::registry::evaluate::KabupatenFigures;

pub const PROPOSALS_VERSION: u32 = 1;

const TITLE: Label = Label::new("Usulan per kabupaten/kota", "Proposals per kabupaten/kota");

/// One forwarded family as the report counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub kabkota: String,
    /// A visit of a family sent out in a work package (an update), not a new proposal.
    pub update: bool,
    /// When its latest upward bundle was imported.
    pub received: DateTime<FixedOffset>,
    pub state: ProposalState,
}

/// Where a forwarded family stands at the province.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalState {
    Waiting,
    Accepted(DateTime<FixedOffset>),
    Returned(DateTime<FixedOffset>),
    Withdrawn,
}

/// One month of a kabupaten/kota's course.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MonthFigures {
    /// `YYYY-MM`.
    pub month: String,
    pub received: u64,
    pub new: u64,
    pub updated: u64,
    pub accepted: u64,
    pub returned: u64,
    pub withdrawn: u64,
    /// Received and not decided at the month's end.
    pub waiting: u64,
}

/// One kabupaten/kota's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KabupatenProposals {
    #[serde(flatten)]
    pub figures: KabupatenFigures,
    pub name: Option<String>,
    /// The kabupaten/kota's families at the province (the welfare indicators count them).
    pub families: u64,
    pub indicators: Indicators,
    pub months: Vec<MonthFigures>,
}

/// The report. Build it with [`ProposalsReport::build`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposalsReport {
    pub version: u32,
    pub about: Option<About>,
    /// Every month from the first event to the last (or the data's cut-off), for every kabupaten/kota.
    pub months: Vec<String>,
    pub kabupaten: Vec<KabupatenProposals>,
}

/// The totals per kabupaten/kota, by code.
pub fn totals(proposals: &[Proposal]) -> Vec<KabupatenFigures> {
    let mut rows: BTreeMap<&str, KabupatenFigures> = BTreeMap::new();
    for p in proposals {
        let row = rows
            .entry(p.kabkota.as_str())
            .or_insert_with(|| KabupatenFigures {
                kabkota: p.kabkota.clone(),
                ..KabupatenFigures::default()
            });
        row.received += 1;
        if p.update {
            row.updated += 1;
        } else {
            row.new += 1;
        }
        match p.state {
            ProposalState::Waiting => row.waiting += 1,
            ProposalState::Accepted(_) => row.accepted += 1,
            ProposalState::Returned(_) => row.returned += 1,
            ProposalState::Withdrawn => row.withdrawn += 1,
        }
    }
    rows.into_values().collect()
}

/// A month as a number (year × 12 + month − 1), so months count on by one.
fn month_of(t: &DateTime<FixedOffset>) -> i32 {
    t.year() * 12 + t.month0() as i32
}

fn month_name(m: i32) -> String {
    format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1)
}

impl ProposalsReport {
    /// The report of these proposals, with the welfare indicators of `welfare`'s kabupaten/kota.
    pub fn build(
        proposals: &[Proposal],
        welfare: &RegistryReport,
        about: About,
    ) -> ProposalsReport {
        let events = proposals.iter().flat_map(|p| {
            let decided = match p.state {
                ProposalState::Accepted(t) | ProposalState::Returned(t) => Some(month_of(&t)),
                _ => None,
            };
            [Some(month_of(&p.received)), decided].into_iter().flatten()
        });
        let cut = about.data_cut_off.as_ref().map(month_of);
        let first = events.clone().min();
        let last = events.chain(cut).max();
        let months: Vec<String> = match (first, last) {
            (Some(a), Some(b)) => (a..=b.max(a)).map(month_name).collect(),
            _ => Vec::new(),
        };
        let start = first.unwrap_or(0);
        let kabupaten = totals(proposals)
            .into_iter()
            .map(|figures| {
                let mut course: Vec<MonthFigures> = months
                    .iter()
                    .map(|m| MonthFigures {
                        month: m.clone(),
                        ..MonthFigures::default()
                    })
                    .collect();
                for p in proposals.iter().filter(|p| p.kabkota == figures.kabkota) {
                    count(&mut course, start, p);
                }
                let area = welfare
                    .kabupaten
                    .iter()
                    .find(|k| k.code.as_deref() == Some(figures.kabkota.as_str()));
                KabupatenProposals {
                    name: area.and_then(|k| k.name.clone()),
                    families: area.map_or(0, |k| k.figures.families),
                    indicators: area.map(|k| k.figures.indicators).unwrap_or_default(),
                    figures,
                    months: course,
                }
            })
            .collect();
        ProposalsReport {
            version: PROPOSALS_VERSION,
            about: Some(about),
            months,
            kabupaten,
        }
    }

    pub fn render(&self, format: ReportFormat) -> Result<String, serde_json::Error> {
        Ok(match format {
            ReportFormat::Text => self.to_text(),
            ReportFormat::Json => serde_json::to_string_pretty(self)?,
            ReportFormat::Html => self.to_html(),
        })
    }
}

/// Adds one family to its kabupaten/kota's months (starting at month number `start`).
fn count(course: &mut [MonthFigures], start: i32, p: &Proposal) {
    let at = |m: i32| usize::try_from(m - start).ok();
    let received = month_of(&p.received);
    if let Some(m) = at(received).and_then(|i| course.get_mut(i)) {
        m.received += 1;
        if p.update {
            m.updated += 1;
        } else {
            m.new += 1;
        }
        if p.state == ProposalState::Withdrawn {
            m.withdrawn += 1;
        }
    }
    let decided = match p.state {
        ProposalState::Waiting => None,
        ProposalState::Accepted(t) | ProposalState::Returned(t) => Some(month_of(&t).max(received)),
        ProposalState::Withdrawn => return,
    };
    if let Some(m) = decided.and_then(at).and_then(|i| course.get_mut(i)) {
        match p.state {
            ProposalState::Accepted(_) => m.accepted += 1,
            _ => m.returned += 1,
        }
    }
    let from = at(received).unwrap_or(0);
    let to = decided.and_then(at).unwrap_or(course.len());
    for m in course.iter_mut().take(to).skip(from) {
        m.waiting += 1;
    }
}

/// The lines of the course, in chart order: (label, colour, the figure of a month).
type Series = (Label, &'static str, fn(&MonthFigures) -> u64);

static SERIES: [Series; 5] = [
    (Label::new("Diterima", "Received"), "#2b6cb0", |m| {
        m.received
    }),
    (Label::new("Disetujui", "Accepted"), "#2f855a", |m| {
        m.accepted
    }),
    (Label::new("Dikembalikan", "Returned"), "#c53030", |m| {
        m.returned
    }),
    (Label::new("Menunggu", "Waiting"), "#d69e2e", |m| m.waiting),
    (Label::new("Ditarik", "Withdrawn"), "#718096", |m| {
        m.withdrawn
    }),
];

impl ProposalsReport {
    fn totals_table(&self) -> Table {
        let mut head = vec![
            Label::new("Kode", "Code"),
            Label::new("Kabupaten/kota", "Kabupaten/kota"),
            Label::new("Diterima", "Received"),
            Label::new("Baru", "New"),
            Label::new("Ubahan", "Updated"),
            Label::new("Disetujui", "Accepted"),
            Label::new("Dikembalikan", "Returned"),
            Label::new("Menunggu", "Waiting"),
            Label::new("Ditarik", "Withdrawn"),
            Label::new("Keluarga", "Families"),
        ];
        head.extend(INDICATORS.iter().map(|(_, l)| l.clone()));
        let rows = self
            .kabupaten
            .iter()
            .map(|k| {
                let f = &k.figures;
                let mut r = vec![f.kabkota.clone(), k.name.clone().unwrap_or_default()];
                r.extend(
                    [
                        f.received,
                        f.new,
                        f.updated,
                        f.accepted,
                        f.returned,
                        f.waiting,
                        f.withdrawn,
                        k.families,
                    ]
                    .iter()
                    .map(u64::to_string),
                );
                r.extend(
                    INDICATORS
                        .iter()
                        .map(|(get, _)| share_text(get(&k.indicators))),
                );
                r
            })
            .collect();
        Table::new(head, rows)
    }

    fn months_table(k: &KabupatenProposals) -> Table {
        let head = vec![
            Label::new("Bulan", "Month"),
            Label::new("", ""),
            Label::new("Diterima", "Received"),
            Label::new("Baru", "New"),
            Label::new("Ubahan", "Updated"),
            Label::new("Disetujui", "Accepted"),
            Label::new("Dikembalikan", "Returned"),
            Label::new("Ditarik", "Withdrawn"),
            Label::new("Menunggu (akhir bulan)", "Waiting (month's end)"),
        ];
        let rows = k
            .months
            .iter()
            .map(|m| {
                let mut r = vec![m.month.clone(), String::new()];
                r.extend(
                    [
                        m.received,
                        m.new,
                        m.updated,
                        m.accepted,
                        m.returned,
                        m.withdrawn,
                        m.waiting,
                    ]
                    .iter()
                    .map(u64::to_string),
                );
                r
            })
            .collect();
        Table::new(head, rows)
    }

    fn area(k: &KabupatenProposals) -> String {
        match &k.name {
            Some(n) => format!("{} {n}", k.figures.kabkota),
            None => k.figures.kabkota.clone(),
        }
    }

    /// Aligned plain-text tables, Indonesian headings over English ones.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let title = format!("{} — {}", TITLE.id, TITLE.en);
        let _ = writeln!(out, "{title}\n{}", "=".repeat(title.chars().count()));
        if let Some(a) = &self.about {
            let _ = writeln!(out, "{}", a.line());
        }
        out.push('\n');
        out.push_str(&self.totals_table().to_text());
        for k in &self.kabupaten {
            let heading = format!("Per bulan — per month: {}", Self::area(k));
            let _ = writeln!(out, "\n{heading}\n{}", "-".repeat(heading.chars().count()));
            out.push_str(&Self::months_table(k).to_text());
        }
        out
    }

    /// One self-contained page: no scripts, fonts or images from elsewhere; the course of each
    /// kabupaten/kota as an inline SVG line chart above its table.
    pub fn to_html(&self) -> String {
        let mut h = super::html::page_head(&TITLE, self.about.as_ref());
        h.push_str("<section>\n<h2>Usulan dan indikator kesejahteraan<br><small>Proposals and welfare indicators</small></h2>\n");
        h.push_str(&self.totals_table().to_html());
        h.push_str("</section>\n");
        for k in &self.kabupaten {
            let _ = write!(
                h,
                "<section>\n<h2>Per bulan: {}<br><small>Per month: {}</small></h2>\n<figure>\n",
                esc(&Self::area(k)),
                esc(&Self::area(k))
            );
            h.push_str(&line_chart(&k.months));
            h.push_str("<figcaption>");
            for (label, color, _) in &SERIES {
                let _ = write!(
                    h,
                    "<span class=\"key\" style=\"background:{color}\"></span>{} <small>{}</small> ",
                    esc(&label.id),
                    esc(&label.en)
                );
            }
            h.push_str("</figcaption>\n</figure>\n");
            h.push_str(&Self::months_table(k).to_html());
            h.push_str("</section>\n");
        }
        h.push_str("</body>\n</html>\n");
        h
    }
}

/// The course as lines over the months (inline SVG): one polyline per series, a point per month.
fn line_chart(months: &[MonthFigures]) -> String {
    const LEFT: f64 = 50.0;
    const TOP: f64 = 10.0;
    const PLOT_W: f64 = 560.0;
    const PLOT_H: f64 = 200.0;
    let (width, height) = (LEFT + PLOT_W + 20.0, TOP + PLOT_H + 40.0);
    let max = months
        .iter()
        .flat_map(|m| SERIES.iter().map(move |(_, _, get)| get(m)))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = if months.len() > 1 {
        PLOT_W / (months.len() - 1) as f64
    } else {
        0.0
    };
    let x = |i: usize| LEFT + step * i as f64 + if months.len() > 1 { 0.0 } else { PLOT_W / 2.0 };
    let y = |v: u64| TOP + PLOT_H - v as f64 / max * PLOT_H;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\">\n\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#a0aec0\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#a0aec0\"/>\n\
         <text x=\"{t}\" y=\"{top_text}\" text-anchor=\"end\">{max}</text>\n\
         <text x=\"{t}\" y=\"{b}\" text-anchor=\"end\">0</text>\n",
        b = TOP + PLOT_H,
        r = LEFT + PLOT_W,
        t = LEFT - 6.0,
        top_text = TOP + 10.0,
    );
    // At most about twelve month labels, evenly spaced.
    let every = months.len().div_ceil(12).max(1);
    for (i, m) in months.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(i),
            TOP + PLOT_H + 18.0,
            esc(&m.month)
        );
    }
    for (_, color, get) in &SERIES {
        let points: Vec<String> = months
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{:.1},{:.1}", x(i), y(get(m))))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        for p in &points {
            if let Some((px, py)) = p.split_once(',') {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"{color}\"/>"
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(&format!("{s}T10:00:00+08:00")).unwrap()
    }

    fn p(kab: &str, received: &str, state: ProposalState) -> Proposal {
        Proposal {
            kabkota: kab.into(),
            update: false,
            received: day(received),
            state,
        }
    }

    #[test]
    fn the_months_add_up_to_the_totals_and_waiting_is_counted_at_each_months_end() {
        use ProposalState::*;
        let list = vec![
            p("64.02", "2026-09-10", Accepted(day("2026-11-02"))),
            p("64.02", "2026-09-12", Returned(day("2026-09-20"))),
            p("64.02", "2026-10-01", Waiting),
            p("64.02", "2026-11-05", Withdrawn),
            p("64.07", "2026-11-30", Waiting),
        ];
        let about = About {
            registry: "Kaltim".into(),
            made_at: day("2026-12-03"),
            data_cut_off: Some(day("2026-12-01")),
        };
        let welfare = RegistryReport::build(Vec::new(), None, &super::super::Names::default());
        let r = ProposalsReport::build(&list, &welfare, about);
        assert_eq!(r.months, ["2026-09", "2026-10", "2026-11", "2026-12"]);
        let k = &r.kabupaten[0];
        let col = |get: fn(&MonthFigures) -> u64| k.months.iter().map(get).collect::<Vec<_>>();
        assert_eq!(col(|m| m.received), [2, 1, 1, 0]);
        assert_eq!(col(|m| m.accepted), [0, 0, 1, 0]);
        assert_eq!(col(|m| m.returned), [1, 0, 0, 0]);
        assert_eq!(col(|m| m.withdrawn), [0, 0, 1, 0]);
        assert_eq!(col(|m| m.waiting), [1, 2, 1, 1]);
        assert_eq!(
            (k.figures.received, k.figures.accepted, k.figures.waiting),
            (4, 1, 1)
        );
        let html = r.to_html();
        assert_eq!(html.matches("<svg").count(), 2);
        assert_eq!(html.matches("<polyline").count(), 2 * SERIES.len());
        for outside in ["<script", "src=", "href=", "url("] {
            assert!(!html.contains(outside), "{outside}");
        }
        assert!(html.contains("Menunggu") && html.contains("Waiting"));
        let text = r.to_text();
        assert!(
            text.contains("2026-11") && text.contains("data cut-off 2026-12-01"),
            "{text}"
        );
    }
}
