//! The dashboard: per kabupaten/kota (a tap opens its kecamatan) the families, accepted, waiting for a
//! decision, the welfare indicators and the change since a chosen date, as a chart and a table, with the
//! date and the data's cut-off. Read in a background task; the last reading stays on screen meanwhile.

use chrono::NaiveDate;
use egui::{Color32, RichText, Ui};
use egui_plot::{Bar, BarChart, Legend, Plot};

use super::super::i18n::{tr, trf};
use super::super::{TOUCH, big_button};
use crate::app::office::Office;
use crate::app::office::dashboard::{self, Dashboard, Figures, Share};
use crate::app::office::session::OfficeError;
use crate::app::task::{Task, Wake};
use crate::model::{Lang, Localized};

/// Accepted families' bars (white text on it keeps 7:1).
const ACCEPTED: Color32 = Color32::from_rgb(0, 90, 30);
/// Families waiting for a decision.
const WAITING: Color32 = Color32::from_rgb(170, 70, 0);

/// One row of the table: an area's name and figures.
struct Row<'a> {
    name: String,
    figures: &'a Figures,
}

pub struct DashboardScreen {
    office: Office,
    wake: Wake,
    /// The day changes are counted from, as typed (dd-mm-yyyy); empty: since the import before the last.
    pub since: String,
    reading: Option<Task<Result<Dashboard, OfficeError>>>,
    shown: Option<Dashboard>,
    error: Option<Localized>,
    /// The kabupaten/kota opened (its index in the report), showing its kecamatan.
    pub opened: Option<usize>,
}

impl DashboardScreen {
    pub fn new(office: Office, wake: Wake) -> DashboardScreen {
        DashboardScreen {
            office,
            wake,
            since: String::new(),
            reading: None,
            shown: None,
            error: None,
            opened: None,
        }
    }

    /// Reads the figures again (the last reading stays on screen meanwhile).
    pub fn refresh(&mut self) {
        if self.reading.is_none() {
            self.read();
        }
    }

    /// Starts a reading (the report reads every family: never on the frame).
    fn read(&mut self) {
        let office = self.office.clone();
        let since = parse_day(&self.since);
        self.reading = Some(Task::start("dashboard", self.wake.clone(), move || {
            dashboard::read(&office, since, crate::app::now())
        }));
    }

    /// Waits for the reading under way (tests, screenshots).
    pub fn wait(&mut self) {
        if let Some(t) = self.reading.as_mut()
            && let Ok(r) = t.wait()
        {
            self.take(r);
        }
    }

    fn take(&mut self, r: Result<Dashboard, OfficeError>) {
        match r {
            Ok(d) => {
                self.shown = Some(d);
                self.error = None;
            }
            Err(e) => self.error = Some(e.text()),
        }
    }

    fn poll(&mut self) {
        if self.shown.is_none() && self.reading.is_none() {
            self.read();
        }
        if let Some(t) = self.reading.as_mut()
            && let Some(r) = t.poll()
        {
            self.reading = None;
            match r {
                Ok(r) => self.take(r),
                Err(_) => self.error = Some(OfficeError::Stopped.text()),
            }
        }
    }

    pub fn ui(&mut self, ui: &mut Ui, lang: Lang) {
        self.poll();
        ui.heading(tr(lang, "office.dashboard.title"));
        self.since_ui(ui, lang);
        if let Some(e) = &self.error {
            ui.colored_label(Color32::from_rgb(160, 0, 0), e.get(lang));
        }
        let Some(d) = self.shown.take() else {
            ui.label(tr(lang, "office.reading"));
            ui.spinner();
            return;
        };
        about_ui(ui, lang, &d);
        let r = &d.report;
        match self.opened.and_then(|i| r.kabupaten.get(i)) {
            None => {
                let rows: Vec<Row> = r
                    .kabupaten
                    .iter()
                    .map(|k| Row {
                        name: area_name(lang, k.name.as_deref(), k.code.as_deref()),
                        figures: &k.figures,
                    })
                    .collect();
                chart_ui(ui, lang, &rows);
                ui.label(RichText::new(tr(lang, "office.dashboard.tap")).small());
                if let Some(i) = table_ui(ui, lang, &rows, Some(&r.province)) {
                    self.opened = Some(i);
                }
            }
            Some(k) => {
                let name = area_name(lang, k.name.as_deref(), k.code.as_deref());
                ui.horizontal(|ui| {
                    if big_button(ui, tr(lang, "office.dashboard.all")).clicked() {
                        self.opened = None;
                    }
                    ui.heading(&name);
                });
                let rows: Vec<Row> = k
                    .kecamatan
                    .iter()
                    .map(|c| Row {
                        name: area_name(lang, c.name.as_deref(), c.code.as_deref()),
                        figures: &c.figures,
                    })
                    .collect();
                chart_ui(ui, lang, &rows);
                table_ui(ui, lang, &rows, Some(&k.figures));
            }
        }
        self.shown = Some(d);
    }

    fn since_ui(&mut self, ui: &mut Ui, lang: Lang) {
        ui.horizontal(|ui| {
            let label = ui.label(tr(lang, "office.dashboard.since"));
            ui.add(
                egui::TextEdit::singleline(&mut self.since)
                    .hint_text("dd-mm-yyyy")
                    .min_size([160.0, TOUCH].into())
                    .desired_width(170.0),
            )
            .labelled_by(label.id);
            let busy = self.reading.is_some();
            if ui
                .add_enabled(
                    !busy,
                    egui::Button::new(tr(lang, "office.dashboard.refresh"))
                        .min_size([TOUCH * 2.0, TOUCH].into()),
                )
                .clicked()
            {
                self.read();
            }
            if busy {
                ui.spinner();
            }
        });
        if !self.since.trim().is_empty() && parse_day(&self.since).is_none() {
            ui.colored_label(
                Color32::from_rgb(160, 0, 0),
                tr(lang, "office.dashboard.bad_date"),
            );
        }
    }
}

/// A day typed as dd-mm-yyyy (or yyyy-mm-dd).
fn parse_day(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%d-%m-%Y")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
        .ok()
}

fn area_name(lang: Lang, name: Option<&str>, code: Option<&str>) -> String {
    match (name, code) {
        (Some(n), _) => crate::model::printable::clean(n).into_owned(),
        (None, Some(c)) => c.to_string(),
        (None, None) => tr(lang, "office.dashboard.unknown_area").to_string(),
    }
}

/// The registry's name, when the figures were read and the data's cut-off.
fn about_ui(ui: &mut Ui, lang: Lang, d: &Dashboard) {
    let Some(about) = &d.report.about else { return };
    let made = about.made_at.format("%d-%m-%Y %H:%M").to_string();
    let cut = about.data_cut_off.map_or_else(
        || tr(lang, "office.dashboard.no_import").to_string(),
        |t| t.format("%d-%m-%Y %H:%M").to_string(),
    );
    ui.label(
        RichText::new(trf(
            lang,
            "office.dashboard.about",
            &[("made", &made), ("cutoff", &cut)],
        ))
        .strong(),
    );
    match d.compared_with {
        Some(t) => ui.label(trf(
            lang,
            "office.dashboard.compared",
            &[("date", &t.format("%d-%m-%Y %H:%M").to_string())],
        )),
        None => ui.label(tr(lang, "office.dashboard.not_compared")),
    };
}

/// Accepted and waiting families per area: stacked horizontal bars, the areas' names beside them.
fn chart_ui(ui: &mut Ui, lang: Lang, rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    // The first area at the top.
    let at = |i: usize| (rows.len() - 1 - i) as f64;
    let bars = |value: &dyn Fn(&Figures) -> u64, color: Color32| -> Vec<Bar> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                Bar::new(at(i), value(r.figures) as f64)
                    .name(&r.name)
                    .fill(color)
                    .stroke(egui::Stroke::new(1.0, color))
            })
            .collect()
    };
    let accepted = BarChart::new(
        tr(lang, "office.col.accepted"),
        bars(&|f| f.states.accepted, ACCEPTED),
    )
    .color(ACCEPTED)
    .width(0.7)
    .horizontal();
    let waiting = BarChart::new(
        tr(lang, "office.col.waiting"),
        bars(&dashboard::waiting, WAITING),
    )
    .color(WAITING)
    .width(0.7)
    .horizontal()
    .stack_on(&[&accepted]);
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let n = names.len();
    Plot::new("office_chart")
        .height((n as f32 * 30.0).clamp(140.0, 420.0))
        .legend(Legend::default().position(egui_plot::Corner::RightBottom))
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_y(false)
        .include_x(0.0)
        .y_axis_min_width(260.0)
        .y_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 1.0, 1.0]))
        .y_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                names.get(n - 1 - i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot| {
            plot.bar_chart(accepted);
            plot.bar_chart(waiting);
        });
}

fn percent(s: &Share) -> String {
    s.percent()
        .map_or_else(|| "–".into(), |p| format!("{p:.1}%"))
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

/// The table: one row per area (its name a button when `rows` are kabupaten/kota), then the total.
/// Returns the row tapped.
fn table_ui(ui: &mut Ui, lang: Lang, rows: &[Row], total: Option<&Figures>) -> Option<usize> {
    let mut tapped = None;
    let heads = [
        "office.col.area",
        "office.col.families",
        "office.col.accepted",
        "office.col.waiting",
        "office.col.change",
        "office.col.earth_floor",
        "office.col.no_electricity",
        "office.col.no_toilet",
        "office.col.pkh",
        "office.col.sembako",
    ];
    egui::Grid::new("office_table")
        .striped(true)
        .spacing([14.0, 8.0])
        .show(ui, |ui| {
            // Two lines a heading: the table fits beside the navigation at 1280 px.
            for h in heads {
                ui.label(RichText::new(tr(lang, h).replacen(' ', "\n", 1)).strong());
            }
            ui.end_row();
            for (i, r) in rows.iter().enumerate() {
                if ui
                    .add(egui::Button::new(&r.name).min_size([TOUCH * 2.0, TOUCH].into()))
                    .clicked()
                {
                    tapped = Some(i);
                }
                figures_row(ui, r.figures);
            }
            if let Some(t) = total {
                ui.label(RichText::new(tr(lang, "office.col.total")).strong());
                figures_row(ui, t);
            }
        });
    tapped
}

fn figures_row(ui: &mut Ui, f: &Figures) {
    ui.label(f.families.to_string());
    ui.label(f.states.accepted.to_string());
    ui.label(dashboard::waiting(f).to_string());
    ui.label(f.change.map_or_else(|| "–".into(), |c| signed(c.families)));
    let i = &f.indicators;
    for s in [
        &i.earth_floor,
        &i.no_electricity,
        &i.no_own_toilet,
        &i.pkh,
        &i.sembako,
    ] {
        ui.label(percent(s));
    }
    ui.end_row();
}
