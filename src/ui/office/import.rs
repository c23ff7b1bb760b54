//! The Import screen: the plugged-in sticks (as the tablet's Export screen finds them) or a folder;
//! the import runs in a background task with a line per file as it is saved, then the outcome in words,
//! with what needs a person linked to the screen that handles it.

use std::path::PathBuf;

use egui::{Color32, RichText, Ui};

use super::super::i18n::{tr, trf};
use super::super::{TOUCH, big_button, primary};
use super::{Page, field};
use crate::app::drives::{self, Drive};
use crate::app::office::Office;
use crate::app::office::import::{self, FileDone, Imported};
use crate::app::office::session::OfficeError;
use crate::app::task::{Task, Wake};
use crate::model::{Lang, Localized};

pub struct ImportScreen {
    office: Office,
    wake: Wake,
    drives: Vec<Drive>,
    /// A folder typed in.
    pub folder: String,
    running: Option<Task<Result<Imported, OfficeError>, FileDone>>,
    /// The files done so far (this run).
    lines: Vec<FileDone>,
    done: Option<Imported>,
    error: Option<Localized>,
}

impl ImportScreen {
    pub fn new(office: Office, wake: Wake) -> ImportScreen {
        ImportScreen {
            office,
            wake,
            drives: drives::removable(),
            folder: String::new(),
            running: None,
            lines: Vec::new(),
            done: None,
            error: None,
        }
    }

    /// The devices whose bundles the last import merged (receipts go back to them).
    pub fn imported_devices(&self) -> Vec<uuid::Uuid> {
        self.done
            .as_ref()
            .map(|d| d.devices.clone())
            .unwrap_or_default()
    }

    /// Imports the bundle files in `folder`.
    fn start(&mut self, folder: PathBuf) {
        self.lines.clear();
        self.done = None;
        self.error = None;
        let files = match import::files_in(&folder) {
            Ok(f) if f.is_empty() => {
                self.error = Some(Localized::new(
                    format!("Tidak ada berkas bundel (.age) di {}.", folder.display()),
                    format!("No bundle files (.age) in {}.", folder.display()),
                ));
                return;
            }
            Ok(f) => f,
            Err(e) => {
                self.error = Some(e.text());
                return;
            }
        };
        let office = self.office.clone();
        self.running = Some(Task::with_updates("import", self.wake.clone(), move |up| {
            import::run(&office, &files, crate::app::now(), up)
        }));
    }

    /// Waits for the import under way (tests, screenshots).
    pub fn wait(&mut self) {
        if let Some(t) = self.running.as_mut() {
            let r = t.wait();
            while let Some(u) = t.update() {
                self.lines.push(u);
            }
            self.running = None;
            self.finish(r.unwrap_or(Err(OfficeError::Stopped)));
        }
    }

    fn finish(&mut self, r: Result<Imported, OfficeError>) {
        match r {
            Ok(d) => self.done = Some(d),
            Err(e) => self.error = Some(e.text()),
        }
    }

    fn poll(&mut self) {
        if let Some(t) = self.running.as_mut() {
            while let Some(u) = t.update() {
                self.lines.push(u);
            }
            if let Some(r) = t.poll() {
                self.running = None;
                self.finish(r.unwrap_or(Err(OfficeError::Stopped)));
            }
        }
    }

    /// Draws the screen; returns the page a link asks for.
    pub fn ui(&mut self, ui: &mut Ui, lang: Lang) -> Option<Page> {
        self.poll();
        ui.heading(tr(lang, "office.import.title"));
        let busy = self.running.is_some();
        if !busy {
            self.source_ui(ui, lang);
        }
        if let Some(e) = &self.error {
            ui.colored_label(Color32::from_rgb(160, 0, 0), e.get(lang));
        }
        if busy {
            let (n, of) = self.lines.last().map_or((0, 1), |l| (l.n, l.of.max(1)));
            ui.add(
                egui::ProgressBar::new(n as f32 / of as f32)
                    .text(trf(
                        lang,
                        "office.import.progress",
                        &[("n", &n.to_string()), ("of", &of.to_string())],
                    ))
                    .desired_height(TOUCH * 0.6),
            );
        }
        let mut jump = None;
        if let Some(d) = &self.done {
            jump = outcome_ui(ui, lang, d);
        }
        for l in &self.lines {
            let color = if l.needs_person {
                Color32::from_rgb(130, 50, 0)
            } else {
                Color32::BLACK
            };
            ui.label(
                RichText::new(format!(
                    "[{}/{}] {}: {}",
                    l.n,
                    l.of,
                    l.name,
                    l.outcome.get(lang)
                ))
                .color(color),
            );
        }
        jump
    }

    fn source_ui(&mut self, ui: &mut Ui, lang: Lang) {
        ui.label(tr(lang, "office.import.intro"));
        if self.drives.is_empty() {
            ui.label(tr(lang, "drives.none"));
        }
        let mut go = None;
        for d in &self.drives {
            let text = trf(lang, "office.import.from_drive", &[("drive", &d.label)]);
            if ui.add(primary(&text)).clicked() {
                go = Some(d.path.clone());
            }
        }
        if big_button(ui, tr(lang, "drives.refresh")).clicked() {
            self.drives = drives::removable();
        }
        ui.add_space(8.0);
        field(
            ui,
            tr(lang, "office.import.folder"),
            &mut self.folder,
            false,
        );
        if big_button(ui, tr(lang, "office.import.from_folder")).clicked()
            && !self.folder.trim().is_empty()
        {
            go = Some(PathBuf::from(self.folder.trim()));
        }
        if let Some(p) = go {
            self.start(p);
        }
    }
}

/// The outcome in words, and links to what needs a person.
fn outcome_ui(ui: &mut Ui, lang: Lang, d: &Imported) -> Option<Page> {
    let mut jump = None;
    let n = |v: u64| v.to_string();
    ui.group(|ui| {
        ui.label(
            RichText::new(trf(
                lang,
                "office.import.summary",
                &[
                    ("files", &d.files.to_string()),
                    ("merged", &n(d.merged)),
                    ("again", &n(d.again)),
                    ("held", &n(d.held)),
                    ("refused", &n(d.refused)),
                    ("accepted", &n(d.revisions.accepted)),
                    ("quarantined", &n(d.revisions.quarantined)),
                    ("conflicts", &n(d.revisions.conflicts)),
                ],
            ))
            .strong(),
        );
        let nothing = d.pending_devices == 0 && d.queue == 0 && d.refused == 0;
        if nothing {
            ui.label(tr(lang, "office.import.nothing_to_do"));
        }
        if d.refused > 0 {
            ui.label(tr(lang, "office.import.refused_note"));
        }
        if d.pending_devices > 0 {
            ui.label(trf(
                lang,
                "office.import.devices_wait",
                &[("n", &n(d.pending_devices))],
            ));
            if big_button(ui, tr(lang, "office.import.to_devices")).clicked() {
                jump = Some(Page::Devices);
            }
        }
        if d.queue > 0 {
            ui.label(trf(lang, "office.import.queue_wait", &[("n", &n(d.queue))]));
            if big_button(ui, tr(lang, "office.import.to_queue")).clicked() {
                jump = Some(Page::Queue);
            }
        }
        if d.merged > 0 && big_button(ui, tr(lang, "office.import.to_receipts")).clicked() {
            jump = Some(Page::Receipts);
        }
    });
    jump
}
