//! The Receipts, Reports and Work packages screens: receipts onto the plugged-in sticks, the HTML
//! report written and opened, the CSV/XLSX export (each in a background task with a progress
//! indicator), and the work packages written so far (read only).

use std::path::PathBuf;

use egui::{Color32, RichText, Ui};

use super::super::i18n::{tr, trf};
use super::super::{TOUCH, big_button, primary};
use super::field;
use crate::app::drives::{self, Drive};
use crate::app::office::Office;
use crate::app::office::outputs::{self, Format, PackageRow, ReceiptDone};
use crate::app::office::session::OfficeError;
use crate::app::task::{Task, Updates, Wake};
use crate::model::{Lang, Localized};

/// What a finished task of this screen says.
enum Said {
    Receipts(Vec<ReceiptDone>),
    Report(PathBuf),
    Export(Vec<(PathBuf, u64)>),
}

pub struct OutputsScreen {
    office: Office,
    wake: Wake,
    drives: Vec<Drive>,
    /// Where reports and exports go.
    pub folder: String,
    running: Option<Task<Result<Said, OfficeError>, (u64, u64)>>,
    /// The running work's last (done, of) figures, when it tells them (the export).
    progress: Option<(u64, u64)>,
    said: Option<Result<Said, Localized>>,
    packages: Option<Task<Result<Vec<PackageRow>, OfficeError>>>,
    package_rows: Option<Result<Vec<PackageRow>, Localized>>,
}

impl OutputsScreen {
    pub fn new(office: Office, wake: Wake) -> OutputsScreen {
        let folder = outputs::default_folder(&office).display().to_string();
        OutputsScreen {
            office,
            wake,
            drives: drives::removable(),
            folder,
            running: None,
            progress: None,
            said: None,
            packages: None,
            package_rows: None,
        }
    }

    /// Reads the work packages again.
    pub fn refresh(&mut self) {
        self.package_rows = None;
    }

    fn start(
        &mut self,
        work: impl FnOnce(&Office, &Updates<(u64, u64)>) -> Result<Said, OfficeError> + Send + 'static,
    ) {
        let office = self.office.clone();
        self.said = None;
        self.progress = None;
        self.running = Some(Task::with_updates(
            "office-output",
            self.wake.clone(),
            move |updates| work(&office, updates),
        ));
    }

    /// Waits for the work under way (tests, screenshots).
    pub fn wait(&mut self) {
        if let Some(t) = self.running.as_mut() {
            let r = t.wait().unwrap_or(Err(OfficeError::Stopped));
            self.running = None;
            self.said = Some(r.map_err(|e| e.text()));
        }
        if let Some(t) = self.packages.as_mut() {
            let r = t.wait().unwrap_or(Err(OfficeError::Stopped));
            self.packages = None;
            self.package_rows = Some(r.map_err(|e| e.text()));
        }
    }

    fn poll(&mut self) {
        while let Some(p) = self.running.as_mut().and_then(Task::update) {
            self.progress = Some(p);
        }
        if let Some(r) = self.running.as_mut().and_then(Task::poll) {
            self.running = None;
            self.said = Some(r.unwrap_or(Err(OfficeError::Stopped)).map_err(|e| e.text()));
        }
        if let Some(r) = self.packages.as_mut().and_then(Task::poll) {
            self.packages = None;
            self.package_rows = Some(r.unwrap_or(Err(OfficeError::Stopped)).map_err(|e| e.text()));
        }
    }

    fn busy_ui(&self, ui: &mut Ui, lang: Lang) -> bool {
        if self.running.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(tr(lang, "office.working"));
            });
            let bar = match self.progress {
                Some((done, of)) if of > 0 => {
                    #[expect(
                        clippy::cast_precision_loss,
                        reason = "a share on a progress bar: exact to far below a pixel"
                    )]
                    let share = done as f32 / of as f32;
                    egui::ProgressBar::new(share).text(trf(
                        lang,
                        "office.progress.families",
                        &[("done", &done.to_string()), ("of", &of.to_string())],
                    ))
                }
                _ => egui::ProgressBar::new(0.0).animate(true),
            };
            ui.add(bar.desired_height(TOUCH * 0.4));
            return true;
        }
        false
    }

    fn said_ui(&self, ui: &mut Ui, lang: Lang) -> Option<PathBuf> {
        let mut open = None;
        match &self.said {
            None => {}
            Some(Err(e)) => {
                ui.colored_label(Color32::from_rgb(160, 0, 0), e.get(lang));
            }
            Some(Ok(Said::Receipts(done))) => {
                if done.is_empty() {
                    ui.label(tr(lang, "office.receipts.no_bundles"));
                }
                for r in done {
                    let line = match &r.outcome {
                        Ok(f) => trf(
                            lang,
                            "office.receipts.written",
                            &[
                                ("device", &r.device),
                                ("file", &f.file),
                                ("accepted", &f.accepted.to_string()),
                                ("rejected", &f.rejected.to_string()),
                                ("waiting", &f.waiting.to_string()),
                            ],
                        ),
                        Err(e) => format!("{}: {}", r.device, e.get(lang)),
                    };
                    ui.label(line);
                }
            }
            Some(Ok(Said::Report(path))) => {
                ui.label(
                    RichText::new(trf(
                        lang,
                        "office.reports.written",
                        &[("file", &path.display().to_string())],
                    ))
                    .strong(),
                );
                if big_button(ui, tr(lang, "office.reports.open")).clicked() {
                    open = Some(path.clone());
                }
            }
            Some(Ok(Said::Export(files))) => {
                for (f, rows) in files {
                    ui.label(trf(
                        lang,
                        "office.reports.exported",
                        &[
                            ("file", &f.display().to_string()),
                            ("rows", &rows.to_string()),
                        ],
                    ));
                }
            }
        }
        open
    }

    pub fn receipts_ui(&mut self, ui: &mut Ui, lang: Lang) {
        self.poll();
        ui.heading(tr(lang, "office.receipts.title"));
        ui.label(tr(lang, "office.receipts.intro"));
        if !self.busy_ui(ui, lang) {
            if self.drives.is_empty() {
                ui.label(tr(lang, "drives.none"));
            }
            let mut go = None;
            for d in &self.drives {
                let text = trf(lang, "office.receipts.to_drive", &[("drive", &d.label)]);
                if ui.add(primary(&text)).clicked() {
                    go = Some(d.path.clone());
                }
            }
            if big_button(ui, tr(lang, "drives.refresh")).clicked() {
                self.drives = drives::removable();
            }
            if let Some(path) = go {
                self.start(move |o, _| {
                    Ok(Said::Receipts(outputs::receipts_to(
                        o,
                        &path,
                        crate::app::now(),
                    )?))
                });
            }
        }
        self.said_ui(ui, lang);
    }

    pub fn reports_ui(&mut self, ui: &mut Ui, lang: Lang) {
        self.poll();
        ui.heading(tr(lang, "office.reports.title"));
        field(
            ui,
            tr(lang, "office.reports.folder"),
            &mut self.folder,
            false,
        );
        if !self.busy_ui(ui, lang) {
            let folder = PathBuf::from(self.folder.trim());
            ui.horizontal_wrapped(|ui| {
                if ui.add(primary(tr(lang, "office.reports.html"))).clicked() {
                    let folder = folder.clone();
                    self.start(move |o, _| {
                        Ok(Said::Report(outputs::write_report(
                            o,
                            &folder,
                            crate::app::now(),
                        )?))
                    });
                }
                for (key, format) in [
                    ("office.reports.csv", Format::Csv),
                    ("office.reports.xlsx", Format::Xlsx),
                ] {
                    if big_button(ui, tr(lang, key)).clicked() {
                        let folder = folder.clone();
                        self.start(move |o, updates| {
                            Ok(Said::Export(outputs::export(
                                o,
                                format,
                                &folder,
                                crate::app::now(),
                                &mut |done, of| {
                                    updates.send((done, of));
                                },
                            )?))
                        });
                    }
                }
            });
        }
        if let Some(path) = self.said_ui(ui, lang)
            && let Err(e) = outputs::open_file(&path)
        {
            self.said = Some(Err(e.text()));
        }
    }

    pub fn packages_ui(&mut self, ui: &mut Ui, lang: Lang) {
        self.poll();
        ui.heading(tr(lang, "office.packages.title"));
        ui.label(tr(lang, "office.packages.intro"));
        if self.package_rows.is_none() && self.packages.is_none() {
            let office = self.office.clone();
            self.packages = Some(Task::start("packages", self.wake.clone(), move || {
                outputs::packages(&office)
            }));
        }
        match &self.package_rows {
            None => {
                ui.spinner();
            }
            Some(Err(e)) => {
                ui.colored_label(Color32::from_rgb(160, 0, 0), e.get(lang));
            }
            Some(Ok(rows)) if rows.is_empty() => {
                ui.label(tr(lang, "office.packages.none"));
            }
            Some(Ok(rows)) => packages_table(ui, lang, rows),
        }
        if big_button(ui, tr(lang, "office.dashboard.refresh")).clicked() {
            self.package_rows = None;
        }
    }
}

fn packages_table(ui: &mut Ui, lang: Lang, rows: &[PackageRow]) {
    egui::Grid::new("office_packages")
        .striped(true)
        .spacing([18.0, 8.0])
        .show(ui, |ui| {
            for h in [
                "office.packages.id",
                "office.packages.device",
                "office.packages.desa",
                "office.col.families",
                "office.packages.created",
                "office.packages.expires",
                "office.packages.state",
            ] {
                ui.label(RichText::new(tr(lang, h)).strong());
            }
            ui.end_row();
            for r in rows {
                ui.label(&r.short);
                ui.label(&r.device);
                ui.label(&r.desa);
                ui.label(r.families.to_string());
                ui.label(r.created.format("%d-%m-%Y").to_string());
                ui.label(r.expires.format("%d-%m-%Y").to_string());
                ui.label(&r.state);
                ui.end_row();
            }
        });
}
