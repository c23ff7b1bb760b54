//! The Export and Receipts screens. The export runs as a background task (the store is shared through an
//! `Arc<Device>`) and sends its stage as updates; the screen repaints only while it runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use egui::{Color32, RichText, Ui};
use uuid::Uuid;

use super::i18n::{tr, trf};
use super::{Command, TOUCH, big_button, primary_button};
use crate::app::drives::{self, Drive};
use crate::app::sync::{ExportOutcome, Exported, KeyChange, Preview, Selection, Stage};
use crate::app::task::{Task, Wake};
use crate::app::{AppError, Device};
use crate::model::Lang;
use crate::store::{Purged, ReceiptLog, ReceiptOutcome, RecordHead, Status};

const GREEN: Color32 = Color32::from_rgb(0, 110, 40);
const RED: Color32 = Color32::from_rgb(180, 0, 0);

/// A background task of the screen: its result, or the error that stopped it.
type Job<T, U = ()> = Task<crate::app::Result<T>, U>;

/// The Export screen's state.
#[derive(Default)]
pub struct ExportState {
    /// Where the bundle goes: a drive chosen from the list, or a folder typed in.
    pub folder: String,
    drives: Vec<Drive>,
    /// Export every final family again (a lost stick) instead of only what is new.
    pub all_again: bool,
    key: Option<(String, String)>,
    key_files: Vec<PathBuf>,
    pub key_path: String,
    preview: Option<Result<Preview, AppError>>,
    counting: Option<Job<Preview>>,
    /// The export running, sending its stage and how far it is.
    job: Option<Job<ExportOutcome, (Stage, f32)>>,
    stage: Option<(Stage, f32)>,
    /// How the last export went (kept as the error, told in the language of the moment).
    done: Option<Result<Exported, Refused>>,
    nothing: bool,
    /// Why the registry's key could not be read.
    error: Option<AppError>,
    /// Replacing the trusted registry key, while open.
    replace: Option<ReplaceKey>,
    wake: Wake,
}

/// Replacing the pinned registry key: a file, what it would change, and the supervisor's recovery code.
#[derive(Default)]
struct ReplaceKey {
    path: String,
    code: String,
    change: Option<Result<KeyChange, AppError>>,
    /// Why the last replacement was refused.
    refused: Option<AppError>,
}

/// Why the export, or setting the registry key, did not happen.
enum Refused {
    Export(AppError),
    Key(AppError),
}

impl ExportState {
    pub fn new(device: &Arc<Device>, wake: Wake) -> ExportState {
        let mut s = ExportState {
            wake,
            ..ExportState::default()
        };
        s.refresh(device);
        s
    }

    /// Looks again at the drives, the registry key and what would be exported.
    fn refresh(&mut self, device: &Arc<Device>) {
        self.drives = drives::removable();
        if self.folder.is_empty()
            && let Some(d) = self.drives.first()
        {
            self.folder = d.path.display().to_string();
        }
        self.error = None;
        match device.registry_key() {
            Ok(key) => self.key = key.map(|k| (k.name.clone(), k.fingerprint())),
            Err(e) => self.error = Some(e),
        }
        self.key_files = drives::registry_key_files(&self.drives);
        self.start_preview(device);
    }

    fn selection(&self) -> Selection {
        if self.all_again {
            Selection::All
        } else {
            Selection::SinceLast
        }
    }

    fn start_preview(&mut self, device: &Arc<Device>) {
        let device = Arc::clone(device);
        let selection = self.selection();
        self.counting = Some(Task::start(
            "export-preview",
            self.wake.clone(),
            move || device.export_preview(selection),
        ));
        self.preview = None;
    }

    /// Starts the export to the chosen folder ([`Command::StartExport`]).
    pub fn start_export(&mut self, device: &Arc<Device>, petugas: &str) {
        let device = Arc::clone(device);
        let folder = PathBuf::from(self.folder.trim());
        let selection = self.selection();
        let petugas = petugas.to_string();
        self.job = Some(Task::with_updates(
            "export",
            self.wake.clone(),
            move |progress| {
                device.export(&folder, selection, &petugas, &mut |stage, f| {
                    progress.send((stage, f));
                })
            },
        ));
        self.stage = Some((Stage::Collecting, 0.0));
        self.done = None;
        self.nothing = false;
    }

    /// Takes what the tasks sent; true while something runs.
    fn poll(&mut self, device: &Arc<Device>) -> bool {
        if let Some(p) = self.counting.as_mut().and_then(Task::poll) {
            self.preview = Some(p.map_err(AppError::from).and_then(|p| p));
            self.counting = None;
        }
        if let Some(job) = &mut self.job {
            while let Some(stage) = job.update() {
                self.stage = Some(stage);
            }
            if let Some(r) = job.poll() {
                match r.map_err(AppError::from).and_then(|r| r) {
                    Ok(ExportOutcome::Written(e)) => self.done = Some(Ok(*e)),
                    Ok(ExportOutcome::Nothing { .. }) => self.nothing = true,
                    Err(e) => self.done = Some(Err(Refused::Export(e))),
                }
                self.job = None;
                self.stage = None;
                self.start_preview(device);
            }
        }
        self.job.is_some() || self.counting.is_some()
    }
}

/// A use-case error in the petugas's language, said the way this screen needs it.
fn error_text(lang: Lang, e: &AppError) -> String {
    let text = e.text();
    let text = text.get(lang);
    match e {
        AppError::NoRegistryKey => tr(lang, "export.no_key").to_string(),
        AppError::Write(_) | AppError::NoFolder(_) => text.to_string(),
        AppError::Bundle(_) | AppError::WrongDevice { .. } => {
            format!("{} ({text})", tr(lang, "receipts.err_file"))
        }
        _ => format!("{}: {text}", tr(lang, "error.prefix")),
    }
}

/// A full-width text field with its label (for touch, and for screen readers and tests).
fn labelled_field(ui: &mut Ui, label: &str, value: &mut String) {
    let label = ui.label(label);
    ui.add(egui::TextEdit::singleline(value).min_size([ui.available_width(), TOUCH].into()))
        .labelled_by(label.id);
}

/// A file size as a person reads it: KB below a megabyte, MB below a gigabyte, GB above; Indonesian
/// writes the decimal comma.
fn size_text(lang: Lang, bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    let text = if b < KB * KB {
        format!("{:.0} KB", (b / KB).max(1.0))
    } else if b < KB * KB * KB {
        format!("{:.1} MB", b / (KB * KB))
    } else {
        format!("{:.1} GB", b / (KB * KB * KB))
    };
    match lang {
        Lang::Id => text.replace('.', ","),
        Lang::En => text,
    }
}

pub fn export_ui(
    ui: &mut Ui,
    lang: Lang,
    device: &Arc<Device>,
    st: &mut ExportState,
    cmd: &mut Option<Command>,
) {
    if st.poll(device) {
        ui.ctx().request_repaint_after(Duration::from_millis(100));
    }
    ui.heading(tr(lang, "export.title"));
    egui::ScrollArea::vertical().show(ui, |ui| {
        key_ui(ui, lang, st, cmd);
        where_ui(ui, lang, device, st);
        let can_export = what_ui(ui, lang, device, st);
        let ready =
            can_export && st.key.is_some() && !st.folder.trim().is_empty() && st.job.is_none();
        // The one big action of the screen, the full width of the column.
        let start = super::primary(tr(lang, "export.start"))
            .min_size([ui.available_width(), TOUCH * 1.4].into());
        if ui.add_enabled(ready, start).clicked() {
            *cmd = Some(Command::StartExport);
        }
        outcome_ui(ui, lang, st);
    });
}

/// The registry's key, or where to set it from.
fn key_ui(ui: &mut Ui, lang: Lang, st: &mut ExportState, cmd: &mut Option<Command>) {
    if let Some(e) = &st.error {
        ui.label(RichText::new(error_text(lang, e)).color(RED).strong());
    }
    match &st.key {
        Some((name, fp)) => {
            ui.label(trf(
                lang,
                "export.key",
                &[("name", name), ("fingerprint", fp)],
            ));
            if st.replace.is_none() {
                if big_button(ui, tr(lang, "export.replace_key")).clicked() {
                    st.replace = Some(ReplaceKey {
                        path: st
                            .key_files
                            .first()
                            .map(|f| f.display().to_string())
                            .unwrap_or_default(),
                        ..ReplaceKey::default()
                    });
                }
            } else {
                replace_ui(ui, lang, st, cmd);
            }
        }
        None => {
            ui.label(RichText::new(tr(lang, "export.no_key")).color(RED).strong());
            for f in st.key_files.clone() {
                let text = trf(
                    lang,
                    "export.use_key",
                    &[("file", &f.display().to_string())],
                );
                // Without the key nothing can be exported: setting it is this screen's action now.
                if primary_button(ui, &text).clicked() {
                    *cmd = Some(Command::SetRegistryKey(f));
                }
            }
            labelled_field(ui, tr(lang, "export.key_path"), &mut st.key_path);
            if big_button(ui, tr(lang, "export.set_key")).clicked() {
                *cmd = Some(Command::SetRegistryKey(PathBuf::from(st.key_path.trim())));
            }
            ui.separator();
        }
    }
}

/// Replacing the trusted registry key: the file, both fingerprints to compare with the registry's
/// office, then the supervisor's recovery code. A petugas alone cannot do it (DESIGN: the key is
/// pinned; a swapped `registry.pub` on a stick would send every family to whoever made it).
fn replace_ui(ui: &mut Ui, lang: Lang, st: &mut ExportState, cmd: &mut Option<Command>) {
    let Some(r) = st.replace.as_mut() else {
        return;
    };
    ui.separator();
    ui.label(RichText::new(tr(lang, "export.replace_title")).strong());
    ui.label(tr(lang, "export.replace_why"));
    labelled_field(ui, tr(lang, "export.key_path"), &mut r.path);
    if big_button(ui, tr(lang, "export.replace_check")).clicked() {
        *cmd = Some(Command::CheckRegistryKey(PathBuf::from(r.path.trim())));
    }
    let mut ready = false;
    match &r.change {
        Some(Ok(change)) => {
            if let Some((name, fp)) = &change.current {
                ui.label(trf(
                    lang,
                    "export.replace_current",
                    &[("name", name), ("fingerprint", fp)],
                ));
            }
            let (name, fp) = &change.new;
            ui.label(
                RichText::new(trf(
                    lang,
                    "export.replace_new",
                    &[("name", name), ("fingerprint", fp)],
                ))
                .strong(),
            );
            if change.same {
                ui.label(tr(lang, "export.replace_same"));
            } else {
                ready = true;
            }
        }
        Some(Err(e)) => {
            ui.label(RichText::new(error_text(lang, e)).color(RED).strong());
        }
        None => {}
    }
    if ready {
        let label = ui.label(tr(lang, "export.replace_code"));
        ui.add(
            egui::TextEdit::singleline(&mut r.code)
                .password(true)
                .min_size([ui.available_width(), TOUCH].into()),
        )
        .labelled_by(label.id);
        if let Some(e) = &r.refused {
            ui.label(RichText::new(error_text(lang, e)).color(RED).strong());
        }
        let can = !r.code.trim().is_empty();
        if ui
            .add_enabled(
                can,
                egui::Button::new(tr(lang, "export.replace_do")).min_size([0.0, TOUCH].into()),
            )
            .clicked()
        {
            *cmd = Some(Command::ReplaceRegistryKey {
                path: PathBuf::from(r.path.trim()),
                code: r.code.trim().to_string(),
            });
        }
    }
    if big_button(ui, tr(lang, "action.cancel")).clicked() {
        st.replace = None;
    }
    ui.separator();
}

/// Where to: the drives seen, or a folder typed in.
fn where_ui(ui: &mut Ui, lang: Lang, device: &Arc<Device>, st: &mut ExportState) {
    ui.label(RichText::new(tr(lang, "export.where")).strong());
    if st.drives.is_empty() {
        ui.label(tr(lang, "drives.none"));
    }
    for d in st.drives.clone() {
        let free = d
            .free
            .map(|f| trf(lang, "drives.free", &[("size", &size_text(lang, f))]))
            .unwrap_or_default();
        let path = d.path.display().to_string();
        let chosen = st.folder == path;
        let text = format!("{} — {free}", d.label);
        if ui
            .add(
                egui::Button::selectable(chosen, text)
                    .min_size([ui.available_width(), TOUCH].into()),
            )
            .clicked()
        {
            st.folder = path;
        }
    }
    labelled_field(ui, tr(lang, "export.folder"), &mut st.folder);
    if big_button(ui, tr(lang, "drives.refresh")).clicked() {
        st.refresh(device);
    }
    ui.separator();
}

/// What: new families or all again, and what that would export. True when there is something.
fn what_ui(ui: &mut Ui, lang: Lang, device: &Arc<Device>, st: &mut ExportState) -> bool {
    let before = st.all_again;
    ui.checkbox(&mut st.all_again, tr(lang, "export.all_again"));
    if st.all_again != before {
        st.start_preview(device);
    }
    match &st.preview {
        None => {
            ui.label(tr(lang, "export.counting"));
            false
        }
        Some(Err(e)) => {
            ui.label(RichText::new(error_text(lang, e)).color(RED));
            false
        }
        Some(Ok(p)) if p.families == 0 => {
            ui.label(tr(lang, "export.nothing"));
            false
        }
        Some(Ok(p)) => {
            ui.label(
                RichText::new(trf(
                    lang,
                    "export.preview",
                    &[
                        ("families", &p.families.to_string()),
                        ("photos", &p.attachments.to_string()),
                        ("size", &size_text(lang, p.bytes)),
                    ],
                ))
                .strong(),
            );
            true
        }
    }
}

/// How it went: the stage while it runs, then "safe to remove" or why not.
fn outcome_ui(ui: &mut Ui, lang: Lang, st: &ExportState) {
    if let Some((stage, f)) = st.stage {
        let key = match stage {
            Stage::Collecting => "export.stage_collecting",
            Stage::Writing => "export.stage_writing",
            Stage::Verifying => "export.stage_verifying",
            Stage::Marking => "export.stage_marking",
        };
        ui.label(tr(lang, key));
        ui.add(egui::ProgressBar::new(f).show_percentage());
    }
    if st.nothing {
        ui.label(tr(lang, "export.nothing"));
    }
    match &st.done {
        Some(Ok(e)) => {
            ui.label(
                RichText::new(tr(lang, "export.safe_to_remove"))
                    .color(GREEN)
                    .size(24.0)
                    .strong(),
            );
            ui.label(trf(
                lang,
                "export.done",
                &[
                    ("families", &e.families.to_string()),
                    ("file", &e.file),
                    ("size", &size_text(lang, e.size)),
                ],
            ));
            ui.label(tr(lang, "export.verified"));
        }
        Some(Err(Refused::Export(e))) => {
            ui.label(RichText::new(error_text(lang, e)).color(RED).strong());
            ui.label(tr(lang, "export.nothing_marked"));
        }
        Some(Err(Refused::Key(e))) => {
            let text = format!("{}: {}", tr(lang, "export.key_refused"), e.text().get(lang));
            ui.label(RichText::new(text).color(RED).strong());
            ui.label(tr(lang, "export.nothing_marked"));
        }
        None => {}
    }
}

impl ExportState {
    /// Sets the registry's key from a file ([`Command::SetRegistryKey`]), and looks again.
    pub fn set_key(&mut self, device: &Arc<Device>, path: &std::path::Path) {
        match device.set_registry_key_file(path) {
            Ok(_) => self.refresh(device),
            Err(e) => self.done = Some(Err(Refused::Key(e))),
        }
    }
}

impl ExportState {
    /// Shows what replacing the key by the file's would change ([`Command::CheckRegistryKey`]).
    pub fn check_key(&mut self, device: &Arc<Device>, path: &std::path::Path) {
        if let Some(r) = self.replace.as_mut() {
            r.change = Some(device.registry_key_change_file(path));
            r.refused = None;
        }
    }

    /// Replaces the key, the supervisor's recovery code given ([`Command::ReplaceRegistryKey`]); on
    /// success the replacement closes and the screen shows the new key.
    pub fn replace_key(&mut self, device: &Arc<Device>, path: &std::path::Path, code: &str) {
        match device.replace_registry_key_file_as_supervisor(path, code) {
            Ok(_) => {
                self.replace = None;
                self.refresh(device);
            }
            Err(e) => {
                if let Some(r) = self.replace.as_mut() {
                    r.code.clear();
                    r.refused = Some(e);
                }
            }
        }
    }
}

impl ReceiptsState {
    /// Counts the families accepted before the day typed, when it is a day other than the one counted.
    fn count_purgeable(&mut self, device: &Device) {
        let Some(day) = super::form_view::parse_typed_date(&self.purge_date) else {
            return;
        };
        if self.purgeable.as_ref().is_some_and(|(d, _)| *d == day) {
            return;
        }
        self.confirm = false;
        self.purgeable = Some((day, device.purgeable(day)));
    }

    /// The day chosen for removing accepted families, when it is one.
    pub fn purge_day(&self) -> Option<chrono::NaiveDate> {
        super::form_view::parse_typed_date(&self.purge_date)
    }
}

/// Removing the families the registry accepted (DESIGN: purged after a retention period): the count
/// for the day typed, then a confirmation. The removal erases them from the file (a new data key).
fn purge_ui(
    ui: &mut Ui,
    lang: Lang,
    device: &Device,
    st: &mut ReceiptsState,
    cmd: &mut Option<Command>,
) {
    ui.separator();
    ui.label(RichText::new(tr(lang, "purge.title")).strong());
    ui.label(tr(lang, "purge.why"));
    labelled_field(ui, tr(lang, "purge.before"), &mut st.purge_date);
    st.count_purgeable(device);
    match &st.purgeable {
        _ if st.purge_day().is_none() => {
            ui.label(RichText::new(tr(lang, "purge.bad_date")).color(RED));
        }
        Some((_, Ok(0))) => {
            ui.label(tr(lang, "purge.none"));
        }
        Some((_, Ok(n))) => {
            let n = n.to_string();
            if st.confirm {
                ui.label(
                    RichText::new(trf(lang, "purge.sure", &[("count", &n)]))
                        .color(RED)
                        .strong(),
                );
                ui.horizontal(|ui| {
                    if big_button(ui, &trf(lang, "purge.do", &[("count", &n)])).clicked() {
                        *cmd = Some(Command::PurgeAccepted);
                    }
                    if big_button(ui, tr(lang, "action.cancel")).clicked() {
                        st.confirm = false;
                    }
                });
            } else if big_button(ui, &trf(lang, "purge.ask", &[("count", &n)])).clicked() {
                st.confirm = true;
            }
        }
        Some((_, Err(e))) => {
            ui.label(RichText::new(error_text(lang, e)).color(RED).strong());
        }
        None => {}
    }
    match &st.purged {
        Some(Ok(p)) => {
            ui.label(
                RichText::new(trf(
                    lang,
                    "purge.done",
                    &[("count", &p.records.to_string())],
                ))
                .color(GREEN)
                .strong(),
            );
        }
        Some(Err(e)) => {
            ui.label(RichText::new(error_text(lang, e)).color(RED).strong());
        }
        None => {}
    }
}

/// The Receipts screen's state.
#[derive(Default)]
pub struct ReceiptsState {
    pub folder: String,
    files: Vec<PathBuf>,
    rejected: Vec<RecordHead>,
    history: Vec<ReceiptLog>,
    /// How applying the last receipt went (kept as the error, told in the language of the moment).
    last: Option<Result<(ReceiptOutcome, bool), AppError>>,
    /// Why the rejected families or the receipts applied could not be read.
    error: Option<AppError>,
    /// Removing families the registry accepted: the day typed (as on a KK: dd-mm-yyyy), how many
    /// were accepted before it, whether the petugas was asked to confirm, and how the last one went.
    pub purge_date: String,
    purgeable: Option<(chrono::NaiveDate, Result<usize, AppError>)>,
    confirm: bool,
    pub purged: Option<Result<Purged, AppError>>,
}

impl ReceiptsState {
    pub fn new(device: &Device) -> ReceiptsState {
        let mut s = ReceiptsState::default();
        if let Some(d) = drives::removable().first() {
            s.folder = d.path.display().to_string();
        }
        s.refresh(device);
        s
    }

    /// Applies a receipt file ([`Command::ApplyReceipt`]), and looks again.
    pub fn apply(&mut self, device: &Device, file: &std::path::Path) {
        self.last = Some(
            device
                .apply_receipt_file(file)
                .map(|(_, o, first)| (o, first)),
        );
        self.refresh(device);
    }

    fn refresh(&mut self, device: &Device) {
        if self.purge_date.is_empty() {
            let day = crate::app::now().date_naive()
                - chrono::Duration::days(crate::app::sync::RETENTION_DAYS);
            self.purge_date = day.format("%d-%m-%Y").to_string();
        }
        self.purgeable = None;
        self.count_purgeable(device);
        self.files = drives::receipt_files(&self.folder);
        self.error = None;
        match device.list(Some(Status::Rejected)) {
            Ok(rejected) => self.rejected = rejected,
            Err(e) => self.error = Some(e),
        }
        match device.receipts() {
            Ok(history) => self.history = history,
            Err(e) => self.error = Some(e),
        }
    }
}

pub fn receipts_ui(
    ui: &mut Ui,
    lang: Lang,
    device: &Device,
    st: &mut ReceiptsState,
    cmd: &mut Option<Command>,
) {
    ui.heading(tr(lang, "receipts.title"));
    egui::ScrollArea::vertical().show(ui, |ui| {
        labelled_field(ui, tr(lang, "receipts.folder"), &mut st.folder);
        if big_button(ui, tr(lang, "drives.refresh")).clicked() {
            st.refresh(device);
        }
        if st.files.is_empty() {
            ui.label(tr(lang, "receipts.none_found"));
        }
        for f in st.files.clone() {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if primary_button(ui, &trf(lang, "receipts.apply", &[("file", &name)])).clicked() {
                *cmd = Some(Command::ApplyReceipt(f));
            }
        }
        match &st.last {
            Some(Ok((o, first))) => {
                if !first {
                    ui.label(tr(lang, "receipts.already"));
                }
                ui.label(
                    RichText::new(trf(
                        lang,
                        "receipts.outcome",
                        &[
                            ("accepted", &o.accepted.to_string()),
                            ("rejected", &o.rejected.to_string()),
                        ],
                    ))
                    .color(GREEN)
                    .strong(),
                );
            }
            Some(Err(e)) => {
                ui.label(RichText::new(error_text(lang, e)).color(RED).strong());
            }
            None => {}
        }
        if let Some(e) = &st.error {
            ui.label(RichText::new(error_text(lang, e)).color(RED).strong());
        }
        ui.separator();
        ui.label(RichText::new(tr(lang, "receipts.rejected")).strong());
        if st.rejected.is_empty() {
            ui.label(tr(lang, "receipts.no_rejected"));
        }
        let mut open: Option<Uuid> = None;
        for head in &st.rejected {
            ui.group(|ui| {
                ui.label(
                    RichText::new(format!(
                        "{} · KK {}",
                        crate::model::printable::clean(&head.summary.head_name),
                        crate::model::printable::clean(&head.summary.no_kk)
                    ))
                    .strong(),
                );
                for r in head.rejection_reasons() {
                    ui.label(RichText::new(format!("• {}", r.get(lang))).color(RED));
                }
                let fix = format!(
                    "{} — {}",
                    tr(lang, "receipts.fix"),
                    crate::model::printable::clean(&head.summary.head_name)
                );
                if big_button(ui, &fix).clicked() {
                    open = Some(head.id);
                }
            });
        }
        if let Some(id) = open {
            *cmd = Some(Command::Open(id));
        }
        purge_ui(ui, lang, device, st, cmd);
        if !st.history.is_empty() {
            ui.separator();
            ui.label(RichText::new(tr(lang, "receipts.history")).strong());
            for h in &st.history {
                ui.label(format!(
                    "{} · {} · {} / {}",
                    h.applied_at.format("%Y-%m-%d %H:%M"),
                    h.registry,
                    h.outcome.accepted,
                    h.outcome.rejected
                ));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally_in_both_languages() {
        assert_eq!(size_text(Lang::En, 11_000), "11 KB");
        assert_eq!(size_text(Lang::En, 10), "1 KB");
        assert_eq!(size_text(Lang::Id, 52_638_515), "50,2 MB");
        assert_eq!(size_text(Lang::En, 52_638_515), "50.2 MB");
        assert_eq!(size_text(Lang::Id, 3 * 1024 * 1024 * 1024 / 2), "1,5 GB");
    }
}
