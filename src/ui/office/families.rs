//! The families screen: search as one types, and a family's page with its whole history.

use egui::{Color32, RichText, Ui};
use uuid::Uuid;

use crate::app::office::Office;
use crate::app::office::families::{self as f, FamilyPage, FamilyState, Found, NameIndex, Outcome};
use crate::app::task::{Task, Wake};
use crate::model::{Lang, Localized};
use crate::ui::i18n::{tr, trf};
use crate::ui::{TOUCH, big_button};

type NameTask = Task<Result<NameIndex, Localized>, u64>;

/// The screen's state, kept by the office shell while the window is open. The shell makes it once after
/// sign-in and calls [`FamiliesScreen::ui`] every frame while it is shown.
pub struct FamiliesScreen {
    office: Office,
    wake: Wake,
    query: String,
    /// The name index once built (shared with the searches running on it).
    names: Option<std::sync::Arc<NameIndex>>,
    building: Option<NameTask>,
    /// Names read so far while building.
    built: u64,
    /// The newest search; an older one still running is dropped (its result goes nowhere).
    searching: Option<Task<Result<Found, Localized>>>,
    found: Found,
    opening: Option<Task<Result<Option<FamilyPage>, Localized>>>,
    page: Option<FamilyPage>,
    error: Option<Localized>,
}

/// Builds the name index in the background (every family read once).
fn build_names(office: &Office, wake: &Wake) -> NameTask {
    let office = office.clone();
    Task::with_updates("office-names", wake.clone(), move |up| {
        f::name_index(&office, |n| {
            up.send(n);
        })
    })
}

impl FamiliesScreen {
    pub fn new(office: Office, wake: Wake) -> FamiliesScreen {
        let building = build_names(&office, &wake);
        FamiliesScreen {
            office,
            wake,
            query: String::new(),
            names: None,
            building: Some(building),
            built: 0,
            searching: None,
            found: Found::default(),
            opening: None,
            page: None,
            error: None,
        }
    }

    /// Starts a search of what is typed now; the result of an earlier one is no longer wanted.
    fn search(&mut self) {
        let office = self.office.clone();
        let names = self.names.clone();
        let query = self.query.clone();
        self.searching = Some(Task::start("office-search", self.wake.clone(), move || {
            f::search(&office, names.as_deref(), &query)
        }));
    }

    fn open(&mut self, record: Uuid) {
        let office = self.office.clone();
        self.opening = Some(Task::start("office-family", self.wake.clone(), move || {
            f::page(&office, record)
        }));
    }

    fn poll(&mut self) {
        if let Some(task) = &mut self.building {
            while let Some(n) = task.update() {
                self.built = n;
            }
            if let Some(r) = task.poll() {
                self.building = None;
                match r {
                    Ok(Ok(ix)) => {
                        self.names = Some(std::sync::Arc::new(ix));
                        // What was typed meanwhile is searched again, names included.
                        self.search();
                    }
                    Ok(Err(e)) => self.error = Some(e),
                    Err(e) => self.error = Some(Localized::new(e.to_string(), e.to_string())),
                }
            }
        }
        if let Some(r) = self.searching.as_mut().and_then(Task::poll) {
            self.searching = None;
            match r {
                Ok(Ok(found)) if found.query == self.query => {
                    if found.stale && self.building.is_none() {
                        // Families imported since: names are read again (the old index serves meanwhile).
                        self.building = Some(build_names(&self.office, &self.wake));
                    }
                    self.found = found;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => self.error = Some(e),
                Err(e) => self.error = Some(Localized::new(e.to_string(), e.to_string())),
            }
        }
        if let Some(r) = self.opening.as_mut().and_then(Task::poll) {
            self.opening = None;
            match r {
                Ok(Ok(page)) => self.page = page,
                Ok(Err(e)) => self.error = Some(e),
                Err(e) => self.error = Some(Localized::new(e.to_string(), e.to_string())),
            }
        }
    }

    /// Draws the screen into `ui` (the shell's central panel).
    pub fn ui(&mut self, ui: &mut Ui, lang: Lang) {
        self.poll();
        if let Some(e) = &self.error {
            ui.colored_label(Color32::from_rgb(160, 0, 0), e.get(lang));
        }
        if self.page.is_some() {
            self.page_ui(ui, lang);
            return;
        }
        ui.heading(tr(lang, "office.families.title"));
        let label = ui.label(tr(lang, "office.families.search"));
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut self.query)
                    .min_size([320.0, TOUCH].into())
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        if r.changed() {
            self.search();
        }
        if self.building.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(trf(
                    lang,
                    "office.families.preparing",
                    &[("n", &self.built.to_string())],
                ));
            });
        }
        if self.searching.is_some() || self.opening.is_some() {
            ui.spinner();
        }
        self.results_ui(ui, lang);
    }

    fn results_ui(&mut self, ui: &mut Ui, lang: Lang) {
        if self.found.query.trim().chars().count() >= 2 && self.found.rows.is_empty() {
            ui.label(tr(lang, "office.families.none"));
            return;
        }
        if self.found.more {
            ui.label(trf(
                lang,
                "office.families.more",
                &[("n", &f::LIMIT.to_string())],
            ));
        }
        let mut open = None;
        egui::ScrollArea::vertical()
            .id_salt("office-families-list")
            .auto_shrink([false, false])
            .show_rows(ui, TOUCH, self.found.rows.len(), |ui, range| {
                for row in self.found.rows.get(range).unwrap_or_default() {
                    let desa = row
                        .desa_name
                        .clone()
                        .or_else(|| row.desa.clone())
                        .unwrap_or_default();
                    let text = format!(
                        "{} · KK {} · {desa} · {}",
                        row.name,
                        row.kk.as_deref().unwrap_or("—"),
                        state_word(lang, row.state)
                    );
                    let r =
                        ui.add_sized([ui.available_width(), TOUCH - 4.0], egui::Button::new(text));
                    if r.clicked() {
                        open = Some(row.record);
                    }
                }
            });
        if let Some(record) = open {
            self.open(record);
        }
    }

    fn page_ui(&mut self, ui: &mut Ui, lang: Lang) {
        if big_button(ui, tr(lang, "office.families.back")).clicked() {
            self.page = None;
            return;
        }
        let Some(page) = &self.page else {
            return;
        };
        let fam = &page.family;
        ui.heading(&fam.name);
        ui.label(format!(
            "KK {} · {} · {}",
            fam.kk.as_deref().unwrap_or("—"),
            fam.desa_name
                .clone()
                .or_else(|| fam.desa.clone())
                .unwrap_or_default(),
            state_word(lang, fam.state)
        ));
        egui::ScrollArea::vertical()
            .id_salt("office-family-page")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading(tr(lang, "office.families.history"));
                for h in &page.history {
                    history_ui(ui, lang, h);
                }
                ui.separator();
                ui.heading(tr(lang, "office.families.current"));
                // Two columns sharing the width, their texts wrapping: a long answer (an address, a
                // location) stays on the screen.
                let half = ((ui.available_width() - 24.0) / 2.0).max(120.0);
                egui::Grid::new("office-family-answers")
                    .striped(true)
                    .num_columns(2)
                    .min_col_width(half)
                    .max_col_width(half)
                    .show(ui, |ui| {
                        for row in &page.current {
                            ui.add(egui::Label::new(row.label.get(lang)).wrap());
                            ui.add(
                                egui::Label::new(row.values.first().map_or("—", String::as_str))
                                    .wrap(),
                            );
                            ui.end_row();
                        }
                    });
            });
    }
}

fn history_ui(ui: &mut Ui, lang: Lang, h: &f::HistoryLine) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        let at =
            h.at.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
        ui.label(
            RichText::new(trf(
                lang,
                "office.families.revision",
                &[
                    ("n", &h.revision.to_string()),
                    ("device", &h.device_name),
                    ("id", &crate::bundle::short(h.device)),
                    ("petugas", &h.petugas),
                    ("at", &at),
                ],
            ))
            .strong(),
        );
        ui.label(outcome_word(lang, h.outcome));
        for d in &h.decisions {
            ui.label(trf(
                lang,
                "office.families.decision",
                &[
                    ("what", action_word(lang, &d.action)),
                    ("who", &d.who),
                    ("at", &d.at.format("%Y-%m-%d %H:%M").to_string()),
                    ("why", d.reason.as_deref().unwrap_or("—")),
                ],
            ));
        }
    });
}

/// A family's state in the words of the report and `registry status`.
fn state_word(lang: Lang, s: FamilyState) -> &'static str {
    tr(
        lang,
        match s {
            FamilyState::Accepted => "office.families.state_accepted",
            FamilyState::Conflict => "office.families.state_conflict",
            FamilyState::Quarantined => "office.families.state_not_accepted",
        },
    )
}

fn outcome_word(lang: Lang, o: Outcome) -> &'static str {
    tr(
        lang,
        match o {
            Outcome::Current => "office.families.outcome_current",
            Outcome::Earlier => "office.families.outcome_earlier",
            Outcome::Waiting => "office.families.outcome_waiting",
            Outcome::Rejected => "office.families.outcome_rejected",
            Outcome::InConflict => "office.families.outcome_conflict",
        },
    )
}

fn action_word(lang: Lang, action: &str) -> &str {
    let key = match action {
        "quarantine.release" => "office.families.action_release",
        "quarantine.reject" => "office.families.action_reject",
        "conflict.keep" => "office.families.action_keep",
        "conflict.distinct" => "office.families.action_distinct",
        "conflict.same" => "office.families.action_same",
        other => return other,
    };
    tr(lang, key)
}
