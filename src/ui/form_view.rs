//! The form screen, drawn from the schema: pages with progress and jump-to-page, one touch widget per field
//! kind, the member roster as cards, live relevance and messages, review and finalize.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use egui::{RichText, Ui};
use serde_json::{Value, json};

use super::i18n::{tr, trf};
use super::photo_view::{self, Picked, Picker, Thumbs};
use super::{Command, TOUCH, big_button, primary_button, primary_button_enabled, severity_color};
use crate::app::Device;
use crate::form::compile::Container;
use crate::form::{Evaluation, Field, FieldKind, Form, Issue, Severity, evaluate};
use crate::model::Lang;
use crate::store::{Answers, RecordHead};

/// An open family: its answers as typed, waiting for the autosave.
pub struct Editor {
    pub form: &'static Form,
    pub head: RecordHead,
    pub answers: Answers,
    pub page: usize,
    /// The member being edited, when the roster's card is open.
    pub member: Option<usize>,
    pub dirty_since: Option<Instant>,
    pub saved: bool,
    /// Final (or later) and not being corrected: read-only.
    pub locked: bool,
    /// The reason of a correction in progress (saved with the next revision).
    pub correction: Option<String>,
    pub review: bool,
    reason: String,
    ack: bool,
    /// The photo picker of one field, while it is open (opened by the app: [`Command::OpenPicker`]).
    pub picker: Option<Picker>,
    /// Thumbnails of the stored photos shown in their fields.
    thumbs: Option<Thumbs>,
    /// Why a photo could not be attached, by field key, shown next to the field.
    photo_errors: HashMap<String, crate::app::AppError>,
    /// Text typed into number, date and search fields that is not (yet) a valid answer.
    buffers: HashMap<String, String>,
}

/// What every field drawn in a frame needs: the language, the answers' evaluation, today, and where a
/// field puts what it asks of the app.
struct Cx<'a, 'f> {
    lang: Lang,
    ev: &'a Evaluation<'f>,
    today: NaiveDate,
    cmd: &'a mut Option<Command>,
}

/// The field being drawn: the field, its member (in a repeat), its key and its label's id.
struct At {
    f: &'static Field,
    member: Option<usize>,
    key: String,
    label: egui::Id,
}

impl Editor {
    pub fn new(form: &'static Form, head: RecordHead, answers: Answers) -> Editor {
        let locked = head.status.is_locked();
        Editor {
            form,
            head,
            answers,
            page: 0,
            member: None,
            dirty_since: None,
            saved: true,
            locked,
            correction: None,
            review: false,
            reason: String::new(),
            ack: false,
            picker: None,
            thumbs: None,
            photo_errors: HashMap::new(),
            buffers: HashMap::new(),
        }
    }

    pub fn save_state_key(&self) -> &'static str {
        match (self.dirty_since.is_some(), self.saved) {
            (true, _) => "save.pending",
            (false, true) => "save.saved",
            (false, false) => "save.failed",
        }
    }

    fn changed(&mut self) {
        self.dirty_since = Some(Instant::now());
    }

    pub fn ui(&mut self, ui: &mut Ui, lang: Lang, device: &Arc<Device>, cmd: &mut Option<Command>) {
        let thumbs = self
            .thumbs
            .get_or_insert_with(|| Thumbs::for_fields(device, super::wake(ui.ctx())));
        if thumbs.poll(ui.ctx()) {
            ui.ctx().request_repaint_after(Duration::from_millis(80));
        }
        let today = crate::app::now().date_naive();
        let ev = evaluate(self.form, &self.answers, today);
        self.heading_ui(ui, lang);
        if self.picker.is_some() {
            self.picker_ui(ui, lang, cmd);
            return;
        }
        // Pages: jump anywhere; the last step is the review.
        let pages: Vec<usize> = (0..self.form.pages.len())
            .filter(|p| ev.page_relevant(*p))
            .collect();
        // A page that is not asked (the visit page of a new family) is never the one shown.
        if !pages.contains(&self.page)
            && let Some(first) = pages.first()
        {
            self.page = *first;
        }
        self.pages_ui(ui, lang, &ev, today, &pages);
        ui.separator();
        if self.review {
            self.review_ui(ui, lang, &ev, cmd);
            return;
        }
        let mut cx = Cx {
            lang,
            ev: &ev,
            today,
            cmd,
        };
        egui::ScrollArea::vertical()
            .auto_shrink(false)
            .show(ui, |ui| {
                ui.add_enabled_ui(!self.locked, |ui| self.page_ui(ui, &mut cx));
                ui.add_space(12.0);
                // A member's card ends with its own Done; the page's Back and Next come after it.
                if self.member.is_none() {
                    ui.horizontal(|ui| self.back_next_ui(ui, lang, &pages));
                }
            });
    }

    /// The family's name and status, and why the registry rejected it.
    fn heading_ui(&self, ui: &mut Ui, lang: Lang) {
        ui.horizontal(|ui| {
            let name = if self.head.summary.head_name.is_empty() {
                tr(lang, "list.no_name").into()
            } else {
                crate::model::printable::clean(&self.head.summary.head_name)
            };
            ui.heading(name.as_ref());
            super::status_chip(ui, lang, self.head.status);
        });
        for r in self.head.rejection_reasons() {
            ui.label(
                RichText::new(format!(
                    "{}: {}",
                    tr(lang, "review.rejected_because"),
                    r.get(lang)
                ))
                .color(severity_color(Severity::Error)),
            );
        }
    }

    /// Progress, and a button per relevant page (with its count of errors) and the review.
    fn pages_ui(
        &mut self,
        ui: &mut Ui,
        lang: Lang,
        ev: &Evaluation<'_>,
        today: NaiveDate,
        pages: &[usize],
    ) {
        let form = self.form;
        // What the petugas has answered, not the page they are on: a new family is at 0 %.
        // Outlined: the bar's track is the page's white, and at 0 % nothing else would show its length.
        let bar = egui::ProgressBar::new(ev.progress(today).fraction()).show_percentage();
        egui::Frame::new()
            .stroke(egui::Stroke::new(1.0, egui::Color32::from_gray(60)))
            .corner_radius(TOUCH / 2.0)
            .show(ui, |ui| ui.add(bar));
        ui.horizontal_wrapped(|ui| {
            for &p in pages {
                let Some(page) = form.pages.get(p) else {
                    continue;
                };
                let errs = ev.errors().filter(|i| page_of(form, i) == Some(p)).count();
                let title = if errs > 0 {
                    format!("{} ({errs})", page.label.get(lang))
                } else {
                    page.label.get(lang).to_string()
                };
                if ui
                    .add(
                        egui::Button::selectable(!self.review && self.page == p, title)
                            .min_size([TOUCH, TOUCH].into()),
                    )
                    .clicked()
                {
                    self.page = p;
                    self.review = false;
                    self.member = None;
                }
            }
            if ui
                .add(
                    egui::Button::selectable(self.review, tr(lang, "review.title"))
                        .min_size([TOUCH, TOUCH].into()),
                )
                .clicked()
            {
                self.review = true;
            }
        });
    }

    /// The fields of the page (or of the member whose card is open).
    fn page_ui(&mut self, ui: &mut Ui, cx: &mut Cx<'_, '_>) {
        let form = self.form;
        if let Some(i) = self.member {
            self.member_ui(ui, cx, i);
            return;
        }
        let page_fields = form
            .pages
            .get(self.page)
            .map(|p| p.fields.clone())
            .unwrap_or_default();
        for id in page_fields {
            let Some(f) = form.field_by_id(id) else {
                continue;
            };
            if !cx.ev.is_relevant(id, None) {
                continue;
            }
            if f.kind == FieldKind::Repeat {
                self.roster_ui(ui, cx.lang, cx.ev, f);
            } else {
                self.field_ui(ui, cx, f, None);
            }
        }
    }

    /// Back and Next (the last page's Next is the review).
    fn back_next_ui(&mut self, ui: &mut Ui, lang: Lang, pages: &[usize]) {
        let pos = pages.iter().position(|p| *p == self.page);
        if let Some(prev) = pos
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| pages.get(i))
            // As tall as Next beside it.
            && ui
                .add(
                    egui::Button::new(RichText::new(tr(lang, "action.back")).size(18.0))
                        .min_size([TOUCH * 2.0, TOUCH * 1.2].into()),
                )
                .clicked()
        {
            self.page = *prev;
            self.member = None;
        }
        match pos.and_then(|i| pages.get(i + 1)) {
            Some(next) => {
                if primary_button(ui, tr(lang, "action.next")).clicked() {
                    self.page = *next;
                    self.member = None;
                }
            }
            None => {
                if primary_button(ui, tr(lang, "review.title")).clicked() {
                    self.review = true;
                }
            }
        }
    }

    /// The open photo picker, over the page; a tapped photo goes to the app to be stored.
    fn picker_ui(&mut self, ui: &mut Ui, lang: Lang, cmd: &mut Option<Command>) {
        let Some(p) = &mut self.picker else { return };
        let field = self.form.field_by_id(p.field);
        let label = field.map_or("", |f| f.label.get(lang));
        let error = field
            .and_then(|f| self.photo_errors.get(&field_key(f, p.member)))
            .map(|e| photo_error_text(lang, e));
        match photo_view::picker_ui(ui, lang, label, error.as_deref(), p) {
            Some(Picked::File(path)) => {
                *cmd = Some(Command::AttachPhoto {
                    field: p.field,
                    member: p.member,
                    path,
                });
            }
            Some(Picked::Cancel) => self.picker = None,
            None => {}
        }
    }

    fn review_ui(
        &mut self,
        ui: &mut Ui,
        lang: Lang,
        ev: &Evaluation<'_>,
        cmd: &mut Option<Command>,
    ) {
        let form = self.form;
        let errors = ev.errors().count();
        let warnings = ev.warnings().count();
        ui.label(
            RichText::new(trf(
                lang,
                "review.summary",
                &[
                    ("errors", &errors.to_string()),
                    ("warnings", &warnings.to_string()),
                ],
            ))
            .strong(),
        );
        egui::ScrollArea::vertical()
            .max_height(ui.available_height() - 3.0 * TOUCH)
            .show(ui, |ui| {
                for issue in &ev.issues {
                    let label = issue
                        .field
                        .and_then(|id| form.field_by_id(id))
                        .map_or(String::new(), |f| f.label.get(lang).to_string());
                    let who = issue
                        .instance
                        .map(|i| format!("{} {} · ", tr(lang, "form.member"), i + 1))
                        .unwrap_or_default();
                    let text = RichText::new(format!("{who}{label}: {}", issue.message.get(lang)))
                        .color(severity_color(issue.severity));
                    if ui
                        .add(egui::Button::new(text).min_size([ui.available_width(), TOUCH].into()))
                        .clicked()
                    {
                        self.jump_to(issue);
                    }
                }
            });
        if self.locked {
            ui.label(tr(lang, "review.locked"));
            let l = ui.label(tr(lang, "review.reason"));
            ui.add(egui::TextEdit::singleline(&mut self.reason).min_size([360.0, TOUCH].into()))
                .labelled_by(l.id);
            if primary_button(ui, tr(lang, "review.start_correction")).clicked()
                && !self.reason.trim().is_empty()
            {
                *cmd = Some(Command::StartCorrection(self.reason.trim().to_string()));
            }
            return;
        }
        if warnings > 0 {
            ui.checkbox(&mut self.ack, tr(lang, "review.ack_warnings"));
        }
        let ready = errors == 0 && (warnings == 0 || self.ack);
        if primary_button_enabled(ui, ready, tr(lang, "review.finalize")).clicked() {
            *cmd = Some(Command::Finalize { ack: self.ack });
        }
    }

    fn jump_to(&mut self, issue: &Issue) {
        let Some(f) = issue.field.and_then(|id| self.form.field_by_id(id)) else {
            return;
        };
        self.page = f.page;
        self.review = false;
        self.member = issue
            .instance
            .filter(|_| matches!(f.container, Container::Repeat(_)));
    }

    fn roster_ui(&mut self, ui: &mut Ui, lang: Lang, ev: &Evaluation<'_>, repeat: &Field) {
        ui.label(RichText::new(repeat.label.get(lang)).size(20.0).strong());
        show_issues(ui, lang, ev, repeat.id, None);
        let members = self
            .answers
            .get(&repeat.name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut remove = None;
        for (i, m) in members.iter().enumerate() {
            let name = m
                .get(crate::model::household::member::NAME)
                .and_then(Value::as_str)
                .unwrap_or("—");
            let nik = m
                .get(crate::model::household::member::NIK)
                .and_then(Value::as_str)
                .unwrap_or("");
            let errs = ev
                .errors()
                .filter(|x| {
                    x.instance == Some(i) && x.field.is_some_and(|f| repeat.children.contains(&f))
                })
                .count();
            ui.group(|ui| {
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(format!("{}. {name}", i + 1))
                            .size(18.0)
                            .strong(),
                    );
                    ui.label(nik);
                    if errs > 0 {
                        ui.label(
                            RichText::new(trf(
                                lang,
                                "form.member_errors",
                                &[("n", &errs.to_string())],
                            ))
                            .color(severity_color(Severity::Error)),
                        );
                    }
                    if big_button(ui, &format!("{} {}", tr(lang, "action.edit"), i + 1)).clicked() {
                        self.member = Some(i);
                    }
                    if big_button(ui, &format!("{} {}", tr(lang, "action.remove"), i + 1)).clicked()
                    {
                        remove = Some(i);
                    }
                });
            });
        }
        if let Some(i) = remove {
            if let Some(Value::Array(list)) = self.answers.get_mut(&repeat.name)
                && i < list.len()
            {
                list.remove(i);
            }
            self.changed();
        }
        if big_button(ui, tr(lang, "form.add_member")).clicked() {
            let list = self
                .answers
                .entry(repeat.name.clone())
                .or_insert_with(|| json!([]));
            if let Value::Array(list) = list {
                list.push(json!({}));
                self.member = Some(list.len() - 1);
            }
            self.changed();
        }
    }

    fn member_ui(&mut self, ui: &mut Ui, cx: &mut Cx<'_, '_>, i: usize) {
        let (form, lang) = (self.form, cx.lang);
        let Some(repeat) = form
            .fields
            .iter()
            .find(|f| f.kind == FieldKind::Repeat && f.page == self.page)
        else {
            self.member = None;
            return;
        };
        if big_button(ui, tr(lang, "form.back_to_members")).clicked() {
            self.member = None;
            return;
        }
        ui.label(
            RichText::new(format!("{} {}", tr(lang, "form.member"), i + 1))
                .size(20.0)
                .strong(),
        );
        for &c in &repeat.children {
            let Some(f) = form.field_by_id(c) else {
                continue;
            };
            if cx.ev.is_relevant(c, Some(i)) {
                self.field_ui(ui, cx, f, Some(i));
            }
        }
        // At the card's foot, where the last answer was given: no scrolling back up to leave it.
        if primary_button(ui, tr(lang, "form.member_done")).clicked() {
            self.member = None;
        }
    }

    /// Sets a GPS field from a reading of the location service.
    pub fn set_gps(&mut self, field: usize, member: Option<usize>, fix: crate::app::gps::Fix) {
        let Some(f) = self.form.field_by_id(field) else {
            return;
        };
        let key = field_key(f, member);
        for k in ["lat", "lon", "accuracy_m"] {
            self.buffers.remove(&format!("{key}.{k}"));
        }
        let mut o = serde_json::Map::new();
        o.insert("lat".into(), json!(fix.lat));
        o.insert("lon".into(), json!(fix.lon));
        if let Some(a) = fix.accuracy_m {
            o.insert("accuracy_m".into(), json!(a));
        }
        self.set(f, member, Some(Value::Object(o)));
    }

    /// Sets a photo field to a stored attachment's hash, and closes its picker.
    pub fn set_photo(&mut self, field: usize, member: Option<usize>, hash: String) {
        if let Some(f) = self.form.field_by_id(field) {
            self.photo_errors.remove(&field_key(f, member));
            self.set(f, member, Some(json!(hash)));
        }
        self.picker = None;
    }

    /// Says next to a photo field (and in its picker) why a photo was not attached; the answer stays.
    pub fn photo_failed(&mut self, field: usize, member: Option<usize>, why: crate::app::AppError) {
        if let Some(f) = self.form.field_by_id(field) {
            self.photo_errors.insert(field_key(f, member), why);
        }
    }

    fn get(&self, f: &Field, member: Option<usize>) -> Option<&Value> {
        match (f.container, member) {
            (Container::Repeat(r), Some(i)) => {
                let rname = &self.form.field_by_id(r)?.name;
                self.answers.get(rname)?.as_array()?.get(i)?.get(&f.name)
            }
            _ => self.answers.get(&f.name),
        }
    }

    fn set(&mut self, f: &Field, member: Option<usize>, value: Option<Value>) {
        let target = match (f.container, member) {
            (Container::Repeat(r), Some(i)) => {
                let Some(rname) = self.form.field_by_id(r).map(|r| r.name.clone()) else {
                    return;
                };
                match self
                    .answers
                    .get_mut(&rname)
                    .and_then(Value::as_array_mut)
                    .and_then(|l| l.get_mut(i))
                    .and_then(Value::as_object_mut)
                {
                    Some(m) => m,
                    None => return,
                }
            }
            _ => &mut self.answers,
        };
        match value {
            Some(v) => target.insert(f.name.clone(), v),
            None => target.remove(&f.name),
        };
        self.changed();
    }

    fn field_ui(
        &mut self,
        ui: &mut Ui,
        cx: &mut Cx<'_, '_>,
        f: &'static Field,
        member: Option<usize>,
    ) {
        let lang = cx.lang;
        let required = !matches!(f.required, crate::form::compile::Required::No);
        let title = if required {
            format!("{} *", f.label.get(lang))
        } else {
            f.label.get(lang).to_string()
        };
        // Each field is a named group (screen readers and tests tell "Ya" of one question from "Ya" of
        // the next by it).
        let group = egui::UiBuilder::new()
            .accessibility_role(egui::accesskit::Role::Group)
            .accessibility_label(title.clone());
        ui.scope_builder(group, |ui| self.field_body_ui(ui, cx, f, member, title));
        ui.add_space(8.0);
    }

    /// A field's label, hint, widget and messages.
    fn field_body_ui(
        &mut self,
        ui: &mut Ui,
        cx: &mut Cx<'_, '_>,
        f: &'static Field,
        member: Option<usize>,
        title: String,
    ) {
        let lang = cx.lang;
        let label = ui.label(RichText::new(title).size(17.0).strong());
        if let Some(h) = &f.hint {
            ui.label(RichText::new(h.get(lang)).italics().weak());
        }
        let current = self.get(f, member).cloned();
        let current = current.as_ref();
        let at = At {
            f,
            member,
            key: field_key(f, member),
            label: label.id,
        };
        match f.kind {
            FieldKind::Note | FieldKind::Repeat => {}
            FieldKind::Calculated => {
                ui.label(cx.ev.value(f.id, member).to_text());
            }
            FieldKind::Photo => self.photo_field_ui(ui, cx, &at, current),
            FieldKind::Text | FieldKind::Phone | FieldKind::Nik | FieldKind::Kk => {
                self.text_field_ui(ui, lang, &at, current);
            }
            FieldKind::Integer | FieldKind::Decimal => self.number_field_ui(ui, lang, &at, current),
            FieldKind::Date => self.date_ui(ui, cx, &at, current),
            FieldKind::SelectOne => self.select_one_ui(ui, cx, &at, current),
            FieldKind::SelectMultiple => self.select_multiple_ui(ui, cx, &at, current),
            FieldKind::Gps => self.gps_field_ui(ui, cx, &at, current),
        }
        show_issues(ui, lang, cx.ev, f.id, member);
    }

    /// A photo field: the stored photo with Change and Remove, or Choose; why the last one was refused.
    fn photo_field_ui(
        &mut self,
        ui: &mut Ui,
        cx: &mut Cx<'_, '_>,
        at: &At,
        current: Option<&Value>,
    ) {
        let lang = cx.lang;
        let hash = current.and_then(Value::as_str).map(str::to_string);
        let (mut choose, mut remove) = (false, false);
        let button = |text| {
            egui::Button::new(RichText::new(text).size(18.0)).min_size([TOUCH * 3.0, TOUCH].into())
        };
        match &hash {
            Some(hash) => {
                ui.horizontal(|ui| {
                    if let Some(thumbs) = &mut self.thumbs {
                        photo_view::stored_ui(ui, lang, thumbs, hash);
                    }
                    ui.vertical(|ui| {
                        ui.label(trf(
                            lang,
                            "form.photo_stored",
                            &[("id", hash.get(..12).unwrap_or(hash))],
                        ));
                        choose = ui.add(button(tr(lang, "form.change"))).clicked();
                        remove = ui.add(button(tr(lang, "action.remove"))).clicked();
                    });
                });
            }
            None => {
                choose = ui
                    .add(
                        egui::Button::new(RichText::new(tr(lang, "photo.choose")).size(20.0))
                            .min_size([TOUCH * 5.0, TOUCH * 1.3].into()),
                    )
                    .clicked();
            }
        }
        if let Some(why) = self.photo_errors.get(&at.key) {
            ui.label(
                RichText::new(photo_error_text(lang, why)).color(severity_color(Severity::Error)),
            );
        }
        if choose {
            *cx.cmd = Some(Command::OpenPicker {
                field: at.f.id,
                member: at.member,
            });
        }
        if remove {
            self.photo_errors.remove(&at.key);
            self.set(at.f, at.member, None);
        }
    }

    /// Text, phone, NIK and KK fields (NIK and KK: digits only, with the count still missing).
    fn text_field_ui(&mut self, ui: &mut Ui, lang: Lang, at: &At, current: Option<&Value>) {
        let f = at.f;
        let mut s = current
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let digits = matches!(f.kind, FieldKind::Nik | FieldKind::Kk);
        let multiline = f.appearance.as_deref() == Some("multiline");
        let edit = if multiline {
            egui::TextEdit::multiline(&mut s)
        } else {
            egui::TextEdit::singleline(&mut s)
        };
        // Typing or pasting stops at the field's limit (`form::limits`): a longer answer is never saved.
        let max = f.max_chars();
        let edit = edit
            .min_size([360.0, TOUCH].into())
            .desired_width(480.0)
            .char_limit(max)
            .interactive(!f.read_only);
        let resp = ui.add(edit).labelled_by(at.label);
        if resp.changed() {
            if digits {
                s = s.chars().filter(char::is_ascii_digit).take(16).collect();
            }
            self.set(f, at.member, (!s.is_empty()).then(|| json!(s)));
        }
        if s.len() >= max && s.chars().count() >= max {
            ui.label(
                RichText::new(trf(lang, "form.max_length", &[("max", &max.to_string())]))
                    .color(severity_color(Severity::Warning)),
            );
        }
        if digits && !s.is_empty() && s.len() < 16 {
            ui.label(trf(
                lang,
                "form.digits_left",
                &[("n", &(16 - s.len()).to_string())],
            ));
        }
    }

    /// Integer and decimal fields: the text as typed, the answer once it is a number.
    fn number_field_ui(&mut self, ui: &mut Ui, lang: Lang, at: &At, current: Option<&Value>) {
        let f = at.f;
        let integer = f.kind == FieldKind::Integer;
        let shown = current
            .map(|v| crate::form::value::format_num(v.as_f64().unwrap_or(f64::NAN)))
            .unwrap_or_default();
        let buf = self.buffers.entry(at.key.clone()).or_insert(shown);
        let resp = ui
            .add(
                egui::TextEdit::singleline(buf)
                    .min_size([160.0, TOUCH].into())
                    .desired_width(180.0),
            )
            .labelled_by(at.label);
        let text = buf.trim().replace(',', ".");
        if resp.changed() {
            let parsed = if text.is_empty() {
                Some(None)
            } else if integer {
                text.parse::<i64>().ok().map(|n| Some(json!(n)))
            } else {
                text.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map(|n| Some(json!(n)))
            };
            if let Some(v) = parsed {
                self.set(f, at.member, v);
            }
        }
        let ok = text.is_empty()
            || if integer {
                text.parse::<i64>().is_ok()
            } else {
                text.parse::<f64>().is_ok()
            };
        if !ok {
            ui.label(
                RichText::new(tr(lang, "form.not_a_number")).color(severity_color(Severity::Error)),
            );
        }
    }

    /// A select-multiple field: a checkbox per choice.
    fn select_multiple_ui(
        &mut self,
        ui: &mut Ui,
        cx: &mut Cx<'_, '_>,
        at: &At,
        current: Option<&Value>,
    ) {
        let mut codes: Vec<String> = current
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut changed = false;
        for c in cx.ev.choices_for(at.f.id, at.member, cx.today) {
            let mut on = codes.contains(&c.value);
            if ui.checkbox(&mut on, c.label.get(cx.lang)).changed() {
                changed = true;
                if on {
                    codes.push(c.value.clone());
                } else {
                    codes.retain(|x| *x != c.value);
                }
            }
        }
        if changed {
            self.set(at.f, at.member, (!codes.is_empty()).then(|| json!(codes)));
        }
    }

    /// A GPS field: latitude, longitude and accuracy typed by hand, or read from the location service.
    fn gps_field_ui(&mut self, ui: &mut Ui, cx: &mut Cx<'_, '_>, at: &At, current: Option<&Value>) {
        const PARTS: [&str; 3] = ["lat", "lon", "accuracy_m"];
        let key = &at.key;
        let mut parts: Vec<String> = PARTS
            .iter()
            .map(|k| {
                self.buffers
                    .get(&format!("{key}.{k}"))
                    .cloned()
                    .unwrap_or_else(|| {
                        current
                            .and_then(|v| v.get(*k))
                            .and_then(Value::as_f64)
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    })
            })
            .collect();
        let mut changed = false;
        ui.horizontal(|ui| {
            for (i, k) in ["form.lat", "form.lon", "form.accuracy"].iter().enumerate() {
                let l = ui.label(tr(cx.lang, k));
                if let Some(p) = parts.get_mut(i) {
                    changed |= ui
                        .add(
                            egui::TextEdit::singleline(p)
                                .desired_width(120.0)
                                .min_size([100.0, TOUCH].into()),
                        )
                        .labelled_by(l.id)
                        .changed();
                }
            }
        });
        if ui
            .add(
                egui::Button::new(tr(cx.lang, "form.read_gps"))
                    .min_size([TOUCH * 3.0, TOUCH].into()),
            )
            .clicked()
        {
            *cx.cmd = Some(Command::ReadGps {
                field: at.f.id,
                member: at.member,
            });
        }
        if !changed {
            return;
        }
        for (k, p) in PARTS.iter().zip(&parts) {
            self.buffers.insert(format!("{key}.{k}"), p.clone());
        }
        let num = |i: usize| {
            parts
                .get(i)
                .and_then(|p| p.trim().replace(',', ".").parse::<f64>().ok())
        };
        let value = match (num(0), num(1)) {
            (Some(lat), Some(lon)) => {
                let mut o = serde_json::Map::new();
                o.insert("lat".into(), json!(lat));
                o.insert("lon".into(), json!(lon));
                if let Some(a) = num(2) {
                    o.insert("accuracy_m".into(), json!(a));
                }
                Some(Value::Object(o))
            }
            _ => None,
        };
        self.set(at.f, at.member, value);
    }

    fn date_ui(&mut self, ui: &mut Ui, cx: &mut Cx<'_, '_>, at: &At, current: Option<&Value>) {
        let (lang, today, f, member) = (cx.lang, cx.today, at.f, at.member);
        let date = current
            .and_then(Value::as_str)
            .and_then(crate::form::value::parse_date);
        // Typed as written on the KK or KTP (14-08-1979): one answer instead of hunting a year in a list.
        if let Some(typed) = self.typed_date_ui(ui, lang, at, date) {
            self.set(f, member, Some(json!(typed.format("%Y-%m-%d").to_string())));
            return;
        }
        let (mut y, mut m, mut d) = date.map_or((0, 0, 0), |d| (d.year(), d.month(), d.day()));
        let before = (y, m, d);
        ui.horizontal(|ui| {
            egui::ComboBox::new(format!("{}-{member:?}-d", f.name), tr(lang, "form.day"))
                .selected_text(if d == 0 {
                    tr(lang, "form.day").to_string()
                } else {
                    d.to_string()
                })
                .show_ui(ui, |ui| {
                    for v in 1..=31 {
                        ui.selectable_value(&mut d, v, v.to_string());
                    }
                });
            egui::ComboBox::new(format!("{}-{member:?}-m", f.name), tr(lang, "form.month"))
                .selected_text(if m == 0 {
                    tr(lang, "form.month").to_string()
                } else {
                    tr(lang, &format!("month.{m}")).to_string()
                })
                .show_ui(ui, |ui| {
                    for v in 1..=12 {
                        ui.selectable_value(&mut m, v, tr(lang, &format!("month.{v}")));
                    }
                });
            egui::ComboBox::new(format!("{}-{member:?}-y", f.name), tr(lang, "form.year"))
                .selected_text(if y == 0 {
                    tr(lang, "form.year").to_string()
                } else {
                    y.to_string()
                })
                .show_ui(ui, |ui| {
                    for v in (1900..=today.year()).rev() {
                        ui.selectable_value(&mut y, v, v.to_string());
                    }
                });
            if ui
                .add(egui::Button::new(tr(lang, "form.today")).min_size([TOUCH, TOUCH].into()))
                .clicked()
            {
                (y, m, d) = (today.year(), today.month(), today.day());
            }
        });
        if (y, m, d) != before {
            // Fill the missing parts so a first choice already makes a date the petugas can adjust.
            let (y2, m2, d2) = (if y == 0 { today.year() } else { y }, m.max(1), d.max(1));
            let day = (1..=d2)
                .rev()
                .find_map(|dd| NaiveDate::from_ymd_opt(y2, m2, dd));
            self.set(
                f,
                member,
                day.map(|d| json!(d.format("%Y-%m-%d").to_string())),
            );
        }
    }

    /// The date typed (day, month, year: `14-08-1979`, `14/08/1979`, `14081979`): the date once it is
    /// one, with a hint while it is not. Shows the answer as a person writes it.
    fn typed_date_ui(
        &mut self,
        ui: &mut Ui,
        lang: Lang,
        at: &At,
        date: Option<NaiveDate>,
    ) -> Option<NaiveDate> {
        let key = format!("{}.typed", at.key);
        let shown = date.map_or_else(String::new, |d| d.format("%d-%m-%Y").to_string());
        let buf = self.buffers.entry(key.clone()).or_insert(shown.clone());
        // The answer changed elsewhere (the lists, Today): the box follows it unless it is being typed.
        let id = ui.make_persistent_id(("typed-date", &key));
        let typing = ui.memory(|m| m.focused()) == Some(id);
        if !typing && parse_typed_date(buf) != date && date.is_some() {
            *buf = shown;
        }
        let resp = ui.add(
            egui::TextEdit::singleline(buf)
                .id(id)
                .hint_text(tr(lang, "form.date_hint"))
                .min_size([200.0, TOUCH].into())
                .desired_width(200.0),
        );
        resp.clone().labelled_by(at.label);
        let parsed = parse_typed_date(buf);
        if !buf.trim().is_empty() && parsed.is_none() {
            ui.label(
                RichText::new(tr(lang, "form.date_invalid"))
                    .color(severity_color(Severity::Warning)),
            );
        }
        (resp.changed() && parsed != date)
            .then_some(parsed)
            .flatten()
    }

    /// A select-one field: radio buttons, or (a long list, or an appearance asks) a searchable list that
    /// folds to the chosen answer.
    fn select_one_ui(
        &mut self,
        ui: &mut Ui,
        cx: &mut Cx<'_, '_>,
        at: &At,
        current: Option<&Value>,
    ) {
        let lang = cx.lang;
        let choices = cx.ev.choices_for(at.f.id, at.member, cx.today);
        let selected = current.and_then(Value::as_str);
        let pick = if choices.len() > 12 || at.f.appearance.is_some() {
            self.choice_search_ui(ui, lang, at, &choices, selected)
        } else {
            let mut pick = None;
            for c in &choices {
                let on = selected == Some(c.value.as_str());
                if ui
                    .add(egui::RadioButton::new(on, c.label.get(lang)))
                    .clicked()
                {
                    pick = Some(c.value.clone());
                }
            }
            pick
        };
        if let Some(v) = pick {
            self.set(at.f, at.member, Some(json!(v)));
        }
    }

    /// A long choice list: the chosen answer with Change, or a search box over the choices.
    fn choice_search_ui(
        &mut self,
        ui: &mut Ui,
        lang: Lang,
        at: &At,
        choices: &[&crate::form::compile::Choice],
        selected: Option<&str>,
    ) -> Option<String> {
        let key = &at.key;
        let chosen = selected.and_then(|v| choices.iter().find(|c| c.value == v));
        let open_key = format!("{key}.open");
        if let Some(c) = chosen
            && !self.buffers.contains_key(&open_key)
        {
            // Chosen: show it compactly with a button to change it.
            ui.horizontal(|ui| {
                ui.label(RichText::new(c.label.get(lang)).size(18.0).strong());
                if ui
                    .add(
                        egui::Button::new(tr(lang, "form.change"))
                            .min_size([TOUCH * 2.0, TOUCH].into()),
                    )
                    .clicked()
                {
                    self.buffers.insert(open_key.clone(), String::new());
                }
            });
            return None;
        }
        let mut pick = None;
        let q = self.buffers.entry(format!("{key}.search")).or_default();
        ui.add(
            egui::TextEdit::singleline(q)
                .hint_text(tr(lang, "form.search_choice"))
                .min_size([360.0, TOUCH].into()),
        )
        .labelled_by(at.label);
        let q = q.to_lowercase();
        egui::ScrollArea::vertical()
            .id_salt(key)
            .max_height(5.0 * TOUCH)
            .show(ui, |ui| {
                for c in choices
                    .iter()
                    .filter(|c| q.is_empty() || c.label.get(lang).to_lowercase().contains(&q))
                    .take(60)
                {
                    let on = selected == Some(c.value.as_str());
                    if ui
                        .add(
                            egui::Button::selectable(on, c.label.get(lang))
                                .min_size([360.0, TOUCH].into()),
                        )
                        .clicked()
                    {
                        pick = Some(c.value.clone());
                    }
                }
            });
        if pick.is_some() {
            self.buffers.remove(&open_key);
        }
        pick
    }
}

/// A date as a person types it: day, month and year (four digits) split by `-`, `/`, `.` or a space,
/// or eight digits in a row.
pub(crate) fn parse_typed_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let parts: Vec<&str> = if text.len() == 8 && text.chars().all(|c| c.is_ascii_digit()) {
        vec![text.get(..2)?, text.get(2..4)?, text.get(4..)?]
    } else {
        text.split(['-', '/', '.', ' '])
            .filter(|p| !p.is_empty())
            .collect()
    };
    let [d, m, y] = parts.as_slice() else {
        return None;
    };
    if y.len() != 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

fn photo_error_text(lang: Lang, e: &crate::app::AppError) -> String {
    format!(
        "{}: {}",
        tr(lang, "form.photo_failed"),
        photo_view::reason(lang, e)
    )
}

/// How a field (of one member, in a repeat) is named in buffers and messages: `nama` or `nama[2]`.
fn field_key(f: &Field, member: Option<usize>) -> String {
    match member {
        Some(i) => format!("{}[{i}]", f.name),
        None => f.name.clone(),
    }
}

fn page_of(form: &Form, issue: &Issue) -> Option<usize> {
    issue
        .field
        .and_then(|id| form.field_by_id(id))
        .map(|f| f.page)
}

fn show_issues(ui: &mut Ui, lang: Lang, ev: &Evaluation<'_>, id: usize, member: Option<usize>) {
    for issue in ev
        .issues
        .iter()
        .filter(|i| i.field == Some(id) && i.instance == member)
    {
        // "Required" is shown on the review list only, not under every empty field.
        if issue.code == "required" {
            continue;
        }
        ui.label(RichText::new(issue.message.get(lang)).color(severity_color(issue.severity)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_date_is_read_as_day_month_year() {
        let d = NaiveDate::from_ymd_opt(1979, 8, 14);
        for text in [
            "14-08-1979",
            "14/8/1979",
            " 14.08.1979 ",
            "14081979",
            "14 08 1979",
        ] {
            assert_eq!(parse_typed_date(text), d, "{text}");
        }
        for text in [
            "",
            "14-08",
            "31-02-1979",
            "1979-08-14",
            "14-08-79",
            "abc",
            "140819790",
        ] {
            assert_eq!(parse_typed_date(text), None, "{text}");
        }
    }
}
