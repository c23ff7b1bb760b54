//! The office screens (`pendata office`): the registry's work for people who do not use a shell, in the
//! tablet app's look. They talk to `crate::app::office` only: the shell opens the registry (its
//! passphrase when its keys are kept under one), signs an operator in, and shows the screens of the
//! navigation (dashboard, import, devices, work queue, families, receipts, reports, work packages).

pub mod chain;
pub mod dashboard;
pub mod devices;
pub mod families;
pub mod import;
pub mod outputs;
pub mod queue;

use std::path::{Path, PathBuf};

use egui::{Align, Color32, Layout, RichText, Ui};

use super::i18n::tr;
use super::{TOUCH, big_button, primary};
use crate::app::office::{Office, session};
use crate::app::task::Wake;
use crate::model::{Lang, Localized};

/// A screen of the office, as the navigation lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Dashboard,
    Import,
    Devices,
    Queue,
    Families,
    Receipts,
    Reports,
    Packages,
    Chain,
}

/// The navigation: every page and its text's key.
const PAGES: [(Page, &str); 9] = [
    (Page::Dashboard, "office.nav.dashboard"),
    (Page::Import, "office.nav.import"),
    (Page::Devices, "office.nav.devices"),
    (Page::Queue, "office.nav.queue"),
    (Page::Families, "office.nav.families"),
    (Page::Receipts, "office.nav.receipts"),
    (Page::Reports, "office.nav.reports"),
    (Page::Packages, "office.nav.packages"),
    (Page::Chain, "office.nav.chain"),
];

/// Where the office is: choosing a registry, opening its keys, signing in, or at work.
pub enum Stage {
    /// No registry yet: a folder typed in.
    Choose {
        folder: String,
    },
    /// The registry's secret keys are under a passphrase.
    Unlock {
        passphrase: String,
    },
    /// An operator signs in (`operators`: the registry has some; otherwise the computer's account).
    SignIn {
        name: String,
        passphrase: String,
        operators: bool,
    },
    Work(Page),
}

/// The screens' states, made at sign-in and dropped at sign-out.
struct Screens {
    dashboard: dashboard::DashboardScreen,
    import: import::ImportScreen,
    devices: devices::DevicesScreen,
    queue: queue::QueueScreen,
    families: families::FamiliesScreen,
    outputs: outputs::OutputsScreen,
    chain: chain::ChainScreen,
}

/// The office app: one registry, one signed-in person at a time.
pub struct OfficeApp {
    dir: Option<PathBuf>,
    office: Option<Office>,
    /// The registry's name, read once when it opened: a frame never waits for the registry (an import
    /// or a decision may hold it).
    name: String,
    pub lang: Lang,
    pub stage: Stage,
    /// Who is signed in (shown in the top bar).
    user: Option<String>,
    /// The message at the bottom (both languages), and whether it is an error.
    message: Option<(Localized, bool)>,
    wake: Option<Wake>,
    screens: Option<Box<Screens>>,
    /// Whether a registry opened is remembered on this PC (the window's; not tests and benchmarks).
    remember: bool,
}

impl OfficeApp {
    /// The office on the registry in `dir`, or on the one set up on this PC most recently (or asks).
    pub fn new(dir: Option<&Path>) -> OfficeApp {
        OfficeApp::build(dir, false)
    }

    /// [`OfficeApp::new`] for the window: the registry opened is remembered on this PC.
    pub fn remembering(dir: Option<&Path>) -> OfficeApp {
        OfficeApp::build(dir, true)
    }

    fn build(dir: Option<&Path>, remember: bool) -> OfficeApp {
        let mut app = OfficeApp {
            dir: None,
            office: None,
            name: String::new(),
            lang: Lang::Id,
            stage: Stage::Choose {
                folder: String::new(),
            },
            user: None,
            message: None,
            wake: None,
            screens: None,
            remember,
        };
        let dir = dir
            .map(Path::to_path_buf)
            .or_else(|| session::known_registries().into_iter().next());
        if let Some(dir) = dir {
            app.choose(&dir);
        }
        app
    }

    /// The open registry (after its keys opened).
    pub fn office(&self) -> Option<&Office> {
        self.office.as_ref()
    }

    /// Takes `dir` as the registry: its passphrase next, or sign-in.
    fn choose(&mut self, dir: &Path) {
        self.dir = Some(dir.to_path_buf());
        if !session::is_registry(dir) {
            self.fail(&session::OfficeError::NotARegistry(dir.to_path_buf()).text());
            self.stage = Stage::Choose {
                folder: dir.display().to_string(),
            };
        } else if session::needs_passphrase(dir) {
            self.stage = Stage::Unlock {
                passphrase: String::new(),
            };
        } else {
            self.open(None);
        }
    }

    /// Opens the registry's keys and store.
    fn open(&mut self, passphrase: Option<&str>) {
        let Some(dir) = self.dir.clone() else { return };
        let opened = session::open(&dir, passphrase).and_then(|office| {
            let operators = session::has_operators(&office)?;
            Ok((office, operators))
        });
        match opened {
            Ok((office, operators)) => {
                if self.remember {
                    session::remember_registry(&dir);
                }
                self.name = office.name();
                self.office = Some(office);
                self.message = None;
                self.stage = Stage::SignIn {
                    name: String::new(),
                    passphrase: String::new(),
                    operators,
                };
            }
            Err(e) => self.fail(&e.text()),
        }
    }

    fn sign_in(&mut self) {
        let (
            Some(office),
            Stage::SignIn {
                name, passphrase, ..
            },
        ) = (&self.office, &mut self.stage)
        else {
            return;
        };
        let pass = std::mem::take(passphrase);
        match session::sign_in(office, name, &pass) {
            Ok(who) => {
                self.user = Some(who);
                self.message = None;
                let wake = self.wake.clone().unwrap_or_else(Wake::none);
                self.screens = Some(Box::new(Screens {
                    dashboard: dashboard::DashboardScreen::new(office.clone(), wake.clone()),
                    import: import::ImportScreen::new(office.clone(), wake.clone()),
                    devices: devices::DevicesScreen::new(office.clone(), wake.clone()),
                    queue: queue::QueueScreen::new(office.clone(), wake.clone()),
                    families: families::FamiliesScreen::new(office.clone(), wake.clone()),
                    outputs: outputs::OutputsScreen::new(office.clone(), wake.clone()),
                    chain: chain::ChainScreen::new(office.clone(), wake),
                }));
                self.stage = Stage::Work(Page::Dashboard);
            }
            Err(e) => self.fail(&e.text()),
        }
    }

    /// Signs out: the screens and their data go; the registry stays open for the next person.
    pub fn sign_out(&mut self) {
        if let Some(office) = &self.office {
            session::sign_out(office);
            let operators = session::has_operators(office).unwrap_or(true);
            self.stage = Stage::SignIn {
                name: String::new(),
                passphrase: String::new(),
                operators,
            };
        }
        self.user = None;
        self.screens = None;
        self.message = None;
    }

    /// Waits for the background work of the screens (tests, screenshots, benchmarks).
    pub fn wait(&mut self) {
        if let Some(s) = self.screens.as_mut() {
            s.dashboard.wait();
            s.import.wait();
            s.devices.wait();
            s.outputs.wait();
            s.chain.wait();
        }
    }

    /// Opens `page`, its figures read again (an import or a decision elsewhere may have changed them).
    fn go(&mut self, page: Page) {
        if let Some(s) = self.screens.as_mut() {
            s.refresh(page);
        }
        self.stage = Stage::Work(page);
    }

    fn fail(&mut self, text: &Localized) {
        self.message = Some((text.clone(), true));
    }

    /// Draws one frame.
    pub fn ui(&mut self, root: &mut Ui) {
        let ctx = root.ctx().clone();
        if self.wake.is_none() {
            self.wake = Some(super::wake(&ctx));
        }
        office_style(&ctx);
        egui::Panel::top("office_top").show(root, |ui| self.top_bar(ui));
        if self.message.is_some() {
            egui::Panel::bottom("office_message").show(root, |ui| self.message_ui(ui));
        }
        if let Stage::Work(page) = self.stage {
            egui::Panel::left("office_nav")
                .resizable(false)
                .exact_size(190.0)
                .show(root, |ui| self.nav_ui(ui, page));
        }
        egui::CentralPanel::default().show(root, |ui| {
            if matches!(self.stage, Stage::Work(_)) {
                self.stage_ui(ui);
            } else {
                // Sign-in and its steps: a narrow column in the middle, as on the tablet.
                let full = ui.available_rect_before_wrap();
                let width = full.width().min(520.0);
                let column = egui::Rect::from_min_size(
                    egui::pos2(full.center().x - width / 2.0, full.top() + 40.0),
                    egui::vec2(width, full.height() - 40.0),
                );
                ui.scope_builder(egui::UiBuilder::new().max_rect(column), |ui| {
                    self.stage_ui(ui)
                });
            }
        });
    }

    fn top_bar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.heading(tr(self.lang, "office.title"));
            ui.label(RichText::new(&self.name).strong());
            if let Some(user) = &self.user {
                ui.label(format!("· {user}"));
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                if self.user.is_some() && big_button(ui, tr(self.lang, "action.sign_out")).clicked()
                {
                    self.sign_out();
                }
                let other = match self.lang {
                    Lang::Id => ("English", Lang::En),
                    Lang::En => ("Bahasa Indonesia", Lang::Id),
                };
                if big_button(ui, other.0).clicked() {
                    self.lang = other.1;
                }
            });
        });
    }

    fn message_ui(&mut self, ui: &mut Ui) {
        let Some((text, is_err)) = &self.message else {
            return;
        };
        let color = if *is_err {
            Color32::from_rgb(160, 0, 0)
        } else {
            Color32::from_rgb(0, 90, 30)
        };
        let text = text.get(self.lang).to_string();
        ui.horizontal(|ui| {
            ui.label(RichText::new(text).color(color).strong());
            if big_button(ui, tr(self.lang, "action.close")).clicked() {
                self.message = None;
            }
        });
    }

    fn nav_ui(&mut self, ui: &mut Ui, page: Page) {
        ui.add_space(8.0);
        for (p, key) in PAGES {
            let text = RichText::new(tr(self.lang, key)).size(18.0);
            let button = egui::Button::selectable(p == page, text).min_size([170.0, TOUCH].into());
            if ui.add(button).clicked() {
                self.go(p);
            }
        }
    }

    fn stage_ui(&mut self, ui: &mut Ui) {
        let lang = self.lang;
        match &mut self.stage {
            Stage::Choose { folder } => {
                if choose_ui(ui, lang, folder) {
                    let dir = PathBuf::from(folder.trim());
                    self.choose(&dir);
                }
            }
            Stage::Unlock { passphrase } => {
                if unlock_ui(ui, lang, passphrase) {
                    let p = std::mem::take(passphrase);
                    self.open(Some(&p));
                }
            }
            Stage::SignIn {
                name,
                passphrase,
                operators,
            } => {
                if signin_ui(ui, lang, name, passphrase, *operators) {
                    self.sign_in();
                }
            }
            Stage::Work(page) => {
                let page = *page;
                let Some(screens) = self.screens.as_mut() else {
                    return;
                };
                let jump = egui::ScrollArea::both()
                    .id_salt(("office_page", page as u8))
                    .auto_shrink(false)
                    .show(ui, |ui| screens.ui(ui, lang, page))
                    .inner;
                if let Some(p) = jump {
                    self.go(p);
                }
            }
        }
    }
}

impl Screens {
    fn refresh(&mut self, page: Page) {
        match page {
            Page::Dashboard => self.dashboard.refresh(),
            Page::Devices => self.devices.refresh(),
            Page::Packages => self.outputs.refresh(),
            Page::Chain => self.chain.refresh(),
            _ => {}
        }
    }

    /// Draws `page`; returns the page a link on it asks for.
    fn ui(&mut self, ui: &mut Ui, lang: Lang, page: Page) -> Option<Page> {
        match page {
            Page::Dashboard => self.dashboard.ui(ui, lang),
            Page::Import => return self.import.ui(ui, lang),
            Page::Devices => self.devices.ui(ui, lang),
            Page::Queue => self.queue.ui(ui, lang),
            Page::Families => self.families.ui(ui, lang),
            Page::Receipts => self.outputs.receipts_ui(ui, lang),
            Page::Reports => self.outputs.reports_ui(ui, lang),
            Page::Packages => self.outputs.packages_ui(ui, lang),
            Page::Chain => self.chain.ui(ui, lang),
        }
        None
    }
}

/// The tablet app's look, with the office's wider screens: big fonts, 48 px targets, black on white.
fn office_style(ctx: &egui::Context) {
    let mut visuals = egui::Visuals::light();
    visuals.override_text_color = Some(Color32::BLACK);
    visuals.panel_fill = Color32::WHITE;
    visuals.widgets.noninteractive.bg_stroke.color = Color32::from_gray(60);
    visuals.widgets.inactive.bg_stroke = egui::Stroke::new(1.0, Color32::from_gray(40));
    visuals.widgets.inactive.weak_bg_fill = Color32::from_gray(242);
    ctx.set_visuals(visuals);
    ctx.all_styles_mut(|s| {
        use egui::{FontFamily, FontId, TextStyle};
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
                FontId::new(18.0, FontFamily::Monospace),
            ),
        ]
        .into();
        s.spacing.interact_size.y = TOUCH;
        s.spacing.item_spacing = egui::vec2(10.0, 10.0);
        s.spacing.button_padding = egui::vec2(14.0, 10.0);
    });
}

/// A text field with its label (found by it in tests and by screen readers).
pub(crate) fn field(
    ui: &mut Ui,
    label: &str,
    value: &mut String,
    password: bool,
) -> egui::Response {
    let label = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(value)
            .password(password)
            .min_size([320.0, TOUCH].into())
            .desired_width(420.0),
    )
    .labelled_by(label.id)
}

/// Whether Enter was pressed in `r`.
fn entered(ui: &Ui, r: &egui::Response) -> bool {
    r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
}

fn choose_ui(ui: &mut Ui, lang: Lang, folder: &mut String) -> bool {
    ui.heading(tr(lang, "office.choose.title"));
    ui.label(tr(lang, "office.choose.intro"));
    let r = field(ui, tr(lang, "office.choose.folder"), folder, false);
    let go = entered(ui, &r);
    (ui.add(primary(tr(lang, "office.choose.open"))).clicked() || go) && !folder.trim().is_empty()
}

fn unlock_ui(ui: &mut Ui, lang: Lang, passphrase: &mut String) -> bool {
    ui.heading(tr(lang, "office.unlock.title"));
    ui.label(tr(lang, "office.unlock.intro"));
    let r = field(ui, tr(lang, "office.unlock.passphrase"), passphrase, true);
    let go = entered(ui, &r);
    ui.add(primary(tr(lang, "office.unlock.open"))).clicked() || go
}

fn signin_ui(
    ui: &mut Ui,
    lang: Lang,
    name: &mut String,
    passphrase: &mut String,
    operators: bool,
) -> bool {
    ui.heading(tr(lang, "office.signin.title"));
    if !operators {
        ui.label(tr(lang, "office.signin.no_operators"));
        return ui
            .add(primary(tr(lang, "office.signin.continue")))
            .clicked();
    }
    field(ui, tr(lang, "office.signin.name"), name, false);
    let r = field(ui, tr(lang, "office.signin.passphrase"), passphrase, true);
    let go = entered(ui, &r);
    ui.add(primary(tr(lang, "office.signin.go"))).clicked() || go
}

/// Runs the office window on the registry in `dir` (or the one set up on this PC, or asks).
pub fn run(dir: Option<&Path>) -> Result<(), String> {
    let viewport = egui::ViewportBuilder::default()
        .with_title("Pendata — Kantor registri")
        .with_app_id("pendata")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([800.0, 600.0]);
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    let dir = dir.map(Path::to_path_buf);
    let lang = std::env::var("PENDATA_LANG").ok();
    eframe::run_native(
        "Pendata",
        options,
        Box::new(move |_cc| {
            let mut app = OfficeApp::remembering(dir.as_deref());
            if lang.as_deref() == Some("en") {
                app.lang = Lang::En;
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| e.to_string())
}

impl eframe::App for OfficeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        OfficeApp::ui(self, ui);
    }
}
