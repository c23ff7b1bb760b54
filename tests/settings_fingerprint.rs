//! The tablet's Settings screen shows its id and key fingerprint, the same as `pendata device` prints
//! and the registry's device listing shows, so that an operator can compare before approving it.

mod common;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pendata::ui::PendataApp;

#[test]
fn settings_show_the_key_fingerprint_that_pendata_device_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let init = ["init", "--device-name", "Tablet Berau 03"];
    common::code(&common::run(Some(dir), &init, ""), 0);
    let petugas = [
        "petugas",
        "add",
        "--code",
        "P001",
        "--name",
        "Dewi Lestari",
        "--pin-stdin",
    ];
    common::code(&common::run(Some(dir), &petugas, "246810\n"), 0);
    let out = common::code(&common::run(Some(dir), &["device", "--json"], ""), 0);
    let device: serde_json::Value = serde_json::from_str(&out).unwrap();
    let fingerprint = device["fingerprint"].as_str().unwrap();
    let short_id = device["short_id"].as_str().unwrap();

    let app = PendataApp::new(dir);
    let mut h = Harness::builder()
        .with_size([800.0, 1280.0])
        .with_max_steps(32)
        .build_ui_state(|ui, app: &mut PendataApp| app.ui(ui), app);
    h.run();
    h.get_by_label("Dewi Lestari · P001").click();
    h.run();
    h.get_by_role_and_label(Role::PasswordInput, "PIN").focus();
    h.run();
    h.get_by_role_and_label(Role::PasswordInput, "PIN")
        .type_text("246810");
    h.run();
    h.get_by_label("Masuk").click();
    h.run();
    h.get_by_label("Pengaturan").click();
    h.run();
    assert!(
        h.query_by_label_contains(fingerprint).is_some(),
        "no {fingerprint} on Settings"
    );
    assert!(h.query_by_label_contains(short_id).is_some());
    assert!(h.query_by_label_contains("Tablet Berau 03").is_some());
}
