//! The tablet app (egui/eframe): screens draw the state and emit [`Command`]s; the app runs them after the
//! frame through the `app` use cases. No storage and no file formats here.

pub mod form_view;
pub mod i18n;
pub mod office;
pub mod photo_view;
pub mod sync_view;
pub mod visits_view;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Align, AtomExt, Color32, Layout, RichText, Ui};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::gps::{Fix, GpsError};
use crate::app::home::HomeFacts;
use crate::app::list::{ListAnswer, ListQuery, ListWorker};
use crate::app::task::{Stopped, Task, Wake};
use crate::app::{AppError, Device};
use crate::form::Severity;
use crate::model::printable::clean;
use crate::model::{Lang, Localized};
use crate::store::{Answers, ListFilter, ListRow, ListView, Status};
use form_view::Editor;
use i18n::{tr, trf};
use photo_view::Picker;

/// Autosave delay after the last change (the spec allows up to 1 s).
const SAVE_AFTER: Duration = Duration::from_millis(600);
/// The app locks after this long without input.
const LOCK_AFTER: Duration = Duration::from_secs(10 * 60);
/// Touch target height.
pub const TOUCH: f32 = 48.0;
/// The widest the content of a screen gets: lines a person reads at arm's length, centred.
pub const COLUMN: f32 = 1000.0;

/// Preferences kept on the device (in the store's settings).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Prefs {
    pub lang: Lang,
    pub dark: bool,
    /// Text size factor: 1.0 normal, larger for sunlight and older eyes.
    pub text_scale: f32,
}

impl Default for Prefs {
    fn default() -> Self {
        Prefs {
            lang: Lang::Id,
            dark: false,
            text_scale: 1.0,
        }
    }
}

/// What the app returns to after a restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Resume {
    record: Option<Uuid>,
    page: usize,
    member: Option<usize>,
}

#[derive(Default)]
pub struct SetupForm {
    pub device_name: String,
    pub code: String,
    pub name: String,
    pub pin: String,
    pub pin2: String,
}

#[derive(Default)]
pub struct SignInForm {
    pub code: String,
    pub pin: String,
    /// The recovery code, right after first-run setup: shown once, and sign-in waits until the petugas
    /// says it is written down.
    pub recovery: Option<String>,
    pub written: bool,
}

#[derive(Default)]
pub struct ListState {
    pub query: String,
    pub status: Option<Status>,
    pub desa: String,
    /// Search results (a query of two characters or more), filtered.
    found: Vec<ListRow>,
    /// The whole list under the filter, read a page at a time (no query).
    view: Option<ListView>,
    /// The rows read last: the position of the first, and the rows.
    page: (usize, Vec<ListRow>),
    /// The query the rows on screen answer, and the one asked of the worker.
    shown_for: Option<ListQuery>,
    asked_for: Option<ListQuery>,
    /// Answers queries off the UI thread (started with the screen's first frame).
    worker: Option<ListWorker>,
    error: Option<Localized>,
}

impl ListState {
    /// How many families the list shows.
    pub fn len(&self) -> usize {
        match &self.view {
            Some(v) => v.len(),
            None => self.found.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the rows on screen are older than the filter and search typed (an answer is on its way).
    pub fn is_pending(&self) -> bool {
        self.asked_for != self.shown_for
    }

    /// Blocks until the worker has answered the last query, and takes the answer (tests, benchmarks).
    pub fn wait(&mut self) {
        if self.is_pending()
            && let Some(answer) = self.worker.as_mut().and_then(ListWorker::wait)
        {
            self.show(answer);
        }
    }

    fn show(&mut self, answer: ListAnswer) {
        self.page = (0, Vec::new());
        self.found = Vec::new();
        self.view = None;
        self.error = None;
        match answer {
            ListAnswer::View(v) => self.view = Some(v),
            ListAnswer::Found(rows) => self.found = rows,
            ListAnswer::Failed(e) => self.error = Some(e.text()),
        }
        self.shown_for = self.asked_for.clone();
    }

    /// The query the fields ask for now.
    fn query(&self) -> ListQuery {
        // One letter matches half the province: search from two characters on, as people type names.
        let search = if self.query.trim().chars().count() < 2 {
            String::new()
        } else {
            self.query.clone()
        };
        ListQuery {
            search,
            filter: ListFilter {
                status: self.status,
                desa: self.desa.trim().to_string(),
            },
        }
    }

    /// Asks the worker when the fields changed, and takes its answer when it is there.
    fn refresh(&mut self, device: &Arc<Device>, ctx: &egui::Context) {
        let query = self.query();
        if self.asked_for.as_ref() != Some(&query) {
            let worker = self
                .worker
                .get_or_insert_with(|| ListWorker::start(device.clone(), wake(ctx)));
            worker.ask(query.clone());
            self.asked_for = Some(query);
        }
        if self.is_pending()
            && let Some(answer) = self.worker.as_mut().and_then(ListWorker::poll)
        {
            self.show(answer);
        }
    }
}

pub enum Screen {
    Setup(SetupForm),
    SignIn(SignInForm),
    Home,
    List(Box<ListState>),
    Edit(Box<Editor>),
    Settings,
    Export(Box<sync_view::ExportState>),
    Receipts(Box<sync_view::ReceiptsState>),
    /// The store is there but cannot be opened (damaged, read-only, no permission, busy): said, with
    /// what to do, instead of first-run setup (which would start a second store) or a crash.
    Unavailable(Localized),
    /// Tugas kunjungan: the families from work packages.
    Visits(Box<visits_view::VisitsState>),
}

/// What a screen asks the app to do: the one way the screens reach the app. A screen writes it while
/// drawing; the app runs it after the frame ([`PendataApp::run`]).
pub enum Command {
    Setup,
    SignIn,
    SignOut,
    Home,
    List,
    Settings,
    NewFamily,
    Open(Uuid),
    Finalize {
        ack: bool,
    },
    StartCorrection(String),
    SetPrefs(Prefs),
    Export,
    Receipts,
    Visits,
    /// Open the photo picker of a field (of a member, in a repeat).
    OpenPicker {
        field: usize,
        member: Option<usize>,
    },
    /// Store a photo file and put it into a field.
    AttachPhoto {
        field: usize,
        member: Option<usize>,
        path: PathBuf,
    },
    /// Read the location service into a GPS field.
    ReadGps {
        field: usize,
        member: Option<usize>,
    },
    /// Export to the folder chosen on the Export screen.
    StartExport,
    /// Take the registry's key from a file (`registry.pub`).
    SetRegistryKey(PathBuf),
    /// Show what replacing the trusted registry key by a file's would change (both fingerprints).
    CheckRegistryKey(PathBuf),
    /// Replace the trusted registry key by a file's, the supervisor's recovery code given.
    ReplaceRegistryKey {
        path: PathBuf,
        code: String,
    },
    /// Apply a receipt file from the registry.
    ApplyReceipt(PathBuf),
    /// Remove the families accepted before the day chosen on the Receipts screen, and erase them from
    /// the file.
    PurgeAccepted,
    /// Open the registry office set up on this PC (start screen).
    Office,
}

pub struct PendataApp {
    data_dir: PathBuf,
    device: Option<Arc<Device>>,
    /// Who can sign in, read from the store's key slots while it is locked (code, name).
    holders: Vec<(String, String)>,
    pub screen: Screen,
    pub prefs: Prefs,
    user: Option<(String, String)>,
    last_input: Instant,
    /// The message at the bottom (both languages: it follows a language switch), and whether it is an
    /// error.
    message: Option<(Localized, bool)>,
    /// The app closed unexpectedly last time (a panic, see `app::crash`): told until dismissed.
    pub crash_notice: bool,
    /// The home screen's figures as last read (shown until a newer reading arrives), and the reading
    /// on its way (counting 100,000 families takes longer than a frame).
    home_facts: Option<HomeFacts>,
    home_reader: Option<Task<crate::app::Result<HomeFacts>>>,
    /// Home was opened: its reading starts at the end of the frame, after the command's own writes (a
    /// count running meanwhile slowed the tap's frame).
    home_stale: bool,
    /// A GPS reading in progress.
    gps: Option<GpsReading>,
    /// Accepted families being removed and erased: the store is the task's until it gives it back.
    purge: Option<PurgeJob>,
    /// Asks for a frame when background work is done (made from the first frame's context).
    wake: Option<Wake>,
    /// Where the location service (gpsd) listens.
    pub gpsd: String,
    /// Where the photo picker looks instead of the platform's camera folders (tests, odd devices).
    pub photo_folders: Option<Vec<PathBuf>>,
    /// A registry is set up on this PC: the start screen offers its office.
    registry_here: bool,
    /// The registry office, when opened from the start screen: it has the window from then on.
    office: Option<Box<office::OfficeApp>>,
}

/// The purge on its thread, with the device it took (given back with the outcome).
type PurgeJob = Task<(crate::app::Result<crate::store::Purged>, Option<Device>)>;

/// A reading of the location service for a GPS field (of a member, in a repeat).
struct GpsReading {
    field: usize,
    member: Option<usize>,
    task: Task<Result<Fix, GpsError>>,
}

/// A wake-up for background work: a frame as soon as it is done.
pub fn wake(ctx: &egui::Context) -> Wake {
    let ctx = ctx.clone();
    Wake::new(move || ctx.request_repaint())
}

/// A text of the translation files in both languages.
fn both(key: &str) -> Localized {
    Localized::new(tr(Lang::Id, key), tr(Lang::En, key))
}

/// `key`'s text, a colon and `detail`, in both languages.
fn prefixed(key: &str, detail: &Localized) -> Localized {
    Localized::new(
        format!("{}: {}", tr(Lang::Id, key), detail.id),
        format!("{}: {}", tr(Lang::En, key), detail.en),
    )
}

impl PendataApp {
    /// Opens the store in `data_dir` (or starts first-run setup when there is none).
    pub fn new(data_dir: &Path) -> PendataApp {
        let mut app = PendataApp {
            data_dir: data_dir.to_path_buf(),
            device: None,
            holders: Vec::new(),
            screen: Screen::Setup(SetupForm::default()),
            prefs: Prefs::default(),
            user: None,
            last_input: Instant::now(),
            message: None,
            crash_notice: crate::app::crash::take_unseen(data_dir),
            home_facts: None,
            home_reader: None,
            home_stale: false,
            gps: None,
            purge: None,
            wake: None,
            gpsd: crate::app::gps::gpsd_address(),
            photo_folders: None,
            registry_here: !crate::app::office::session::known_registries().is_empty(),
            office: None,
        };
        // An encrypted store stays locked until a petugas signs in: only who can sign in is read.
        let opened = match Device::holders(data_dir) {
            Ok(Some(holders)) if !holders.is_empty() => {
                app.holders = holders;
                app.screen = Screen::SignIn(SignInForm::default());
                return app;
            }
            // A store with no petugas yet (made by `init`) or of an earlier build opens without a PIN.
            Ok(_) => Device::open(data_dir, crate::store::Unlock::Setup),
            Err(e) => Err(e),
        };
        match opened {
            Ok(device) => {
                app.opened(device);
                app.screen = Screen::SignIn(SignInForm::default());
            }
            Err(AppError::Store(crate::store::StoreError::NotInitialized(_))) => {}
            Err(e) => {
                tracing::error!(error = %e, "the store cannot be opened");
                app.screen = Screen::Unavailable(e.text());
            }
        }
        app
    }

    /// Takes the opened store: its preferences apply.
    fn opened(&mut self, device: Device) {
        match device.setting("prefs") {
            Ok(Some(p)) => self.prefs = serde_json::from_value(p).unwrap_or_default(),
            Ok(None) => {}
            Err(e) => self.fail(&e),
        }
        self.device = Some(Arc::new(device));
    }

    fn t(&self, key: &str) -> &'static str {
        tr(self.prefs.lang, key)
    }

    /// Says what went wrong, in both languages ("Kesalahan: …").
    fn fail(&mut self, e: &AppError) {
        self.fail_with("error.prefix", e);
    }

    /// Says what went wrong after the text of `key` ("Gagal menyimpan …: …").
    fn fail_with(&mut self, key: &str, e: &AppError) {
        self.message = Some((prefixed(key, &e.text()), true));
    }

    fn info(&mut self, key: &str) {
        self.message = Some((both(key), false));
    }

    fn info_err(&mut self, key: &str) {
        self.message = Some((both(key), true));
    }

    /// The wake-up for background work started now (none before the first frame: tests).
    fn waker(&self) -> Wake {
        self.wake.clone().unwrap_or_else(Wake::none)
    }

    /// Draws one frame and runs what it asked for.
    pub fn ui(&mut self, root: &mut Ui) {
        if let Some(office) = self.office.as_mut() {
            office.ui(root);
            return;
        }
        let ctx = root.ctx().clone();
        let ctx = &ctx;
        if self.wake.is_none() {
            self.wake = Some(wake(ctx));
        }
        self.apply_style(ctx);
        if ctx.input(|i| !i.events.is_empty() || i.pointer.any_down()) {
            self.last_input = Instant::now();
        }
        if self.user.is_some() && self.purge.is_none() && self.last_input.elapsed() > LOCK_AFTER {
            self.run(Command::SignOut);
        }
        self.poll_home();
        self.poll_gps(ctx);
        self.poll_purge();
        let mut cmd = None;
        egui::Panel::top("top").show(root, |ui| self.top_bar(ui, &mut cmd));
        if self.crash_notice {
            egui::Panel::bottom("crash").show(root, |ui| self.crash_ui(ui));
        }
        if self.message.is_some() {
            egui::Panel::bottom("message").show(root, |ui| self.message_ui(ui));
        }
        egui::CentralPanel::default().show(root, |ui| {
            // A comfortable column in the middle: a 1280 px screen is not a strip at its left edge.
            let full = ui.available_rect_before_wrap();
            let width = full.width().min(COLUMN);
            let column = egui::Rect::from_min_size(
                egui::pos2(full.center().x - width / 2.0, full.top()),
                egui::vec2(width, full.height()),
            );
            ui.scope_builder(egui::UiBuilder::new().max_rect(column), |ui| {
                if self.purge.is_some() {
                    // The store is the purge's until it is done: no screen can reach it.
                    ui.heading(self.t("purge.title"));
                    ui.add(egui::Spinner::new().size(TOUCH));
                    ui.label(self.t("purge.running"));
                } else {
                    self.screen_ui(ui, &mut cmd);
                }
            });
        });
        if let Some(cmd) = cmd {
            self.run(cmd);
        }
        self.read_home();
        self.autosave(ctx);
    }

    /// The app closed unexpectedly last time: said until dismissed.
    fn crash_ui(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(self.t("crash.notice")).strong());
            if ui
                .add(egui::Button::new(self.t("crash.dismiss")).min_size([TOUCH, TOUCH].into()))
                .clicked()
            {
                self.crash_notice = false;
            }
        });
    }

    /// The message at the bottom, in the language of the moment, with Close.
    fn message_ui(&mut self, ui: &mut Ui) {
        let Some((text, is_err)) = &self.message else {
            return;
        };
        let color = if *is_err { MESSAGE_ERROR } else { MESSAGE_OK };
        let text = text.get(self.prefs.lang).to_string();
        ui.horizontal(|ui| {
            ui.label(RichText::new(text).color(color).strong());
            if ui
                .add(egui::Button::new(self.t("action.close")).min_size([TOUCH, TOUCH].into()))
                .clicked()
            {
                self.message = None;
            }
        });
    }

    /// The screen of the moment.
    fn screen_ui(&mut self, ui: &mut Ui, cmd: &mut Option<Command>) {
        let lang = self.prefs.lang;
        match &mut self.screen {
            Screen::Setup(f) => {
                setup_ui(ui, lang, f, cmd);
                office_offer_ui(ui, lang, self.registry_here, cmd);
            }
            Screen::SignIn(f) => {
                let petugas = match self.device.as_ref().map(|d| d.petugas()) {
                    Some(Ok(petugas)) => petugas.into_iter().map(|p| (p.code, p.name)).collect(),
                    Some(Err(e)) => {
                        let text = prefixed("error.prefix", &e.text());
                        ui.label(
                            RichText::new(text.get(lang)).color(severity_color(Severity::Error)),
                        );
                        Vec::new()
                    }
                    None => self.holders.clone(),
                };
                signin_ui(ui, lang, f, &petugas, cmd);
                office_offer_ui(ui, lang, self.registry_here, cmd);
            }
            Screen::Home => home_ui(ui, lang, self.home_facts.as_ref(), cmd),
            Screen::List(state) => {
                if let Some(device) = &self.device {
                    list_ui(ui, lang, device, state, cmd);
                }
            }
            Screen::Edit(editor) => {
                if let Some(device) = &self.device {
                    editor.ui(ui, lang, device, cmd);
                }
            }
            Screen::Settings => {
                settings_ui(ui, lang, &self.prefs, cmd);
                if let Some(device) = &self.device {
                    identity_ui(ui, lang, device);
                }
            }
            Screen::Unavailable(why) => unavailable_ui(ui, lang, why),
            Screen::Export(state) => {
                if let Some(device) = &self.device {
                    sync_view::export_ui(ui, lang, device, state, cmd);
                }
            }
            Screen::Receipts(state) => {
                if let Some(device) = &self.device {
                    sync_view::receipts_ui(ui, lang, device, state, cmd);
                }
            }
            Screen::Visits(state) => {
                if let Some(device) = &self.device {
                    visits_view::visits_ui(ui, lang, device, state, cmd);
                }
            }
        }
    }

    fn apply_style(&self, ctx: &egui::Context) {
        let mut visuals = if self.prefs.dark {
            egui::Visuals::dark()
        } else {
            egui::Visuals::light()
        };
        if !self.prefs.dark {
            // High contrast for sunlight: black text on white, strong borders.
            visuals.override_text_color = Some(Color32::BLACK);
            visuals.panel_fill = Color32::WHITE;
            visuals.widgets.noninteractive.bg_stroke.color = Color32::from_gray(60);
            visuals.widgets.inactive.bg_stroke = egui::Stroke::new(1.0, Color32::from_gray(40));
            // Light enough that red text on a button (the review's errors) keeps 7:1.
            visuals.widgets.inactive.weak_bg_fill = BUTTON_FILL;
        }
        ctx.set_visuals(visuals);
        ctx.set_zoom_factor(self.prefs.text_scale);
        ctx.all_styles_mut(|s| {
            use egui::{FontFamily, FontId, TextStyle};
            // Big fonts by default: read at arm's length, in sunlight.
            s.text_styles = [
                (
                    TextStyle::Heading,
                    FontId::new(26.0, FontFamily::Proportional),
                ),
                (TextStyle::Body, FontId::new(18.0, FontFamily::Proportional)),
                (
                    TextStyle::Button,
                    FontId::new(18.0, FontFamily::Proportional),
                ),
                (
                    TextStyle::Small,
                    FontId::new(14.0, FontFamily::Proportional),
                ),
                (
                    TextStyle::Monospace,
                    FontId::new(16.0, FontFamily::Monospace),
                ),
            ]
            .into();
            s.spacing.interact_size.y = TOUCH;
            // Check boxes and radio buttons a finger can see and hit (egui's are 14 px).
            s.spacing.icon_width = 32.0;
            s.spacing.icon_width_inner = 18.0;
            s.spacing.icon_spacing = 12.0;
            s.spacing.item_spacing = egui::vec2(10.0, 10.0);
            s.spacing.button_padding = egui::vec2(14.0, 10.0);
        });
    }

    fn top_bar(&mut self, ui: &mut Ui, cmd: &mut Option<Command>) {
        ui.horizontal(|ui| {
            ui.heading(self.t("app.title"));
            if let Some((_, name)) = &self.user {
                ui.label(format!("· {name}"));
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                if self.user.is_some() {
                    if big_button(ui, self.t("action.sign_out")).clicked() {
                        *cmd = Some(Command::SignOut);
                    }
                    if big_button(ui, self.t("nav.settings")).clicked() {
                        *cmd = Some(Command::Settings);
                    }
                    if big_button(ui, self.t("nav.home")).clicked() {
                        *cmd = Some(Command::Home);
                    }
                }
                let other = match self.prefs.lang {
                    Lang::Id => ("English", Lang::En),
                    Lang::En => ("Bahasa Indonesia", Lang::Id),
                };
                if big_button(ui, other.0).clicked() {
                    *cmd = Some(Command::SetPrefs(Prefs {
                        lang: other.1,
                        ..self.prefs.clone()
                    }));
                }
                if let Screen::Edit(e) = &self.screen {
                    ui.label(RichText::new(self.t(e.save_state_key())).strong());
                }
            });
        });
    }

    /// Runs a command from the UI through the use cases.
    pub fn run(&mut self, cmd: Command) {
        if self.purge.is_some() {
            // The store is the purge's until it gives it back (a few seconds).
            return;
        }
        self.flush();
        match cmd {
            Command::Setup => self.setup(),
            Command::SignIn => self.sign_in(),
            Command::SignOut => {
                self.user = None;
                self.screen = Screen::SignIn(SignInForm::default());
                // An encrypted store is closed again: the tablet is locked.
                if let Some(device) = self.device.take() {
                    if device.store.is_encrypted() {
                        let petugas = device.petugas().unwrap_or_default();
                        self.holders = petugas.into_iter().map(|p| (p.code, p.name)).collect();
                    } else {
                        self.device = Some(device);
                    }
                }
            }
            Command::Home => self.home(),
            Command::Office => {
                let mut office = office::OfficeApp::remembering(None);
                office.lang = self.prefs.lang;
                self.office = Some(Box::new(office));
            }
            Command::List => self.screen = Screen::List(Box::default()),
            Command::Settings => self.screen = Screen::Settings,
            Command::Export => {
                if let Some(device) = &self.device {
                    self.screen =
                        Screen::Export(Box::new(sync_view::ExportState::new(device, self.waker())));
                }
            }
            Command::Visits => self.screen = Screen::Visits(Box::default()),
            Command::Receipts => {
                if let Some(device) = &self.device {
                    self.screen = Screen::Receipts(Box::new(sync_view::ReceiptsState::new(device)));
                }
            }
            Command::NewFamily => {
                let (Some(device), Some((code, _))) = (&self.device, &self.user) else {
                    return;
                };
                match device.new_record(crate::model::household::FORM_ID, code, Answers::new()) {
                    Ok(head) => self.open(head.id, 0, None),
                    Err(e) => self.fail(&e),
                }
            }
            Command::Open(id) => self.open(id, 0, None),
            Command::Finalize { ack } => self.finalize(ack),
            Command::StartCorrection(reason) => {
                if let Screen::Edit(e) = &mut self.screen {
                    e.correction = Some(reason);
                    e.locked = false;
                }
            }
            Command::SetPrefs(p) => {
                self.prefs = p;
                self.save_prefs();
            }
            Command::OpenPicker { field, member } => self.open_picker(field, member),
            Command::AttachPhoto {
                field,
                member,
                path,
            } => self.attach_photo(field, member, &path),
            Command::ReadGps { field, member } => self.read_gps(field, member),
            Command::PurgeAccepted => self.start_purge(),
            Command::StartExport
            | Command::SetRegistryKey(_)
            | Command::CheckRegistryKey(_)
            | Command::ReplaceRegistryKey { .. }
            | Command::ApplyReceipt(_) => {
                self.sync(cmd);
            }
        }
        self.remember();
    }

    /// Starts removing the accepted families the Receipts screen chose. The removal rewrites the store
    /// file, so the task takes the store: refused (said) while other background work still reads it.
    fn start_purge(&mut self) {
        let Screen::Receipts(st) = &mut self.screen else {
            return;
        };
        let Some(day) = st.purge_day() else { return };
        let Some(shared) = self.device.take() else {
            return;
        };
        let device = match Arc::try_unwrap(shared) {
            Ok(device) => device,
            Err(shared) => {
                self.device = Some(shared);
                self.message = Some((both("purge.busy"), true));
                return;
            }
        };
        let wake = self.waker();
        self.purge = Some(Task::start("purge", wake, move || {
            device.purge_and_erase(day)
        }));
    }

    /// Takes the purge's outcome and the store back; when the store could not be given back (its
    /// rewrite failed), the petugas signs in again, which opens it anew.
    fn poll_purge(&mut self) {
        let Some(job) = self.purge.as_mut() else {
            return;
        };
        let Some(done) = job.poll() else { return };
        self.purge = None;
        let (outcome, device) = match done {
            Ok(done) => done,
            Err(stopped) => (Err(crate::app::AppError::Stopped(stopped)), None),
        };
        match device {
            Some(device) => {
                let device = Arc::new(device);
                let mut st = sync_view::ReceiptsState::new(&device);
                st.purged = Some(outcome);
                self.device = Some(device);
                self.screen = Screen::Receipts(Box::new(st));
            }
            None => {
                if let Err(e) = &outcome {
                    self.fail(e);
                }
                self.user = None;
                self.screen = Screen::SignIn(SignInForm::default());
            }
        }
    }

    /// The Export and Receipts screens' commands.
    fn sync(&mut self, cmd: Command) {
        if matches!(cmd, Command::StartExport) && !self.verify_before_export() {
            return;
        }
        let Some(device) = &self.device else { return };
        match (cmd, &mut self.screen) {
            (Command::StartExport, Screen::Export(st)) => {
                if let Some((code, _)) = &self.user {
                    st.start_export(device, code);
                }
            }
            (Command::SetRegistryKey(path), Screen::Export(st)) => st.set_key(device, &path),
            (Command::CheckRegistryKey(path), Screen::Export(st)) => st.check_key(device, &path),
            (Command::ReplaceRegistryKey { path, code }, Screen::Export(st)) => {
                st.replace_key(device, &path, &code);
            }
            (Command::ApplyReceipt(path), Screen::Receipts(st)) => st.apply(device, &path),
            _ => {}
        }
    }

    /// Before an export every page of the store is checked, so that a page damaged since the app
    /// opened stops the export with the damage said, never a panic half-way. The check needs the store
    /// alone: while background work still holds it (rare on the export screen), the check made when
    /// the app opened stands, and the log says so.
    fn verify_before_export(&mut self) -> bool {
        let Some(device) = self.device.as_mut().and_then(Arc::get_mut) else {
            tracing::info!(
                "store in use by background work: the export relies on the check at opening"
            );
            return true;
        };
        match device.verify_store() {
            Ok(()) => true,
            Err(e @ AppError::Store(crate::store::StoreError::Corrupt { .. })) => {
                tracing::error!(error = %e, "the store is damaged: export stopped");
                self.screen = Screen::Unavailable(e.text());
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "the store's check before the export did not run");
                true
            }
        }
    }

    fn sign_in(&mut self) {
        let Screen::SignIn(f) = &mut self.screen else {
            return;
        };
        let (code, pin) = (f.code.clone(), std::mem::take(&mut f.pin));
        let signed = match self.device.take() {
            Some(device) if device.store.is_encrypted() => {
                let signed = device.sign_in(&code, &pin);
                self.device = Some(device);
                signed
            }
            // The PIN unlocks the store and opens it; a store of an earlier build (open without a
            // key) is closed and opened again with the PIN, which encrypts it.
            other => {
                let was_open = other.is_some();
                drop(other);
                let signed = Device::unlock(&self.data_dir, &code, &pin);
                match signed {
                    Ok((device, p)) => {
                        self.opened(device);
                        Ok(p)
                    }
                    Err(e) => {
                        // Refused: a store that was open without a key stays open for the next try.
                        if was_open
                            && let Ok(device) =
                                Device::open(&self.data_dir, crate::store::Unlock::Setup)
                        {
                            self.device = Some(Arc::new(device));
                        }
                        Err(e)
                    }
                }
            }
        };
        match signed {
            Ok(p) => {
                self.user = Some((p.code, p.name));
                self.message = None;
                self.resume();
                // A store of an earlier build was encrypted by this sign-in: its recovery code, once.
                let recovery = self.device.as_ref().and_then(|d| d.store.recovery_code());
                if let Some(code) = recovery {
                    let text = Localized::new(
                        format!(
                            "{}: {code}. {}",
                            tr(Lang::Id, "setup.recovery_title"),
                            tr(Lang::Id, "setup.recovery_note")
                        ),
                        format!(
                            "{}: {code}. {}",
                            tr(Lang::En, "setup.recovery_title"),
                            tr(Lang::En, "setup.recovery_note")
                        ),
                    );
                    self.message = Some((text, false));
                }
            }
            Err(AppError::Store(crate::store::StoreError::WrongPin(_))) => {
                self.info_err("signin.wrong_pin");
            }
            Err(AppError::Store(crate::store::StoreError::TooManyTries { .. })) => {
                self.info_err("signin.wait");
            }
            // A store found damaged when the PIN opened it: its own screen, as at start.
            Err(e @ AppError::Store(crate::store::StoreError::Corrupt { .. })) => {
                tracing::error!(error = %e, "the store cannot be opened");
                self.screen = Screen::Unavailable(e.text());
            }
            Err(e) => self.fail(&e),
        }
    }

    /// Keeps the preferences on the device; a failure is said (they apply until the app closes).
    fn save_prefs(&mut self) {
        let Some(device) = &self.device else { return };
        let prefs = serde_json::to_value(&self.prefs).unwrap_or_default();
        if let Err(e) = device.put_setting("prefs", &prefs) {
            self.fail_with("settings.save_failed", &e);
        }
    }

    /// Starts reading the location service for a GPS field; the answer is filled when it arrives.
    fn read_gps(&mut self, field: usize, member: Option<usize>) {
        let address = self.gpsd.clone();
        let task = Task::start("gps", self.waker(), move || {
            crate::app::gps::read_gpsd(&address, Duration::from_secs(5))
        });
        self.gps = Some(GpsReading {
            field,
            member,
            task,
        });
        self.info("form.gps_reading");
    }

    /// Fills the GPS field when the reading is there (start of a frame).
    fn poll_gps(&mut self, ctx: &egui::Context) {
        // The reading wakes the frame when it is done; until then the message says it is running.
        let Some(result) = self.gps.as_mut().and_then(|r| r.task.poll()) else {
            return;
        };
        let Some(GpsReading { field, member, .. }) = self.gps.take() else {
            return;
        };
        match (
            result.map_err(GpsError::from).and_then(|r| r),
            &mut self.screen,
        ) {
            (Ok(fix), Screen::Edit(e)) => {
                e.set_gps(field, member, fix);
                self.message = None;
            }
            (Err(err), _) => self.message = Some((prefixed("form.gps_failed", &err.text()), true)),
            _ => {}
        }
        ctx.request_repaint();
    }

    /// Opens the photo picker of a field.
    fn open_picker(&mut self, field: usize, member: Option<usize>) {
        let (Some(device), Screen::Edit(e)) = (&self.device, &mut self.screen) else {
            return;
        };
        e.picker = Some(Picker::open(
            field,
            member,
            self.photo_folders.clone(),
            device,
            self.wake.clone().unwrap_or_else(Wake::none),
        ));
    }

    /// Stores a photo file and puts its hash into the field (or says next to the field why not).
    fn attach_photo(&mut self, field: usize, member: Option<usize>, path: &Path) {
        let (Some(device), Screen::Edit(e)) = (&self.device, &mut self.screen) else {
            return;
        };
        match device.attach_file(path) {
            Ok(hash) => e.set_photo(field, member, hash),
            Err(err) => e.photo_failed(field, member, err),
        }
    }

    fn setup(&mut self) {
        let Screen::Setup(f) = &self.screen else {
            return;
        };
        if f.pin != f.pin2 {
            return self.info_err("setup.pin_mismatch");
        }
        let (name, code, pname, pin) = (
            f.device_name.clone(),
            f.code.clone(),
            f.name.clone(),
            f.pin.clone(),
        );
        match Device::set_up(&self.data_dir, &name, &code, &pname, &pin) {
            Ok((device, _)) => {
                let recovery = device.store.recovery_code().map(str::to_string);
                self.device = Some(Arc::new(device));
                self.screen = Screen::SignIn(SignInForm {
                    code,
                    pin: String::new(),
                    recovery,
                    written: false,
                });
                self.info("setup.done");
                self.save_prefs();
            }
            Err(e) => self.fail(&e),
        }
    }

    /// Opens home; its figures are read at the end of the frame (counting 100,000 families takes longer
    /// than a frame).
    fn home(&mut self) {
        self.screen = Screen::Home;
        self.home_stale = true;
    }

    /// Starts reading the home screen's figures when home was opened (end of a frame: at once after the
    /// tap that opened it).
    fn read_home(&mut self) {
        if self.home_stale
            && let Some(device) = &self.device
        {
            self.home_stale = false;
            self.home_reader = Some(crate::app::home::read(device.clone(), self.waker()));
        }
    }

    /// Takes the home screen's figures when they are there (start of a frame).
    fn poll_home(&mut self) {
        if let Some(answer) = self.home_reader.as_mut().and_then(Task::poll) {
            self.home_reader = None;
            self.take_home_facts(answer);
        }
    }

    fn take_home_facts(&mut self, answer: Result<crate::app::Result<HomeFacts>, Stopped>) {
        match answer.map_err(AppError::from).and_then(|r| r) {
            Ok(facts) => self.home_facts = Some(facts),
            Err(e) => self.fail(&e),
        }
    }

    /// Waits for the home screen's figures being read, and takes them (tests, benchmarks).
    pub fn wait_home(&mut self) {
        if let Some(mut reader) = self.home_reader.take() {
            let answer = reader.wait();
            self.take_home_facts(answer);
        }
    }

    /// Whether the home screen's figures are being read.
    pub fn is_home_pending(&self) -> bool {
        self.home_stale || self.home_reader.is_some()
    }

    fn open(&mut self, id: Uuid, page: usize, member: Option<usize>) {
        let Some(device) = &self.device else { return };
        match device
            .record(id)
            .and_then(|(head, answers)| Ok((device.form_of(&head)?, head, answers)))
        {
            Ok((form, head, answers)) => {
                let mut editor = Editor::new(form, head, answers);
                editor.page = page.min(form.pages.len().saturating_sub(1));
                editor.member = member;
                self.screen = Screen::Edit(Box::new(editor));
            }
            Err(e) => self.fail(&e),
        }
    }

    /// Returns to the family and page that were open when the app last stopped.
    fn resume(&mut self) {
        let Some(device) = &self.device else { return };
        let resume: Resume = match device.setting("resume") {
            Ok(value) => value
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            Err(e) => {
                self.fail(&e);
                Resume::default()
            }
        };
        match resume.record {
            Some(id) => self.open(id, resume.page, resume.member),
            None => self.home(),
        }
    }

    /// Keeps where the petugas is, for the next start; a failure is said.
    fn remember(&mut self) {
        let Some(device) = &self.device else { return };
        let resume = match &self.screen {
            Screen::Edit(e) => Resume {
                record: Some(e.head.id),
                page: e.page,
                member: e.member,
            },
            Screen::SignIn(_) | Screen::Setup(_) | Screen::Unavailable(_) => return,
            _ => Resume::default(),
        };
        if let Err(e) =
            device.put_setting("resume", &serde_json::to_value(resume).unwrap_or_default())
        {
            self.fail_with("settings.save_failed", &e);
        }
    }

    fn finalize(&mut self, ack: bool) {
        let (Some(device), Some((code, _))) = (&self.device, &self.user) else {
            return;
        };
        let Screen::Edit(e) = &mut self.screen else {
            return;
        };
        let today = crate::app::now().date_naive();
        match device.finalize(e.head.id, code, ack, today) {
            Ok(head) => {
                e.head = head;
                e.locked = true;
                e.correction = None;
                self.info("review.finalized");
            }
            Err(AppError::NotReady { .. }) => self.info_err("review.not_ready"),
            Err(err) => self.fail(&err),
        }
    }

    /// Saves pending answers now (before any command, and when the app closes).
    pub fn flush(&mut self) {
        let (Some(device), Some((code, _))) = (&self.device, &self.user) else {
            return;
        };
        let Screen::Edit(e) = &mut self.screen else {
            return;
        };
        if e.dirty_since.is_none() {
            return;
        }
        match device.save(e.head.id, code, e.answers.clone(), e.correction.as_deref()) {
            Ok(head) => {
                e.head = head;
                e.dirty_since = None;
                e.saved = true;
                e.correction = None;
            }
            Err(err) => {
                e.saved = false;
                self.fail_with("error.save", &err);
            }
        }
    }

    fn autosave(&mut self, ctx: &egui::Context) {
        let due = match &self.screen {
            Screen::Edit(e) => e.dirty_since.map(|t| t.elapsed() >= SAVE_AFTER),
            _ => None,
        };
        match due {
            Some(true) => {
                self.flush();
                self.remember();
                // One more frame to show "Tersimpan".
                ctx.request_repaint();
            }
            // Wake up once the delay has passed; otherwise repaint only on input.
            Some(false) => ctx.request_repaint_after(SAVE_AFTER),
            None => {}
        }
    }
}

impl eframe::App for PendataApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        PendataApp::ui(self, ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.flush();
        self.remember();
    }
}

/// A secondary action: outlined, on the page's colour.
pub fn big_button(ui: &mut Ui, text: &str) -> egui::Response {
    ui.add(egui::Button::new(RichText::new(text).size(18.0)).min_size([TOUCH * 2.0, TOUCH].into()))
}

/// The colour of a screen's primary action (white text on it keeps 7:1).
pub const ACCENT: Color32 = Color32::from_rgb(0, 80, 160);

/// The primary action of a screen (one a screen): filled with the accent colour, white bold text, a
/// little larger than the others.
pub fn primary(text: &str) -> egui::Button<'static> {
    // The text grows to the button's width, and so sits in its middle however wide it is made.
    let text = RichText::new(text)
        .size(20.0)
        .strong()
        .color(Color32::WHITE)
        .atom_grow(true);
    egui::Button::new(text)
        .fill(ACCENT)
        .stroke(egui::Stroke::new(1.0, ACCENT))
        .min_size([TOUCH * 3.0, TOUCH * 1.2].into())
}

pub fn primary_button(ui: &mut Ui, text: &str) -> egui::Response {
    ui.add(primary(text))
}

/// The primary action, shown but not usable until `enabled` (Finalize with errors left, Export without
/// a key).
pub fn primary_button_enabled(ui: &mut Ui, enabled: bool, text: &str) -> egui::Response {
    ui.add_enabled(enabled, primary(text))
}

/// A primary button under a column of text fields, as wide as they are.
const FIELD_WIDE: [f32; 2] = [360.0, TOUCH * 1.2];

fn text_field(ui: &mut Ui, label: &str, value: &mut String, password: bool) {
    let label = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(value)
            .password(password)
            .min_size([320.0, TOUCH].into())
            .desired_width(360.0),
    )
    .labelled_by(label.id);
}

/// The start screen's offer of the registry office, when a registry is set up on this PC.
fn office_offer_ui(ui: &mut Ui, lang: Lang, registry_here: bool, cmd: &mut Option<Command>) {
    if registry_here {
        ui.add_space(16.0);
        if big_button(ui, tr(lang, "home.office")).clicked() {
            *cmd = Some(Command::Office);
        }
    }
}

fn setup_ui(ui: &mut Ui, lang: Lang, f: &mut SetupForm, cmd: &mut Option<Command>) {
    ui.heading(tr(lang, "setup.title"));
    ui.label(tr(lang, "setup.intro"));
    text_field(ui, tr(lang, "setup.device_name"), &mut f.device_name, false);
    text_field(ui, tr(lang, "setup.petugas_code"), &mut f.code, false);
    text_field(ui, tr(lang, "setup.petugas_name"), &mut f.name, false);
    text_field(ui, tr(lang, "setup.pin"), &mut f.pin, true);
    text_field(ui, tr(lang, "setup.pin_again"), &mut f.pin2, true);
    if ui
        .add(primary(tr(lang, "setup.start")).min_size(FIELD_WIDE.into()))
        .clicked()
    {
        *cmd = Some(Command::Setup);
    }
}

/// The store cannot be opened: why, in the petugas's language, and what to do. No way on from here.
fn unavailable_ui(ui: &mut Ui, lang: Lang, why: &Localized) {
    ui.heading(tr(lang, "unavailable.title"));
    ui.label(RichText::new(why.get(lang)).color(severity_color(Severity::Error)));
    ui.label(tr(lang, "unavailable.intro"));
}

fn signin_ui(
    ui: &mut Ui,
    lang: Lang,
    f: &mut SignInForm,
    petugas: &[(String, String)],
    cmd: &mut Option<Command>,
) {
    if let Some(code) = &f.recovery {
        ui.heading(tr(lang, "setup.recovery_title"));
        ui.label(RichText::new(code).monospace().size(28.0));
        ui.label(tr(lang, "setup.recovery_note"));
        ui.checkbox(&mut f.written, tr(lang, "setup.recovery_written"));
        if !f.written {
            return;
        }
        ui.separator();
    }
    ui.heading(tr(lang, "signin.title"));
    ui.label(tr(lang, "signin.choose"));
    if f.code.is_empty()
        && let [(only, _)] = petugas
    {
        f.code = only.clone();
    }
    for (code, name) in petugas {
        let selected = &f.code == code;
        if ui
            .add(
                egui::Button::selectable(selected, format!("{name} · {code}"))
                    .min_size([320.0, TOUCH].into()),
            )
            .clicked()
        {
            f.code = code.clone();
        }
    }
    text_field(ui, tr(lang, "signin.pin"), &mut f.pin, true);
    let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
    let button = ui.add(primary(tr(lang, "signin.button")).min_size(FIELD_WIDE.into()));
    if button.clicked() || (enter && !f.pin.is_empty()) {
        *cmd = Some(Command::SignIn);
    }
}

fn home_ui(ui: &mut Ui, lang: Lang, facts: Option<&HomeFacts>, cmd: &mut Option<Command>) {
    ui.heading(tr(lang, "home.title"));
    // Until the first reading arrives the boxes stand with a dash, so nothing jumps when it does.
    let count = |n: fn(&crate::store::StatusCounts) -> usize| {
        facts.map_or_else(|| "–".to_string(), |f| n(&f.counts).to_string())
    };
    let boxes = [
        (Status::Draft, count(|c| c.draft)),
        (Status::Final, count(|c| c.final_)),
        (Status::Exported, count(|c| c.exported)),
        (Status::Accepted, count(|c| c.accepted)),
        (Status::Rejected, count(|c| c.rejected)),
    ];
    // As many boxes a row as fit (five in landscape, three in portrait): none is cut off at the edge.
    let gap = ui.spacing().item_spacing.x;
    let per_row = ((ui.available_width() + gap) / (STATUS_BOX + gap))
        .floor()
        .max(1.0) as usize;
    for row in boxes.chunks(per_row) {
        ui.horizontal(|ui| {
            for (status, n) in row {
                egui::Frame::new()
                    .fill(status_fill(*status))
                    .stroke(egui::Stroke::new(2.0, status_ink(*status)))
                    .corner_radius(8.0)
                    .inner_margin(10.0)
                    .show(ui, |ui| {
                        ui.set_width(STATUS_BOX - 24.0);
                        ui.vertical(|ui| {
                            ui.label(RichText::new(n).size(28.0).strong().color(Color32::BLACK));
                            ui.label(
                                RichText::new(status_label(lang, *status))
                                    .color(status_ink(*status))
                                    .strong(),
                            );
                        });
                    });
            }
        });
    }
    ui.add_space(20.0);
    // One width for the actions, so they read as a set; the first is the one of this screen.
    let wide = [HOME_ACTION, TOUCH * 1.2];
    if ui
        .add(primary(tr(lang, "home.new_family")).min_size(wide.into()))
        .clicked()
    {
        *cmd = Some(Command::NewFamily);
    }
    let big_button = |ui: &mut Ui, text: &str| {
        let text = RichText::new(text).size(18.0).atom_grow(true);
        ui.add(egui::Button::new(text).min_size([HOME_ACTION, TOUCH].into()))
    };
    if big_button(ui, tr(lang, "home.family_list")).clicked() {
        *cmd = Some(Command::List);
    }
    if let Some((done, total)) = facts.map(|f| f.visits).filter(|v| v.1 > 0) {
        let text = i18n::trf(
            lang,
            "home.visits",
            &[("done", &done.to_string()), ("total", &total.to_string())],
        );
        if big_button(ui, &text).clicked() {
            *cmd = Some(Command::Visits);
        }
    }
    if big_button(ui, tr(lang, "home.export")).clicked() {
        *cmd = Some(Command::Export);
    }
    if big_button(ui, tr(lang, "home.receipts")).clicked() {
        *cmd = Some(Command::Receipts);
    }
    ui.add_space(10.0);
    match facts.and_then(|f| f.last_export.as_ref()) {
        _ if facts.is_none() => ui.label(""),
        Some(e) => ui.label(i18n::trf(
            lang,
            "home.last_export",
            &[
                ("when", &e.at.format("%d-%m-%Y %H:%M").to_string()),
                ("families", &e.records.to_string()),
            ],
        )),
        None => ui.label(tr(lang, "home.no_export")),
    };
}

/// The width of Home's action buttons.
const HOME_ACTION: f32 = 340.0;

/// The width of a status box on Home.
const STATUS_BOX: f32 = 170.0;

/// A status's colour: its word is written in it (at least 7:1 on white and on its own fill).
pub fn status_ink(s: Status) -> Color32 {
    match s {
        Status::Draft => Color32::from_rgb(70, 70, 70),
        Status::Final => Color32::from_rgb(0, 70, 140),
        Status::Exported => Color32::from_rgb(90, 40, 130),
        Status::Accepted => Color32::from_rgb(0, 90, 30),
        Status::Rejected => Color32::from_rgb(160, 0, 0),
    }
}

/// A status chip's background: a pale tint of its colour.
pub fn status_fill(s: Status) -> Color32 {
    match s {
        Status::Draft => Color32::from_rgb(238, 238, 238),
        Status::Final => Color32::from_rgb(225, 238, 252),
        Status::Exported => Color32::from_rgb(240, 230, 250),
        Status::Accepted => Color32::from_rgb(224, 245, 230),
        Status::Rejected => Color32::from_rgb(253, 236, 236),
    }
}

/// A status as a coloured chip with its word.
pub fn status_chip(ui: &mut Ui, lang: Lang, s: Status) -> egui::Response {
    egui::Frame::new()
        .fill(status_fill(s))
        .stroke(egui::Stroke::new(1.5, status_ink(s)))
        .corner_radius(12.0)
        .inner_margin(egui::Margin::symmetric(10, 4))
        .show(ui, |ui| {
            ui.label(
                RichText::new(status_label(lang, s))
                    .color(status_ink(s))
                    .strong(),
            )
        })
        .response
}

/// The sunlight (light, high-contrast) theme's text colours and the background each is read on:
/// (what, text, background). A test holds every pair to a contrast of at least 7:1.
pub fn sunlight_text_colors() -> Vec<(&'static str, Color32, Color32)> {
    let mut out = vec![
        ("text", Color32::BLACK, Color32::WHITE),
        ("error", severity_color(Severity::Error), Color32::WHITE),
        ("warning", severity_color(Severity::Warning), Color32::WHITE),
        ("message error", MESSAGE_ERROR, Color32::WHITE),
        ("message ok", MESSAGE_OK, Color32::WHITE),
        ("primary button", Color32::WHITE, ACCENT),
        ("text on a button", Color32::BLACK, BUTTON_FILL),
        (
            "error on a button",
            severity_color(Severity::Error),
            BUTTON_FILL,
        ),
        (
            "warning on a button",
            severity_color(Severity::Warning),
            BUTTON_FILL,
        ),
    ];
    for s in Status::ALL {
        out.push(("status on white", status_ink(s), Color32::WHITE));
        out.push(("status on its chip", status_ink(s), status_fill(s)));
    }
    out
}

/// A button's fill in the sunlight theme.
const BUTTON_FILL: Color32 = Color32::from_gray(242);

const MESSAGE_ERROR: Color32 = Color32::from_rgb(160, 0, 0);
const MESSAGE_OK: Color32 = Color32::from_rgb(0, 90, 30);

fn status_label(lang: Lang, s: Status) -> &'static str {
    tr(lang, &format!("status.{}", s.as_str()))
}

fn list_ui(
    ui: &mut Ui,
    lang: Lang,
    device: &Arc<Device>,
    state: &mut ListState,
    cmd: &mut Option<Command>,
) {
    ui.heading(tr(lang, "list.title"));
    // Wrapped: in portrait the desa filter goes to the next line instead of past the edge.
    ui.horizontal_wrapped(|ui| {
        let l = ui.label(tr(lang, "list.search"));
        ui.add(
            egui::TextEdit::singleline(&mut state.query)
                .hint_text(tr(lang, "list.search_hint"))
                .min_size([360.0, TOUCH].into()),
        )
        .labelled_by(l.id);
        egui::ComboBox::new("status", tr(lang, "list.status"))
            .selected_text(
                state
                    .status
                    .map_or(tr(lang, "list.all"), |s| status_label(lang, s)),
            )
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.status, None, tr(lang, "list.all"));
                for s in Status::ALL {
                    ui.selectable_value(&mut state.status, Some(s), status_label(lang, s));
                }
            });
    });
    // The desa filter on its own line, beside its label, in either orientation.
    ui.horizontal(|ui| {
        let l = ui.label(tr(lang, "list.desa"));
        ui.add(
            egui::TextEdit::singleline(&mut state.desa)
                .desired_width(140.0)
                .min_size([120.0, TOUCH].into()),
        )
        .labelled_by(l.id);
    });
    state.refresh(device, ui.ctx());
    if let Some(e) = &state.error {
        ui.label(
            RichText::new(format!("{}: {}", tr(lang, "error.prefix"), e.get(lang)))
                .color(severity_color(Severity::Error)),
        );
    }
    ui.horizontal(|ui| {
        ui.label(trf(lang, "list.count", &[("n", &state.len().to_string())]));
        // No spinner: it would repaint every frame; the worker asks for a frame when it answers.
        if state.is_pending() {
            ui.label(RichText::new(tr(lang, "list.searching")).italics());
        }
    });
    let row_height = TOUCH + 8.0;
    // Only the visible rows are drawn, and only they (and a margin) are read from the store: smooth with
    // 100,000 families.
    egui::ScrollArea::vertical().auto_shrink(false).show_rows(
        ui,
        row_height,
        state.len(),
        |ui, range| {
            let rows = match &state.view {
                None => state.found.get(range).unwrap_or_default(),
                Some(view) => {
                    let (first, rows) = &state.page;
                    if range.start < *first || range.end > first + rows.len() {
                        // A margin either side, so scrolling reads the store once every few screens.
                        let want = range.start.saturating_sub(60)..range.end + 60;
                        match device.list_rows(view, want.clone()) {
                            Ok(rows) => state.page = (want.start, rows),
                            Err(e) => state.error = Some(e.text()),
                        }
                    }
                    let (first, rows) = &state.page;
                    let rows = rows.get(range.start.saturating_sub(*first)..);
                    let rows = rows.unwrap_or_default();
                    rows.get(..rows.len().min(range.len())).unwrap_or_default()
                }
            };
            for row in rows {
                if list_row_ui(ui, lang, row).clicked() {
                    *cmd = Some(Command::Open(row.id));
                }
            }
        },
    );
}

fn list_row_ui(ui: &mut Ui, lang: Lang, row: &ListRow) -> egui::Response {
    use egui::text::{LayoutJob, TextFormat};
    // Names may have come from outside (a work package): control characters are shown as such.
    let text = format!(
        "{}  ·  {}  ·  {}  ·  ",
        if row.head_name.is_empty() {
            tr(lang, "list.no_name").into()
        } else {
            clean(&row.head_name)
        },
        clean(&row.no_kk),
        clean(&row.address),
    );
    let font = egui::TextStyle::Button.resolve(ui.style());
    let mut job = LayoutJob::default();
    job.append(
        &text,
        0.0,
        TextFormat::simple(font.clone(), ui.visuals().text_color()),
    );
    // The status as a coloured chip with its word, as everywhere.
    job.append(
        &format!(" {} ", status_label(lang, row.status)),
        0.0,
        TextFormat {
            background: status_fill(row.status),
            ..TextFormat::simple(font, status_ink(row.status))
        },
    );
    ui.add(egui::Button::new(job).min_size([ui.available_width(), TOUCH].into()))
}

fn settings_ui(ui: &mut Ui, lang: Lang, prefs: &Prefs, cmd: &mut Option<Command>) {
    ui.heading(tr(lang, "settings.title"));
    let mut p = prefs.clone();
    ui.label(tr(lang, "settings.language"));
    ui.horizontal(|ui| {
        ui.selectable_value(&mut p.lang, Lang::Id, "Bahasa Indonesia");
        ui.selectable_value(&mut p.lang, Lang::En, "English");
    });
    ui.label(tr(lang, "settings.theme"));
    ui.horizontal(|ui| {
        ui.selectable_value(&mut p.dark, false, tr(lang, "settings.light"));
        ui.selectable_value(&mut p.dark, true, tr(lang, "settings.dark"));
    });
    ui.label(tr(lang, "settings.text_size"));
    ui.horizontal(|ui| {
        for (key, scale) in [
            ("settings.size_normal", 1.0),
            ("settings.size_large", 1.25),
            ("settings.size_larger", 1.5),
        ] {
            ui.selectable_value(&mut p.text_scale, scale, tr(lang, key));
        }
    });
    if p != *prefs {
        *cmd = Some(Command::SetPrefs(p));
    }
}

/// The tablet's id, name and key fingerprint, for the registry's operator to compare before approving
/// it (one small read of the store's device entry).
fn identity_ui(ui: &mut Ui, lang: Lang, device: &Device) {
    ui.separator();
    match device.identity() {
        Ok(i) => {
            ui.label(format!(
                "{}: {} ({})",
                tr(lang, "settings.device"),
                crate::model::printable::clean(&i.name),
                crate::bundle::short(i.id)
            ));
            ui.label(format!(
                "{}: {}",
                tr(lang, "settings.fingerprint"),
                i.fingerprint
            ));
        }
        Err(e) => {
            ui.label(e.text().get(lang));
        }
    }
}

pub fn severity_color(s: Severity) -> Color32 {
    match s {
        // Dark enough for 7:1 on white (sunlight); `sunlight_text_colors` is tested.
        Severity::Error => Color32::from_rgb(160, 0, 0),
        Severity::Warning => Color32::from_rgb(115, 60, 0),
    }
}

const WINDOW_ICON: &[u8] = include_bytes!("../../packaging/icons/hicolor/128x128/apps/pendata.png");

/// Runs the app window on `data_dir`.
pub fn run(data_dir: &Path) -> Result<(), String> {
    // The release build aborts on panic: the hook writes the crash log before the process ends, and the
    // next start tells the petugas.
    crate::app::crash::install(data_dir);
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Pendata")
        // The desktop entry's name (pendata.desktop), so docks and task bars show its icon.
        .with_app_id("pendata")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([480.0, 480.0]);
    // The window's own icon (title bar, Windows task bar); without it eframe shows egui's logo.
    if let Ok(icon) = eframe::icon_data::from_png_bytes(WINDOW_ICON) {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    let dir = data_dir.to_path_buf();
    // PENDATA_LANG=id|en starts in that language (provisioning, screenshots); the switch still works.
    let lang = match std::env::var("PENDATA_LANG").as_deref() {
        Ok("en") => Some(Lang::En),
        Ok("id") => Some(Lang::Id),
        _ => None,
    };
    eframe::run_native(
        "Pendata",
        options,
        Box::new(move |_cc| {
            let mut app = PendataApp::new(&dir);
            if let Some(lang) = lang {
                app.prefs.lang = lang;
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| e.to_string())
}
