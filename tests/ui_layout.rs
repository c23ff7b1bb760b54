//! The tablet screens fit a tablet: walked at 1280×800 (landscape), 800×1280 (portrait) and 1920×1200 (a
//! 10" tablet's full HD), every widget a finger can touch is at least 48×48 px and nothing reaches past
//! the screen's right edge. And the
//! sunlight theme's text colours keep a contrast of at least 7:1 on its background.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use pendata::app::{Device, demo};
use pendata::ui::{Command, PendataApp};

const TOUCH: f64 = 48.0;

/// Landscape, portrait, and a 10" tablet's full HD in landscape.
const SIZES: [[f32; 2]; 3] = [[1280.0, 800.0], [800.0, 1280.0], [1920.0, 1200.0]];

/// Roles a petugas touches.
const TOUCHABLE: [Role; 8] = [
    Role::Button,
    Role::CheckBox,
    Role::RadioButton,
    Role::ComboBox,
    Role::TextInput,
    Role::PasswordInput,
    Role::MultilineTextInput,
    Role::Link,
];

fn harness(dir: &std::path::Path, size: [f32; 2]) -> Harness<'static, PendataApp> {
    Harness::builder()
        .with_size(size)
        .with_max_steps(32)
        .build_ui_state(|ui, app: &mut PendataApp| app.ui(ui), PendataApp::new(dir))
}

/// Every touchable widget on the screen of the moment that is too small or past the right edge.
fn problems(h: &Harness<'static, PendataApp>, screen: &str, width: f64) -> Vec<String> {
    let mut out = Vec::new();
    for role in TOUCHABLE {
        for node in h.query_all_by_role(role) {
            let r = node.rect();
            let label = node.accesskit_node().label().unwrap_or_default();
            if f64::from(r.width()) < TOUCH - 0.5 || f64::from(r.height()) < TOUCH - 0.5 {
                out.push(format!(
                    "{screen}: {role:?} {label:?} is {:.0}×{:.0}",
                    r.width(),
                    r.height()
                ));
            }
            if f64::from(r.max.x) > width + 0.5 {
                out.push(format!(
                    "{screen}: {role:?} {label:?} ends at x={:.0}, past {width}",
                    r.max.x
                ));
            }
        }
    }
    for node in h.query_all_by_role(Role::Label) {
        let r = node.rect();
        if f64::from(r.max.x) > width + 0.5 {
            let label = node.accesskit_node().label().unwrap_or_default();
            out.push(format!("{screen}: text {label:?} ends at x={:.0}", r.max.x));
        }
    }
    out
}

fn go(h: &mut Harness<'static, PendataApp>, cmd: Command) {
    h.state_mut().run(cmd);
    h.run();
}

fn walk(size: [f32; 2]) -> Vec<String> {
    let name = |screen: &str| format!("{screen} {}×{}", size[0], size[1]);
    let dir = tempfile::tempdir().unwrap();
    let (device, _) = Device::init(dir.path(), "Tablet Palaran 01").unwrap();
    device
        .add_petugas("P001", "Dewi Lestari", "246810")
        .unwrap();
    demo::fill(&device, "P001", 40, 5, 20).unwrap();
    drop(device);
    // A stick with the registry's key and a receipt on it, so Export and Receipts show their buttons
    // with long file names; a camera folder for the photo picker.
    let stick = tempfile::tempdir().unwrap();
    let reg = stick.path().join("kantor");
    pendata::registry::init(
        &reg,
        "Dinas Sosial Kaltim",
        chrono::Local::now().fixed_offset(),
    )
    .unwrap();
    std::fs::copy(reg.join("registry.pub"), stick.path().join("registry.pub")).unwrap();
    std::fs::write(
        stick
            .path()
            .join("pendata-receipt-01a23b72-20261203-102836.json"),
        "{}",
    )
    .unwrap();
    pendata::app::drives::pretend_mounted(vec![stick.path().to_path_buf()]);
    let width = f64::from(size[0]);
    let mut h = harness(dir.path(), size);
    h.state_mut().photo_folders = Some(vec![stick.path().to_path_buf()]);
    h.run();
    let mut found = problems(&h, &name("sign-in"), width);
    h.get_by_label("Dewi Lestari · P001").click();
    h.run();
    h.get_by_role_and_label(Role::PasswordInput, "PIN").focus();
    h.run();
    h.get_by_role_and_label(Role::PasswordInput, "PIN")
        .type_text("246810");
    h.run();
    h.get_by_label("Masuk").click();
    h.run();
    h.state_mut().wait_home();
    h.run();
    found.extend(problems(&h, &name("home"), width));
    go(&mut h, Command::List);
    found.extend(problems(&h, &name("list"), width));
    go(&mut h, Command::NewFamily);
    found.extend(problems(&h, &name("form"), width));
    // Blok IV is asked once the interview was completed (Blok II).
    for label in [
        "Blok II.",
        "Terisi lengkap",
        "Blok IV.",
        "Tambah anggota keluarga",
    ] {
        h.get_by_label_contains(label).scroll_to_me();
        h.run();
        h.get_by_label_contains(label).click();
        h.run();
    }
    assert!(
        h.query_by_label("Selesai, kembali ke daftar anggota")
            .is_some()
    );
    found.extend(problems(&h, &name("member card"), width));
    h.get_all_by_label("Periksa & finalisasi")
        .next()
        .unwrap()
        .click();
    h.run();
    assert!(h.query_by_label("Finalisasi").is_some());
    found.extend(problems(&h, &name("review"), width));
    for label in ["Blok VI.", "Pilih foto"] {
        h.get_all_by_label_contains(label).next().unwrap().click();
        h.run();
    }
    assert!(
        h.query_by_label("Batal").is_some(),
        "the photo picker is open"
    );
    found.extend(problems(&h, &name("photo picker"), width));
    go(&mut h, Command::Visits);
    found.extend(problems(&h, &name("visits"), width));
    go(&mut h, Command::Export);
    assert!(h.query_by_label_contains("Pasang kunci dari").is_some());
    found.extend(problems(&h, &name("export"), width));
    go(&mut h, Command::Receipts);
    assert!(
        h.query_by_label_contains("Terapkan pendata-receipt-")
            .is_some()
    );
    found.extend(problems(&h, &name("receipts"), width));
    go(&mut h, Command::Settings);
    found.extend(problems(&h, &name("settings"), width));
    go(&mut h, Command::SignOut);
    found
}

#[test]
fn every_screen_fits_a_tablet_in_every_size_with_touch_sized_widgets() {
    let found: Vec<String> = SIZES.into_iter().flat_map(walk).collect();
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn first_run_setup_fits_a_tablet_in_every_size() {
    for size in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let mut h = harness(dir.path(), size);
        h.run();
        let found = problems(&h, &format!("setup {size:?}"), f64::from(size[0]));
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}

/// WCAG 2 relative luminance of an sRGB colour.
fn luminance(c: egui::Color32) -> f64 {
    let lin = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.040_45 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c.r()) + 0.7152 * lin(c.g()) + 0.0722 * lin(c.b())
}

fn contrast(a: egui::Color32, b: egui::Color32) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn the_sunlight_theme_text_has_a_contrast_of_at_least_7_to_1() {
    assert!((contrast(egui::Color32::BLACK, egui::Color32::WHITE) - 21.0).abs() < 0.01);
    // The old error red (190, 0, 0) was below: the check can fail.
    assert!(contrast(egui::Color32::from_rgb(190, 0, 0), egui::Color32::WHITE) < 7.0);
    let low: Vec<String> = pendata::ui::sunlight_text_colors()
        .into_iter()
        .map(|(what, fg, bg)| (what, fg, bg, contrast(fg, bg)))
        .filter(|(.., c)| *c < 7.0)
        .map(|(what, fg, bg, c)| format!("{what}: {fg:?} on {bg:?} is {c:.2}:1"))
        .collect();
    assert!(low.is_empty(), "{}", low.join("\n"));
}
