//! The app's panic hook: a child process (this test binary again) saves a family, installs the hook and
//! panics; the parent finds the panic in the crash log of the data directory (private, appended), the
//! saved family in the store, and the "closed unexpectedly" mark for the next start, told once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Command;

use pendata::app::{Device, crash};
use serde_json::json;

const CHILD_ENV: &str = "PENDATA_PANIC_CHILD_DIR";

/// In the child: a saved family, then a panic with the hook installed.
#[test]
fn child_panics_after_saving() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let device = match Device::open(&dir, pendata::store::Unlock::Secret("246810")) {
        Ok(d) => d,
        Err(_) => {
            let (d, _) = Device::init(&dir, "Tablet Uji").unwrap();
            d.add_petugas("P001", "Dewi Lestari", "246810").unwrap();
            d
        }
    };
    let answers = json!({"alamat": "Jl. Panik No. 1"})
        .as_object()
        .unwrap()
        .clone();
    device.new_record("keluarga", "P001", answers).unwrap();
    crash::install(&dir);
    let n = std::env::var("PENDATA_PANIC_N").unwrap();
    // A message quoting a family's data, as `unwrap()` on an error holding it would.
    panic!("a bug in a screen, number {n}: Invalid(\"Dewi Lestari 6472015501900001\")");
}

fn crash_child(dir: &std::path::Path, n: u32) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_panics_after_saving", "--nocapture"])
        .env(CHILD_ENV, dir)
        .env("PENDATA_PANIC_N", n.to_string())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child panicked");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("a bug in a screen, number {n}")),
        "the default report still goes to stderr: {stderr}"
    );
}

#[test]
fn a_panic_is_written_to_the_crash_log_and_told_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(!crash::take_unseen(&data), "no crash yet");
    crash_child(&data, 1);

    let log = std::fs::read_to_string(crash::log_path(&data)).unwrap();
    assert_eq!(log.matches("=== ").count(), 1, "one entry: {log}");
    assert!(
        log.contains("message: a bug in a screen, number 1: Invalid(\"…\")"),
        "{log}"
    );
    assert!(
        !log.contains("Dewi") && !log.contains("6472015501900001"),
        "no personal data in the crash log: {log}"
    );
    assert!(log.contains("location: tests/panic_log.rs:"), "{log}");
    assert!(log.contains("thread: child_panics_after_saving"), "{log}");
    assert!(log.contains("backtrace:\n"), "{log}");
    assert!(
        log.contains("child_panics_after_saving"),
        "a frame of the backtrace: {log}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(crash::log_path(&data))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the log is private, like the store");
    }

    // The family saved before the panic is there.
    let device = Device::open(&data, pendata::store::Unlock::Secret("246810")).unwrap();
    let heads = device.list(None).unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].summary.address, "Jl. Panik No. 1");
    drop(device);

    // The next start is told once.
    assert!(crash::take_unseen(&data));
    assert!(!crash::take_unseen(&data));

    // A second crash is appended after the first.
    crash_child(&data, 2);
    let log = std::fs::read_to_string(crash::log_path(&data)).unwrap();
    assert_eq!(log.matches("=== ").count(), 2, "{log}");
    let first = log.find("number 1").unwrap();
    let second = log.find("number 2").unwrap();
    assert!(first < second, "appended");
    assert!(crash::take_unseen(&data));
}
