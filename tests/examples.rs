//! The example families in `docs/examples/` say true things: each gives the outcome its row in
//! `docs/examples/README.md` names, and the complete family finalizes through the commands the README's
//! quick start shows. The README's `apt-get install` line is the list CI installs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pendata(data_dir: Option<&Path>, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pendata"));
    cmd.env("PENDATA_PIN", "246810");
    cmd.current_dir(root());
    if let Some(d) = data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that does not read its input may exit before the write: that is not a failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One row of the examples' table: the file, the exit code of `validate`, and the (path, code) of the
/// issue it names, if any.
struct Row {
    file: String,
    exit: i32,
    issue: Option<(String, String)>,
}

/// The words between backticks in a table cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn rows() -> Vec<Row> {
    let table = std::fs::read_to_string(root().join("docs/examples/README.md")).unwrap();
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = ticked(cells[1]).remove(0);
            let exit = cells[2].parse().unwrap();
            let named = ticked(cells[3]);
            let issue = (named.len() >= 2).then(|| (named[0].clone(), named[1].clone()));
            Row { file, exit, issue }
        })
        .collect()
}

#[test]
fn every_example_family_gives_the_outcome_its_row_names() {
    let rows = rows();
    let listed: BTreeSet<String> = rows.iter().map(|r| r.file.clone()).collect();
    let present: BTreeSet<String> = std::fs::read_dir(root().join("docs/examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(listed, present, "every example has a row, every row a file");
    assert!(rows.len() >= 4, "a valid family and a few failing ones");
    assert!(rows.iter().any(|r| r.exit == 0 && r.issue.is_none()));

    for row in &rows {
        let path = format!("docs/examples/{}", row.file);
        let out = pendata(
            None,
            &[
                "validate",
                "--form",
                "keluarga",
                "--today",
                "2026-11-28",
                "--json",
                "--answers",
                &path,
            ],
            "",
        );
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(row.exit), "{path}: {stdout}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let issues = report["issues"].as_array().unwrap();
        let mut error_paths: Vec<&str> = issues
            .iter()
            .filter(|i| i["severity"] == "error")
            .filter_map(|i| i["path"].as_str())
            .collect();
        let errors = error_paths.len();
        error_paths.sort_unstable();
        error_paths.dedup();
        assert_eq!(
            errors,
            error_paths.len(),
            "{path}: one error per path: {stdout}"
        );
        match &row.issue {
            None => assert!(issues.is_empty(), "{path}: {stdout}"),
            Some((at, code)) => {
                let first = issues.first().expect("an issue");
                assert_eq!(
                    (first["path"].as_str(), first["code"].as_str()),
                    (Some(at.as_str()), Some(code.as_str())),
                    "{path}: {stdout}"
                );
            }
        }
    }
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn the_complete_example_family_finalizes_through_record_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = Some(dir.path());
    ok(&pendata(
        d,
        &["init", "--device-name", "Tablet Latihan 01"],
        "",
    ));
    ok(&pendata(
        d,
        &[
            "petugas",
            "add",
            "--code",
            "P001",
            "--name",
            "Dewi Lestari",
            "--pin-stdin",
        ],
        "246810\n",
    ));
    let id = ok(&pendata(
        d,
        &[
            "record",
            "new",
            "--form",
            "keluarga",
            "--petugas",
            "P001",
            "--answers",
            "-",
        ],
        "{}",
    ));
    let id = id.trim();
    let set = ok(&pendata(
        d,
        &[
            "record",
            "set",
            id,
            "--petugas",
            "P001",
            "--answers",
            "docs/examples/keluarga-lengkap.json",
        ],
        "",
    ));
    assert!(set.contains("draft"), "{set}");
    let fin = ok(&pendata(
        d,
        &[
            "record",
            "finalize",
            id,
            "--petugas",
            "P001",
            "--today",
            "2026-11-28",
        ],
        "",
    ));
    assert!(fin.contains("final"), "{fin}");
    let list = ok(&pendata(d, &["record", "list", "--status", "final"], ""));
    assert!(list.contains("Ahmad Fauzi"), "{list}");
}

fn packages(words: &str) -> BTreeSet<String> {
    words
        .split_whitespace()
        .filter(|w| !w.starts_with('-'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_installs_the_packages_ci_installs() {
    let list = std::fs::read_to_string(root().join("packaging/debian-packages.txt")).unwrap();
    let from_list: String = list
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find_map(|l| l.strip_prefix("sudo apt-get install -y "))
        .expect("the README's apt-get line");
    assert_eq!(packages(line), packages(&from_list));
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(ci.contains("packaging/debian-packages.txt"));
}
