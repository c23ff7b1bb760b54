//! The report as one self-contained HTML page: no scripts, fonts or images from elsewhere; tables, and
//! charts drawn as inline SVG.

use std::fmt::Write as _;

use super::sections::{INDICATORS, PROVINCE, TITLE, Table, area_name, state_label};
use super::{FamilyState, RegistryReport};

const STATE_COLORS: [&str; 3] = ["#2f855a", "#d69e2e", "#c53030"];

impl RegistryReport {
    /// One self-contained HTML page: no scripts, fonts or images from elsewhere; charts are inline SVG.
    pub fn to_html(&self) -> String {
        let mut h = page_head(&TITLE, self.about.as_ref());
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

impl Table {
    pub(super) fn to_html(&self) -> String {
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
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::model::printable::clean(s).chars() {
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

/// A report page's start, up to its heading: the title in Indonesian and English, the styles, and the
/// line with the date and the data's cut-off when there is one.
pub(super) fn page_head(title: &super::sections::Label, about: Option<&super::About>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"id\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}<br><small>{}</small></h1>\n",
        esc(&title.id),
        esc(&title.en),
        esc(&title.id),
        esc(&title.en)
    );
    if let Some(a) = about {
        let _ = writeln!(h, "<p class=\"about\">{}</p>", esc(&a.line()));
    }
    h
}

pub(super) const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#1a202c}\
h1,h2{font-weight:600}h1 small,h2 small,th small,figcaption small,li small{font-weight:normal;color:#4a5568;font-size:.8em}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #cbd5e0;padding:.25em .6em;text-align:left}\
.n{text-align:right}tbody tr:last-child{font-weight:600}svg text{font-size:12px;fill:#1a202c}\
.charts{display:flex;flex-wrap:wrap;gap:1em}.key{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em;vertical-align:middle}\
figure{margin:1em 0}";

#[cfg(test)]
mod tests {
    use super::super::Names;
    use super::super::fixtures::sample;
    use super::*;
    use crate::model::Localized;

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
        let html = RegistryReport::build(sample(), None, &names).to_html();
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
