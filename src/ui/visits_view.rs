//! The "Tugas kunjungan" screen: the families from work packages, per desa, done and to do, searchable;
//! each opens pre-filled in the form. The rows are read on a worker thread (`app::package::read_visits`).

use std::sync::Arc;

use egui::{RichText, Ui};

use super::i18n::{tr, trf};
use super::{Command, TOUCH, prefixed, severity_color, wake};
use crate::app::package::{VisitRow, read_visits};
use crate::app::task::Task;
use crate::app::{AppError, Device};
use crate::form::Severity;
use crate::model::{Lang, Localized};

/// The screen's state: the search and the rows (once read).
#[derive(Default)]
pub struct VisitsState {
    pub query: String,
    reader: Option<Task<crate::app::Result<Vec<VisitRow>>>>,
    rows: Option<Result<Vec<VisitRow>, Localized>>,
    /// The lines the list shows for a search (made again when the search or the rows change, not every
    /// frame): the search, then each line.
    lines: Option<(String, Vec<Line>)>,
}

/// One line of the list: a desa's heading before its first row, or a row (indexes into the rows).
#[derive(Debug, Clone, Copy)]
enum Line {
    Desa(usize),
    Row(usize),
}

/// The lines for a search: the matching rows, each desa's heading before its first.
fn lines_of(rows: &[VisitRow], query: &str) -> Vec<Line> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut out = Vec::new();
    let mut desa: Option<&str> = None;
    for (i, row) in rows.iter().enumerate().filter(|(_, r)| matches(r, &words)) {
        if desa != Some(row.desa.as_str()) {
            desa = Some(row.desa.as_str());
            out.push(Line::Desa(i));
        }
        out.push(Line::Row(i));
    }
    out
}

impl VisitsState {
    fn refresh(&mut self, device: &Arc<Device>, ctx: &egui::Context) {
        if self.rows.is_none() && self.reader.is_none() {
            self.reader = Some(read_visits(device.clone(), wake(ctx)));
        }
        if let Some(answer) = self.reader.as_mut().and_then(Task::poll) {
            self.take(answer);
        }
    }

    /// Blocks until the rows asked for are read, and takes them (tests, benchmarks).
    pub fn wait(&mut self) {
        if let Some(answer) = self.reader.as_mut().map(Task::wait) {
            self.take(answer);
        }
    }

    fn take(
        &mut self,
        answer: Result<crate::app::Result<Vec<VisitRow>>, crate::app::task::Stopped>,
    ) {
        self.reader = None;
        self.rows = Some(match answer {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err(e.text()),
            Err(stopped) => Err(AppError::from(stopped).text()),
        });
    }
}

fn matches(row: &VisitRow, words: &[String]) -> bool {
    let text = format!(
        "{} {} {} {}",
        row.head_name, row.no_kk, row.address, row.desa
    )
    .to_lowercase();
    words.iter().all(|w| text.contains(w.as_str()))
}

pub fn visits_ui(
    ui: &mut Ui,
    lang: Lang,
    device: &Arc<Device>,
    st: &mut VisitsState,
    cmd: &mut Option<Command>,
) {
    st.refresh(device, ui.ctx());
    ui.heading(tr(lang, "visits.title"));
    let rows = match &st.rows {
        None => {
            ui.label(tr(lang, "visits.loading"));
            return;
        }
        Some(Err(e)) => {
            let text = prefixed("error.prefix", e);
            ui.label(RichText::new(text.get(lang)).color(severity_color(Severity::Error)));
            return;
        }
        Some(Ok(rows)) => rows,
    };
    let done = rows.iter().filter(|r| r.done).count();
    ui.label(trf(
        lang,
        "visits.progress",
        &[
            ("done", &done.to_string()),
            ("total", &rows.len().to_string()),
        ],
    ));
    if rows.is_empty() {
        ui.label(tr(lang, "visits.none"));
        return;
    }
    ui.horizontal(|ui| {
        let l = ui.label(tr(lang, "list.search"));
        ui.add(
            egui::TextEdit::singleline(&mut st.query)
                .hint_text(tr(lang, "list.search_hint"))
                .min_size([360.0, TOUCH].into()),
        )
        .labelled_by(l.id);
    });
    if st.lines.as_ref().is_none_or(|(q, _)| *q != st.query) {
        st.lines = Some((st.query.clone(), lines_of(rows, &st.query)));
    }
    let lines = st
        .lines
        .as_ref()
        .map(|(_, l)| l.as_slice())
        .unwrap_or_default();
    // Only the lines in view are laid out (one height for headings and rows): smooth with thousands.
    egui::ScrollArea::vertical().auto_shrink(false).show_rows(
        ui,
        TOUCH,
        lines.len(),
        |ui, range| {
            for line in lines.get(range).unwrap_or_default() {
                match *line {
                    Line::Desa(i) => {
                        let Some(row) = rows.get(i) else { continue };
                        let (rect, _) = ui.allocate_exact_size(
                            egui::vec2(ui.available_width(), TOUCH),
                            egui::Sense::hover(),
                        );
                        ui.new_child(
                            egui::UiBuilder::new()
                                .max_rect(rect)
                                .layout(egui::Layout::left_to_right(egui::Align::Max)),
                        )
                        .label(
                            RichText::new(trf(lang, "visits.desa", &[("desa", &row.desa)]))
                                .strong(),
                        );
                    }
                    Line::Row(i) => {
                        let Some(row) = rows.get(i) else { continue };
                        if visit_row_ui(ui, lang, row).clicked() {
                            *cmd = Some(Command::Open(row.id));
                        }
                    }
                }
            }
        },
    );
}

/// One visit: the head's name, the KK number, done or to do.
fn visit_row_ui(ui: &mut Ui, lang: Lang, row: &VisitRow) -> egui::Response {
    let state = tr(
        lang,
        if row.done {
            "visits.done"
        } else {
            "visits.todo"
        },
    );
    // Names come from the registry's package: control characters are shown as such.
    let name = if row.head_name.is_empty() {
        tr(lang, "list.no_name").into()
    } else {
        crate::model::printable::clean(&row.head_name)
    };
    let text = format!(
        "{name} · {} · {state}",
        crate::model::printable::clean(&row.no_kk)
    );
    ui.add(egui::Button::new(text).min_size([ui.available_width(), TOUCH].into()))
}
