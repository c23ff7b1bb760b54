//! The Proposals screen ("Usulan"): at a kabupaten/kota registry the pengesahan of its accepted families
//! (the minutes' reference and date) and their forwarding to the province on a stick; at a province the
//! proposals received per kabupaten/kota, accepted or returned with a reason, and their course per month
//! (lines). The CLI's twins: `registry endorse`, `registry forward`, `registry evaluate`, `registry
//! proposals`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use egui::{Color32, RichText, Ui};

use super::super::i18n::{tr, trf};
use super::super::{TOUCH, primary};
use super::field;
use crate::app::office::Office;
use crate::app::office::chain::{self, Chain, Course, MonthFigures};
use crate::app::task::{Task, Wake};
use crate::model::{Lang, Localized};

const RED: Color32 = Color32::from_rgb(170, 0, 0);
const GREEN: Color32 = Color32::from_rgb(0, 100, 0);

pub struct ChainScreen {
    office: Office,
    wake: Wake,
    reading: Option<Task<Result<Chain, Localized>>>,
    facts: Option<Chain>,
    /// The minutes' reference and the musyawarah's date (dd-mm-yyyy) for a pengesahan.
    pub minutes: String,
    pub date: String,
    /// The desa whose families a pengesahan or a hold is about (empty: every family waiting).
    pub desa: String,
    /// The reason typed for holding the desa's families back.
    pub hold_reason: String,
    /// Where the upward bundle goes (a stick).
    pub folder: String,
    /// The reason typed for returning a kabupaten/kota's proposals, by its code.
    pub reasons: BTreeMap<String, String>,
    working: Option<Task<Result<Localized, Localized>>>,
    /// The last action's outcome, or an error (and whether it is one).
    said: Option<(Localized, bool)>,
}

impl ChainScreen {
    pub fn new(office: Office, wake: Wake) -> ChainScreen {
        let folder = crate::app::drives::removable()
            .first()
            .map(|d| d.path.display().to_string())
            .unwrap_or_default();
        ChainScreen {
            office,
            wake,
            reading: None,
            facts: None,
            minutes: String::new(),
            date: String::new(),
            desa: String::new(),
            hold_reason: String::new(),
            folder,
            reasons: BTreeMap::new(),
            working: None,
            said: None,
        }
    }

    /// Reads the figures again (the last reading stays on screen meanwhile).
    pub fn refresh(&mut self) {
        if self.reading.is_none() {
            let office = self.office.clone();
            self.reading = Some(Task::start("chain", self.wake.clone(), move || {
                chain::read(&office)
            }));
        }
    }

    /// Waits for the work under way (tests, screenshots).
    pub fn wait(&mut self) {
        if let Some(t) = self.working.as_mut()
            && let Ok(r) = t.wait()
        {
            self.working = None;
            self.done(r);
        }
        if let Some(t) = self.reading.as_mut()
            && let Ok(r) = t.wait()
        {
            self.reading = None;
            self.take(r);
        }
    }

    fn take(&mut self, r: Result<Chain, Localized>) {
        match r {
            Ok(c) => self.facts = Some(c),
            Err(e) => self.said = Some((e, true)),
        }
    }

    fn done(&mut self, r: Result<Localized, Localized>) {
        self.said = Some(match r {
            Ok(t) => (t, false),
            Err(e) => (e, true),
        });
        self.refresh();
    }

    fn poll(&mut self) {
        if let Some(t) = self.reading.as_mut()
            && let Some(r) = t.poll()
        {
            self.reading = None;
            if let Ok(r) = r {
                self.take(r);
            }
        }
        if let Some(t) = self.working.as_mut()
            && let Some(r) = t.poll()
        {
            self.working = None;
            self.done(r.unwrap_or_else(|s| Err(Localized::new(s.to_string(), s.to_string()))));
        }
    }

    fn start(
        &mut self,
        work: impl FnOnce(&Office) -> Result<Localized, Localized> + Send + 'static,
    ) {
        let office = self.office.clone();
        self.said = None;
        self.working = Some(Task::start("chain action", self.wake.clone(), move || {
            work(&office)
        }));
    }

    pub fn ui(&mut self, ui: &mut Ui, lang: Lang) {
        self.poll();
        if self.facts.is_none() && self.reading.is_none() && self.said.is_none() {
            self.refresh();
        }
        ui.heading(tr(lang, "office.chain.title"));
        if let Some((text, is_err)) = &self.said {
            let color = if *is_err { RED } else { GREEN };
            ui.label(RichText::new(text.get(lang)).color(color).strong());
        }
        if self.working.is_some() || (self.reading.is_some() && self.facts.is_none()) {
            ui.add(egui::Spinner::new().size(TOUCH));
        }
        match self.facts.clone() {
            Some(Chain::Kabupaten {
                wilayah,
                waiting,
                endorsed,
                held,
                upstream,
            }) => self.kabupaten_ui(ui, lang, wilayah, (waiting, endorsed, held), upstream),
            Some(Chain::Provinsi { proposals, course }) => {
                self.provinsi_ui(ui, lang, &proposals);
                course_ui(ui, lang, &course);
            }
            None => {}
        }
    }

    fn kabupaten_ui(
        &mut self,
        ui: &mut Ui,
        lang: Lang,
        wilayah: Option<String>,
        (waiting, endorsed, held): (u64, u64, u64),
        upstream: Option<(String, String)>,
    ) {
        ui.label(trf(
            lang,
            "office.chain.kab_figures",
            &[
                ("wilayah", wilayah.as_deref().unwrap_or("-")),
                ("waiting", &waiting.to_string()),
                ("endorsed", &endorsed.to_string()),
                ("held", &held.to_string()),
            ],
        ));
        ui.separator();
        self.pengesahan_ui(ui, lang, waiting);
        ui.separator();
        self.forward_ui(ui, lang, upstream.as_ref());
    }

    /// Pengesahan of a desa's families (or of all waiting) with the minutes, or a desa held back.
    fn pengesahan_ui(&mut self, ui: &mut Ui, lang: Lang, waiting: u64) {
        let busy = self.working.is_some();
        ui.label(RichText::new(tr(lang, "office.chain.endorse_title")).strong());
        ui.label(tr(lang, "office.chain.endorse_why"));
        field(
            ui,
            tr(lang, "office.chain.minutes"),
            &mut self.minutes,
            false,
        );
        field(ui, tr(lang, "office.chain.date"), &mut self.date, false);
        field(ui, tr(lang, "office.chain.desa"), &mut self.desa, false);
        let date = super::super::form_view::parse_typed_date(&self.date);
        let desa = Some(self.desa.trim().to_string()).filter(|d| !d.is_empty());
        let ready = !busy
            && (waiting > 0 || desa.is_some())
            && !self.minutes.trim().is_empty()
            && date.is_some();
        let text = match &desa {
            Some(d) => trf(lang, "office.chain.endorse_desa", &[("desa", d)]),
            None => trf(
                lang,
                "office.chain.endorse_do",
                &[("count", &waiting.to_string())],
            ),
        };
        if ui
            .add_enabled(ready, primary(&text).min_size([0.0, TOUCH].into()))
            .clicked()
            && let Some(date) = date
        {
            let minutes = self.minutes.trim().to_string();
            let desa = desa.clone();
            self.start(move |office| {
                chain::endorse(office, desa.as_deref(), &minutes, date, crate::app::now()).map(
                    |n| {
                        Localized::new(
                            format!("{n} keluarga disahkan (berita acara {minutes})"),
                            format!("{n} families endorsed (minutes {minutes})"),
                        )
                    },
                )
            });
        }
        ui.label(tr(lang, "office.chain.hold_why"));
        field(
            ui,
            tr(lang, "office.chain.hold_reason"),
            &mut self.hold_reason,
            false,
        );
        let reason = self.hold_reason.trim().to_string();
        let can_hold = !busy && desa.is_some() && !reason.is_empty();
        let hold_text = trf(
            lang,
            "office.chain.hold_do",
            &[("desa", desa.as_deref().unwrap_or("-"))],
        );
        let hold = egui::Button::new(RichText::new(hold_text).size(18.0))
            .min_size([TOUCH * 2.0, TOUCH].into());
        if ui.add_enabled(can_hold, hold).clicked()
            && let Some(desa) = desa
        {
            self.start(move |office| {
                chain::hold(office, &desa, &reason, crate::app::now()).map(|n| {
                    Localized::new(
                        format!("{n} keluarga desa {desa} ditahan: {reason}"),
                        format!("{n} families of desa {desa} held back: {reason}"),
                    )
                })
            });
        }
    }

    /// Forwarding what was endorsed since the last time to a stick.
    fn forward_ui(&mut self, ui: &mut Ui, lang: Lang, upstream: Option<&(String, String)>) {
        let busy = self.working.is_some();
        ui.label(RichText::new(tr(lang, "office.chain.forward_title")).strong());
        match upstream {
            Some((name, fp)) => {
                ui.label(trf(
                    lang,
                    "office.chain.upstream",
                    &[("name", name), ("fingerprint", fp)],
                ));
            }
            None => {
                ui.label(RichText::new(tr(lang, "office.chain.no_upstream")).color(RED));
            }
        }
        field(ui, tr(lang, "office.chain.folder"), &mut self.folder, false);
        let can = !busy && upstream.is_some() && !self.folder.trim().is_empty();
        let forward =
            egui::Button::new(RichText::new(tr(lang, "office.chain.forward_do")).size(18.0))
                .min_size([TOUCH * 2.0, TOUCH].into());
        if ui.add_enabled(can, forward).clicked() {
            let folder = PathBuf::from(self.folder.trim());
            self.start(move |office| {
                chain::forward(office, &folder, crate::app::now()).map(|(path, n)| {
                    let file = path.display().to_string();
                    Localized::new(
                        format!("{n} keluarga diteruskan ke provinsi: {file}"),
                        format!("{n} families forwarded to the province: {file}"),
                    )
                })
            });
        }
    }

    fn provinsi_ui(
        &mut self,
        ui: &mut Ui,
        lang: Lang,
        proposals: &[crate::registry::evaluate::KabupatenFigures],
    ) {
        ui.label(tr(lang, "office.chain.prov_why"));
        if proposals.is_empty() {
            ui.label(tr(lang, "office.chain.none"));
            return;
        }
        let busy = self.working.is_some();
        let mut action: Option<(String, Option<String>)> = None;
        egui::Grid::new("proposals")
            .striped(true)
            .spacing([18.0, 10.0])
            .show(ui, |ui| {
                for key in [
                    "office.chain.col_kab",
                    "office.chain.col_received",
                    "office.chain.col_new",
                    "office.chain.col_updated",
                    "office.chain.col_accepted",
                    "office.chain.col_returned",
                    "office.chain.col_waiting",
                    "office.chain.col_withdrawn",
                ] {
                    ui.label(RichText::new(tr(lang, key)).strong());
                }
                ui.label("");
                ui.end_row();
                for k in proposals {
                    ui.label(&k.kabkota);
                    for n in [
                        k.received,
                        k.new,
                        k.updated,
                        k.accepted,
                        k.returned,
                        k.waiting,
                        k.withdrawn,
                    ] {
                        ui.label(n.to_string());
                    }
                    ui.horizontal(|ui| {
                        let accept = trf(lang, "office.chain.accept", &[("kab", &k.kabkota)]);
                        if ui
                            .add_enabled(
                                !busy && k.waiting > 0,
                                egui::Button::new(accept).min_size([0.0, TOUCH].into()),
                            )
                            .clicked()
                        {
                            action = Some((k.kabkota.clone(), None));
                        }
                        let reason = self.reasons.entry(k.kabkota.clone()).or_default();
                        let label = ui.label(tr(lang, "office.chain.reason"));
                        ui.add(
                            egui::TextEdit::singleline(reason)
                                .min_size([200.0, TOUCH].into())
                                .desired_width(220.0),
                        )
                        .labelled_by(label.id);
                        let give_back = trf(lang, "office.chain.return", &[("kab", &k.kabkota)]);
                        let can = !busy && k.received > 0 && !reason.trim().is_empty();
                        if ui
                            .add_enabled(
                                can,
                                egui::Button::new(give_back).min_size([0.0, TOUCH].into()),
                            )
                            .clicked()
                        {
                            action = Some((k.kabkota.clone(), Some(reason.trim().to_string())));
                        }
                    });
                    ui.end_row();
                }
            });
        if let Some((kab, returned)) = action {
            self.start(move |office| {
                chain::evaluate_kabupaten(office, &kab, returned.as_deref(), crate::app::now()).map(
                    |n| match returned {
                        None => Localized::new(
                            format!("{n} usulan dari {kab} diterima"),
                            format!("{n} proposals from {kab} accepted"),
                        ),
                        Some(_) => Localized::new(
                            format!("{n} usulan dari {kab} dikembalikan dengan alasan"),
                            format!("{n} proposals from {kab} returned with the reason"),
                        ),
                    },
                )
            });
        }
    }
}

/// Each kabupaten/kota's course per month: a line per figure (egui_plot), and the figures below it.
fn course_ui(ui: &mut Ui, lang: Lang, course: &[Course]) {
    if course.is_empty() {
        return;
    }
    ui.add_space(12.0);
    ui.heading(tr(lang, "office.chain.course_title"));
    for c in course {
        ui.add_space(8.0);
        ui.label(
            RichText::new(trf(lang, "office.chain.course_of", &[("kab", &c.kabkota)])).strong(),
        );
        course_plot(ui, lang, c);
        egui::Grid::new(("course", c.kabkota.as_str()))
            .striped(true)
            .spacing([18.0, 4.0])
            .show(ui, |ui| {
                for key in [
                    "office.chain.col_month",
                    "office.chain.col_received",
                    "office.chain.col_accepted",
                    "office.chain.col_returned",
                    "office.chain.col_waiting_end",
                    "office.chain.col_withdrawn",
                ] {
                    ui.label(RichText::new(tr(lang, key)).strong());
                }
                ui.end_row();
                for m in &c.months {
                    ui.label(&m.month);
                    for n in [m.received, m.accepted, m.returned, m.waiting, m.withdrawn] {
                        ui.label(n.to_string());
                    }
                    ui.end_row();
                }
            });
    }
}

/// Reads one figure of a month.
type Figure = fn(&MonthFigures) -> u64;

/// The lines of a course: received, accepted, returned, waiting, withdrawn over the months.
fn course_plot(ui: &mut Ui, lang: Lang, c: &Course) {
    use egui_plot::{Legend, Line, Plot, PlotPoints};
    let series: [(&str, Color32, Figure); 5] = [
        (
            "office.chain.col_received",
            Color32::from_rgb(43, 108, 176),
            |m| m.received,
        ),
        ("office.chain.col_accepted", GREEN, |m| m.accepted),
        ("office.chain.col_returned", RED, |m| m.returned),
        (
            "office.chain.col_waiting_end",
            Color32::from_rgb(183, 121, 31),
            |m| m.waiting,
        ),
        (
            "office.chain.col_withdrawn",
            Color32::from_rgb(74, 85, 104),
            |m| m.withdrawn,
        ),
    ];
    let names: Vec<String> = c.months.iter().map(|m| m.month.clone()).collect();
    let n = names.len();
    Plot::new(("course_plot", c.kabkota.as_str()))
        .height(220.0)
        .legend(Legend::default().position(egui_plot::Corner::LeftTop))
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .include_y(0.0)
        .x_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 1.0, 1.0]))
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot| {
            for (key, color, get) in series {
                let points: PlotPoints<'_> = c
                    .months
                    .iter()
                    .enumerate()
                    .map(|(i, m)| [i as f64, get(m) as f64])
                    .collect();
                plot.line(Line::new(tr(lang, key), points).color(color).width(2.0));
            }
        });
}
