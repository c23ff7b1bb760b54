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
