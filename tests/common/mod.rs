//! Helpers shared by the tests that run the `pendata` binary.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The PIN of every test petugas.
pub const PIN: &str = "246810";

/// Runs `pendata [--data-dir DATA] ARGS` with `stdin` on its standard input.
pub fn run(data: Option<&Path>, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pendata"));
    // The PIN that unlocks the store: every test petugas has it (a build with `test-support` derives
    // keys with light parameters, `store::keys::Kdf::for_new_slots`).
    cmd.env("PENDATA_PIN", PIN);
    cmd.env("PENDATA_OFFICE_REGISTRIES", known_registries());
    if let Some(d) = data {
        cmd.arg("--data-dir").arg(d);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// Where the tests' `registry init` records its registry for the office app (not the user's own list).
pub fn known_registries() -> std::path::PathBuf {
    std::env::temp_dir().join("pendata-tests-registries.txt")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn code(out: &Output, want: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(want),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// [`run`] with extra environment variables.
pub fn run_env(data: Option<&Path>, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pendata"));
    cmd.env("PENDATA_OFFICE_REGISTRIES", known_registries());
    if let Some(d) = data {
        cmd.arg("--data-dir").arg(d);
    }
    let mut child = cmd
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// A demo tablet with `families` finalized families, set up with `key` as its registry key.
pub fn demo_tablet(tab: &Path, key: &Path, name: &str, families: &str) {
    demo_tablet_in(tab, key, name, families, None);
}

/// [`demo_tablet`], its families living in `wilayah` when given (`demo --wilayah`).
pub fn demo_tablet_in(tab: &Path, key: &Path, name: &str, families: &str, wilayah: Option<&str>) {
    let init = [
        "init",
        "--demo",
        "--device-name",
        name,
        "--registry-key",
        p(key),
    ];
    code(&run(Some(tab), &init, ""), 0);
    let add = [
        "petugas",
        "add",
        "--code",
        "P001",
        "--name",
        "Siti",
        "--pin-stdin",
    ];
    code(&run(Some(tab), &add, &format!("{}\n", PIN)), 0);
    let mut demo = vec![
        "demo",
        "--families",
        families,
        "--petugas",
        "P001",
        "--drafts",
        "0",
    ];
    if let Some(w) = wilayah {
        demo.extend(["--wilayah", w]);
    }
    code(&run(Some(tab), &demo, ""), 0);
}

/// A demo registry at `level` over `wilayah`.
pub fn demo_registry(dir: &Path, level: &str, wilayah: &str) {
    let init = [
        "registry",
        "init",
        p(dir),
        "--demo",
        "--level",
        level,
        "--wilayah",
        wilayah,
    ];
    code(&run(None, &init, ""), 0);
}

/// Exports the tablet to a fresh stick, imports it at `reg` and approves the device (first time).
pub fn sync_to(tab: &Path, reg: &Path, stick: &Path) {
    std::fs::create_dir_all(stick).unwrap();
    code(&run(Some(tab), &["export", "--to", p(stick)], ""), 0);
    let _ = run(None, &["registry", "import", p(reg), p(stick)], "");
    let list = code(
        &run(None, &["registry", "devices", p(reg), "list", "--json"], ""),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    for d in v.as_array().unwrap() {
        if d["state"] == "pending" {
            let id = d["id"].as_str().unwrap();
            let _ = run(None, &["registry", "devices", p(reg), "approve", id], "");
        }
    }
}

/// Approves every enrolment still pending at `reg` (tablets and kabupaten/kota registries alike).
pub fn approve_pending(reg: &Path) {
    let list = code(
        &run(None, &["registry", "devices", p(reg), "list", "--json"], ""),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    for d in v.as_array().unwrap() {
        if d["state"] == "pending" {
            let id = d["id"].as_str().unwrap();
            let _ = run(None, &["registry", "devices", p(reg), "approve", id], "");
        }
    }
}

/// Opens a tablet's store (with the test PIN) once the app let it go: its background work (a screen's
/// reading) may still hold it for a moment after the window closed.
pub fn open_when_free(tab: &Path) -> pendata::app::Device {
    for _ in 0..200 {
        match pendata::app::Device::open(tab, pendata::store::Unlock::Secret(PIN)) {
            Err(pendata::app::AppError::Store(pendata::store::StoreError::Busy)) => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            other => return other.unwrap(),
        }
    }
    panic!("the store stayed busy");
}

/// The tablet app on `tab` in a portrait tablet's window, signed in by tapping the petugas `who`
/// ("Name · CODE", as the sign-in screen lists them) and typing the test PIN.
pub fn signed_in_app(
    tab: &Path,
    who: &str,
) -> egui_kittest::Harness<'static, pendata::ui::PendataApp> {
    use egui::accesskit::Role;
    use egui_kittest::kittest::Queryable;
    let app = pendata::ui::PendataApp::new(tab);
    let mut h = egui_kittest::Harness::builder()
        .with_size([800.0, 1280.0])
        .with_max_steps(32)
        .build_ui_state(|ui, app: &mut pendata::ui::PendataApp| app.ui(ui), app);
    h.run();
    h.get_by_label(who).click();
    h.run();
    h.get_by_role_and_label(Role::PasswordInput, "PIN").focus();
    h.run();
    h.get_by_role_and_label(Role::PasswordInput, "PIN")
        .type_text(PIN);
    h.run();
    h.get_by_label("Masuk").click();
    h.run();
    h
}
