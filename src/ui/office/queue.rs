//! The work queue screen: quarantine, conflicts and update conflicts in one list, filtered, decided one at a time or for a filtered set.

use chrono::Local;
use egui::{Color32, RichText, Ui};

use crate::app::office::Office;
use crate::app::office::queue::{
    self as q, About, BulkDone, Choice, Comparison, Item, ItemKey, Kind, Queue, QueueFilter,
};
use crate::app::task::{Task, Wake};
use crate::model::{Lang, Localized};
use crate::ui::i18n::{tr, trf};
use crate::ui::{TOUCH, big_button, primary_button_enabled};

/// The fill behind an answer that differs between the sides (dark text on it keeps 7:1).
const DIFFERS: Color32 = Color32::from_rgb(255, 236, 179);

/// The screen's state, kept by the office shell while the window is open. The shell makes it once after
/// sign-in and calls [`QueueScreen::ui`] every frame while it is shown.
pub struct QueueScreen {
    office: Office,
    wake: Wake,
    loading: Option<Task<Result<Queue, Localized>>>,
    queue: Queue,
    filter: QueueFilter,
    /// The items the filter lets through (indexes into `queue.items`), made when either changes.
    shown: Vec<usize>,
    selected: Option<ItemKey>,
    comparing: Option<(ItemKey, Task<Result<Comparison, Localized>>)>,
    comparison: Option<(ItemKey, Comparison)>,
    reason: String,
    /// The reason for a decision over the filtered set (its own field, so the two are never confused).
    bulk_reason: String,
    deciding: Option<Task<Result<BulkDone, Localized>, usize>>,
    /// How many items the running decision covers (its progress bar's end).
    deciding_of: usize,
    /// A bulk choice waiting for "yes".
    confirm: Option<Choice>,
    message: Option<Localized>,
    error: Option<Localized>,
}

impl QueueScreen {
    pub fn new(office: Office, wake: Wake) -> QueueScreen {
        let mut s = QueueScreen {
            office,
            wake,
            loading: None,
            queue: Queue::default(),
            filter: QueueFilter::default(),
            shown: Vec::new(),
            selected: None,
            comparing: None,
            comparison: None,
            reason: String::new(),
            bulk_reason: String::new(),
            deciding: None,
            deciding_of: 0,
            confirm: None,
            message: None,
            error: None,
        };
        s.reload();
        s
    }

    /// Reads the queue again, in the background.
    fn reload(&mut self) {
        let office = self.office.clone();
        self.loading = Some(Task::start("office-queue", self.wake.clone(), move || {
            q::load(&office)
        }));
    }

    fn refilter(&mut self) {
        self.shown = (0..self.queue.items.len())
            .filter(|i| {
                self.queue
                    .items
                    .get(*i)
                    .is_some_and(|it| self.filter.matches(it))
            })
            .collect();
        self.confirm = None;
    }

    fn selected_item(&self) -> Option<&Item> {
        let key = self.selected.as_ref()?;
        self.queue.items.iter().find(|i| &i.key == key)
    }

    /// Takes what the background work has finished.
    fn poll(&mut self) {
        if let Some(r) = self.loading.as_mut().and_then(Task::poll) {
            self.loading = None;
            match r {
                Ok(Ok(queue)) => {
                    self.queue = queue;
                    self.refilter();
                    if self.selected_item().is_none() {
                        self.selected = None;
                    }
                }
                Ok(Err(e)) => self.error = Some(e),
                Err(e) => self.error = Some(stopped(&e)),
            }
        }
        if let Some((key, task)) = self.comparing.as_mut()
            && let Some(r) = task.poll()
        {
            let key = key.clone();
            self.comparing = None;
            match r {
                Ok(Ok(c)) => self.comparison = Some((key, c)),
                Ok(Err(e)) => self.error = Some(e),
                Err(e) => self.error = Some(stopped(&e)),
            }
        }
        if let Some(r) = self.deciding.as_mut().and_then(Task::poll) {
            self.deciding = None;
            match r {
                Ok(Ok(done)) => {
                    self.message = Some(done_text(&done));
                    self.reason.clear();
                    self.bulk_reason.clear();
                }
                Ok(Err(e)) => self.error = Some(e),
                Err(e) => self.error = Some(stopped(&e)),
            }
            self.comparison = None;
            self.reload();
        }
    }

    /// Draws the screen into `ui` (the shell's central panel).
    pub fn ui(&mut self, ui: &mut Ui, lang: Lang) {
        self.poll();
        ui.heading(tr(lang, "office.queue.title"));
        self.filter_ui(ui, lang);
        if let Some(e) = &self.error {
            ui.colored_label(Color32::from_rgb(160, 0, 0), e.get(lang));
        }
        if let Some(m) = &self.message {
            ui.label(m.get(lang));
        }
        if let Some(task) = &mut self.deciding {
            let done = std::iter::from_fn(|| task.update()).last().unwrap_or(0);
            ui.add(
                egui::ProgressBar::new(done as f32 / self.deciding_of.max(1) as f32)
                    .text(tr(lang, "office.queue.deciding")),
            );
        }
        if self.loading.is_some() && self.queue.items.is_empty() {
            ui.spinner();
            return;
        }
        ui.separator();
        ui.columns(2, |cols| {
            if let [left, right] = cols {
                self.list_ui(left, lang);
                self.detail_ui(right, lang);
            }
        });
    }

    fn filter_ui(&mut self, ui: &mut Ui, lang: Lang) {
        let before = self.filter.clone();
        ui.horizontal_wrapped(|ui| {
            let all = tr(lang, "office.queue.all");
            let kab = self.queue.kabupaten.clone();
            pick(
                ui,
                "kabupaten",
                tr(lang, "office.queue.kabupaten"),
                all,
                &kab,
                &mut self.filter.kabupaten,
            );
            let desa: Vec<(String, String)> = self
                .queue
                .desa
                .iter()
                .filter(|(code, _)| {
                    self.filter
                        .kabupaten
                        .as_ref()
                        .is_none_or(|k| code.starts_with(k.as_str()))
                })
                .cloned()
                .collect();
            pick(
                ui,
                "desa",
                tr(lang, "office.queue.desa"),
                all,
                &desa,
                &mut self.filter.desa,
            );
            let label = ui.label(tr(lang, "office.queue.kind"));
            let shown = self.filter.kind.map_or(all, |k| kind_word(lang, k));
            egui::ComboBox::from_id_salt("office-queue-kind")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.filter.kind, None, all);
                    for k in Kind::ALL {
                        ui.selectable_value(&mut self.filter.kind, Some(k), kind_word(lang, k));
                    }
                })
                .response
                .labelled_by(label.id);
            if big_button(ui, tr(lang, "office.queue.reload")).clicked() {
                self.reload();
            }
        });
        if self.filter != before {
            self.refilter();
        }
    }

    fn list_ui(&mut self, ui: &mut Ui, lang: Lang) {
        ui.label(trf(
            lang,
            "office.queue.count",
            &[("n", &self.shown.len().to_string())],
        ));
        self.bulk_ui(ui, lang);
        ui.separator();
        if self.shown.is_empty() {
            ui.label(tr(lang, "office.queue.empty"));
            return;
        }
        let mut clicked = None;
        egui::ScrollArea::vertical()
            .id_salt("office-queue-list")
            .auto_shrink([false, false])
            .show_rows(ui, TOUCH, self.shown.len(), |ui, range| {
                for i in range {
                    let Some(item) = self.shown.get(i).and_then(|n| self.queue.items.get(*n))
                    else {
                        continue;
                    };
                    let desa = item
                        .sides
                        .first()
                        .map(q::Side::desa_text)
                        .unwrap_or_default();
                    let text = format!("{} · {} · {desa}", about_word(lang, item), item.names());
                    let on = self.selected.as_ref() == Some(&item.key);
                    let r = ui.add_sized(
                        [ui.available_width(), TOUCH - 4.0],
                        egui::Button::selectable(on, text),
                    );
                    if r.clicked() {
                        clicked = Some(item.key.clone());
                    }
                }
            });
        if let Some(key) = clicked {
            self.select(key);
        }
    }

    fn select(&mut self, key: ItemKey) {
        self.selected = Some(key.clone());
        self.comparison = None;
        self.message = None;
        self.error = None;
        if let Some(item) = self.selected_item().cloned() {
            let office = self.office.clone();
            let task = Task::start("office-compare", self.wake.clone(), move || {
                q::compare(&office, &item)
            });
            self.comparing = Some((key, task));
        }
    }

    fn bulk_ui(&mut self, ui: &mut Ui, lang: Lang) {
        let Some(kind) = self.filter.kind else {
            ui.label(tr(lang, "office.queue.bulk_pick_kind"));
            return;
        };
        if self.shown.is_empty() {
            return;
        }
        let choices: &[(Choice, &str)] = match kind {
            Kind::Quarantine => &[
                (Choice::Release, "office.queue.bulk_release"),
                (Choice::Reject, "office.queue.bulk_reject"),
            ],
            Kind::Conflict => &[
                (Choice::Distinct, "office.queue.bulk_distinct"),
                (Choice::Keep(0), "office.queue.bulk_keep_first"),
            ],
            Kind::Update => &[
                (Choice::Keep(0), "office.queue.bulk_keep_first"),
                (Choice::Keep(1), "office.queue.bulk_keep_second"),
            ],
        };
        ui.label(trf(
            lang,
            "office.queue.bulk_title",
            &[("n", &self.shown.len().to_string())],
        ));
        reason_field(
            ui,
            tr(lang, "office.queue.bulk_reason"),
            &mut self.bulk_reason,
            "office-queue-bulk-reason",
        );
        let idle = self.deciding.is_none() && !self.bulk_reason.trim().is_empty();
        ui.horizontal_wrapped(|ui| {
            for (choice, key) in choices {
                if ui
                    .add_enabled(
                        idle,
                        egui::Button::new(tr(lang, key)).min_size([0.0, TOUCH].into()),
                    )
                    .clicked()
                {
                    self.confirm = Some(*choice);
                }
            }
        });
        if let Some(choice) = self.confirm {
            ui.label(trf(
                lang,
                "office.queue.bulk_confirm",
                &[("n", &self.shown.len().to_string())],
            ));
            ui.horizontal(|ui| {
                if primary_button_enabled(ui, idle, tr(lang, "office.queue.bulk_yes")).clicked() {
                    self.confirm = None;
                    self.decide_many(choice);
                }
                if big_button(ui, tr(lang, "office.queue.cancel")).clicked() {
                    self.confirm = None;
                }
            });
        }
    }

    fn decide_many(&mut self, choice: Choice) {
        let items: Vec<Item> = self
            .shown
            .iter()
            .filter_map(|i| self.queue.items.get(*i).cloned())
            .collect();
        self.deciding_of = items.len();
        let office = self.office.clone();
        let reason = self.bulk_reason.clone();
        self.message = None;
        self.error = None;
        self.deciding = Some(Task::with_updates(
            "office-decide",
            self.wake.clone(),
            move |up| {
                q::decide_many(&office, &items, choice, &reason, now(), |n| {
                    up.send(n);
                })
            },
        ));
    }

    fn decide_one(&mut self, item: Item, choice: Choice) {
        let office = self.office.clone();
        let reason = self.reason.clone();
        self.deciding_of = 1;
        self.message = None;
        self.error = None;
        self.deciding = Some(Task::with_updates(
            "office-decide",
            self.wake.clone(),
            move |_| {
                q::decide(&office, &item, choice, &reason, now()).map(|()| BulkDone {
                    decided: 1,
                    skipped: Vec::new(),
                })
            },
        ));
    }

    fn detail_ui(&mut self, ui: &mut Ui, lang: Lang) {
        let Some(item) = self.selected_item().cloned() else {
            ui.label(tr(lang, "office.queue.pick_item"));
            return;
        };
        ui.heading(format!("{} · {}", about_word(lang, &item), item.names()));
        for r in &item.reasons {
            ui.colored_label(Color32::from_rgb(160, 0, 0), r.get(lang));
        }
        match &self.comparison {
            Some((key, c)) if key == &item.key => comparison_ui(ui, lang, &item, c),
            _ => {
                ui.spinner();
            }
        }
        ui.separator();
        reason_field(
            ui,
            tr(lang, "office.queue.reason"),
            &mut self.reason,
            "office-queue-reason",
        );
        let idle = self.deciding.is_none() && !self.reason.trim().is_empty();
        let mut chosen = None;
        ui.horizontal_wrapped(|ui| {
            let mut button = |ui: &mut Ui, text: String, c: Choice| {
                if ui
                    .add_enabled(idle, egui::Button::new(text).min_size([0.0, TOUCH].into()))
                    .clicked()
                {
                    chosen = Some(c);
                }
            };
            if item.kind == Kind::Quarantine {
                button(ui, tr(lang, "office.queue.release").into(), Choice::Release);
                button(ui, tr(lang, "office.queue.reject").into(), Choice::Reject);
                return;
            }
            for n in 0..item.sides.len() {
                let v = (n + 1).to_string();
                let text = trf(lang, "office.queue.keep", &[("n", &v)]);
                button(ui, text, Choice::Keep(n));
            }
            if matches!(item.about, About::Shared { .. }) {
                button(
                    ui,
                    tr(lang, "office.queue.distinct").into(),
                    Choice::Distinct,
                );
                for n in 0..item.sides.len() {
                    let v = (n + 1).to_string();
                    let text = trf(lang, "office.queue.same", &[("n", &v)]);
                    button(ui, text, Choice::Same(n));
                }
            }
        });
        if self.reason.trim().is_empty() {
            ui.label(tr(lang, "office.queue.reason_needed"));
        }
        if let Some(c) = chosen {
            self.decide_one(item, c);
        }
    }
}

/// A region filter: "all" or one code, shown by name.
fn pick(
    ui: &mut Ui,
    id: &str,
    label: &str,
    all: &str,
    options: &[(String, String)],
    value: &mut Option<String>,
) {
    let l = ui.label(label);
    let name = |code: &str| {
        options
            .iter()
            .find(|(c, _)| c == code)
            .map_or_else(|| code.to_string(), |(c, n)| format!("{n} ({c})"))
    };
    let shown = value.as_deref().map_or_else(|| all.to_string(), name);
    egui::ComboBox::from_id_salt(("office-queue", id))
        .selected_text(shown)
        .show_ui(ui, |ui| {
            ui.selectable_value(value, None, all);
            for (code, n) in options {
                ui.selectable_value(value, Some(code.clone()), format!("{n} ({code})"));
            }
        })
        .response
        .labelled_by(l.id);
}

fn reason_field(ui: &mut Ui, label: &str, reason: &mut String, id: &str) {
    let label = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(reason)
            .id_salt(id)
            .min_size([320.0, TOUCH].into())
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label.id);
}

fn comparison_ui(ui: &mut Ui, lang: Lang, item: &Item, c: &Comparison) {
    // Every column gets its share of the width and its texts wrap inside it: a long question or answer
    // never pushes the versions out of sight (a scroll area in both directions did, in the window).
    let columns = item.sides.len() as f32 + 1.0;
    let width = ((ui.available_width() - 12.0 * columns) / columns).max(80.0);
    let wrapped = |ui: &mut Ui, text: RichText| {
        ui.add(egui::Label::new(text).wrap());
    };
    egui::ScrollArea::vertical()
        .id_salt("office-queue-compare")
        .max_height(ui.available_height() * 0.6)
        .show(ui, |ui| {
            ui.with_layout(egui::Layout::top_down(egui::Align::Min), |ui| {
                egui::Grid::new("office-queue-grid")
                    .striped(true)
                    .num_columns(item.sides.len() + 1)
                    .min_col_width(width)
                    .max_col_width(width)
                    .show(ui, |ui| {
                        wrapped(ui, RichText::new(tr(lang, "office.queue.answer")).strong());
                        for (n, side) in item.sides.iter().enumerate() {
                            let v = (n + 1).to_string();
                            let made = c.made.get(n).and_then(Option::as_ref).map_or_else(
                                || tr(lang, "office.queue.not_kept").to_string(),
                                |m| {
                                    format!(
                                        "{} · {} · {}",
                                        m.device_name,
                                        m.petugas,
                                        m.at.format("%Y-%m-%d %H:%M")
                                    )
                                },
                            );
                            let title = match (item.kind, n) {
                                (Kind::Quarantine, 0) => tr(lang, "office.queue.held").to_string(),
                                (Kind::Quarantine, _) => {
                                    tr(lang, "office.queue.in_registry").to_string()
                                }
                                _ => trf(lang, "office.queue.version", &[("n", &v)]),
                            };
                            ui.vertical(|ui| {
                                ui.set_max_width(width);
                                wrapped(ui, RichText::new(title).strong());
                                wrapped(ui, RichText::new(side.desa_text()));
                                wrapped(ui, RichText::new(made).small());
                            });
                        }
                        ui.end_row();
                        for row in &c.rows {
                            wrapped(ui, RichText::new(row.label.get(lang)));
                            for v in &row.values {
                                if row.differs {
                                    wrapped(
                                        ui,
                                        RichText::new(v).background_color(DIFFERS).strong(),
                                    );
                                } else {
                                    wrapped(ui, RichText::new(v));
                                }
                            }
                            ui.end_row();
                        }
                    });
            });
        });
}

fn kind_word(lang: Lang, k: Kind) -> &'static str {
    tr(
        lang,
        match k {
            Kind::Quarantine => "office.queue.kind_quarantine",
            Kind::Conflict => "office.queue.kind_conflict",
            Kind::Update => "office.queue.kind_update",
        },
    )
}

/// What an item is about, in the words the report and `registry status` use.
fn about_word(lang: Lang, item: &Item) -> String {
    match item.about {
        About::Invalid => kind_word(lang, Kind::Quarantine).to_string(),
        About::TwoDevices => tr(lang, "office.queue.about_two_devices").to_string(),
        About::Update => kind_word(lang, Kind::Update).to_string(),
        About::Shared { niks, kk } => {
            let key = if kk {
                "office.queue.about_shared_kk"
            } else {
                "office.queue.about_shared_nik"
            };
            trf(lang, key, &[("n", &niks.to_string())])
        }
    }
}

fn done_text(done: &BulkDone) -> Localized {
    let n = done.decided.to_string();
    let s = done.skipped.len().to_string();
    let mut t = Localized::new(
        trf(Lang::Id, "office.queue.done", &[("n", &n), ("s", &s)]),
        trf(Lang::En, "office.queue.done", &[("n", &n), ("s", &s)]),
    );
    if let Some(first) = done.skipped.first() {
        t = Localized::new(
            format!("{} — {}", t.id, first.id),
            format!("{} — {}", t.en, first.en),
        );
    }
    t
}

fn stopped(e: &crate::app::task::Stopped) -> Localized {
    Localized::new(
        format!("pekerjaan latar berhenti sebelum selesai ({})", e.0),
        e.to_string(),
    )
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    Local::now().fixed_offset()
}
