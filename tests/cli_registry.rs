//! The registry through the binary, with a real tablet: tablet → stick → registry (held until the device
//! is approved) → receipt → tablet statuses; exit codes 0 (all handled), 1 (needs an operator),
//! 2 (bad input).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::{code, p, run};

fn tablet(tab: &Path, name: &str, key: &Path, families: &str) {
    common::demo_tablet(tab, key, name, families);
}

#[test]
fn tablet_to_registry_and_back_through_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    let tab = tmp.path().join("tablet");
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    let out = code(&run(None, &["registry", "init", p(&reg), "--demo"], ""), 0);
    assert!(out.contains("back them up"), "{out}");
    assert!(reg.join("registry.redb").exists());
    let key = reg.join("registry.pub");
    tablet(&tab, "Tablet Kutai 01", &key, "12");
    code(&run(Some(&tab), &["export", "--to", p(&stick)], ""), 0);

    // A folder (the whole stick): the unknown device's bundle is held; exit 1, it needs an operator.
    let out = code(
        &run(None, &["registry", "import", p(&reg), p(&stick)], ""),
        1,
    );
    assert!(out.contains("held"), "{out}");
    assert!(out.contains("waiting for approval"), "{out}");
    let out = code(&run(None, &["registry", "devices", p(&reg)], ""), 0);
    assert!(
        out.contains("pending") && out.contains("Tablet Kutai 01"),
        "{out}"
    );
    let list = code(
        &run(
            None,
            &["registry", "devices", p(&reg), "list", "--json"],
            "",
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = v[0]["id"].as_str().unwrap().to_string();
    let out = code(
        &run(
            None,
            &["registry", "devices", p(&reg), "approve", &id[..8]],
            "",
        ),
        0,
    );
    assert!(out.contains("merged 1.."), "{out}");
    assert!(out.contains("12 accepted"), "{out}");

    // The same stick again changes nothing, and all is handled: exit 0.
    let out = code(
        &run(None, &["registry", "import", p(&reg), p(&stick)], ""),
        0,
    );
    assert!(out.contains("already imported"), "{out}");
    assert!(out.contains("nothing needs an operator"), "{out}");
    let status = code(
        &run(None, &["registry", "status", p(&reg), "--json"], ""),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["families"], 12);
    assert_eq!(v["by_state"]["accepted"], 12);

    // The receipt goes back on the stick; the tablet applies it.
    let out = code(
        &run(
            None,
            &[
                "registry",
                "receipt",
                p(&reg),
                "--device",
                &id,
                "--to",
                p(&stick),
            ],
            "",
        ),
        0,
    );
    let receipt = out.lines().next().unwrap().trim().to_string();
    assert!(receipt.contains("pendata-receipt-"), "{out}");
    let out = code(
        &run(Some(&tab), &["receipt", "apply", &receipt, "--json"], ""),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(v["outcome"]["accepted"], 12, "{out}");

    figures_and_spreadsheets(tmp.path(), &reg, &tab);

    bad_input(tmp.path(), &reg);
}

/// Bad input: exit 2 with a message; a file that is not a bundle: refused, exit 1; not a registry.
fn bad_input(tmp: &Path, reg: &Path) {
    // Bad input: exit 2 with a message; a file that is not a bundle: refused, exit 1.
    let out = code(
        &run(None, &["registry", "import", p(reg), "/no/such/stick"], ""),
        2,
    );
    assert!(out.contains("/no/such/stick"), "{out}");
    let junk = tmp.join("junk.age");
    std::fs::write(&junk, b"not a bundle").unwrap();
    let out = code(&run(None, &["registry", "import", p(reg), p(&junk)], ""), 1);
    assert!(out.contains("REFUSED"), "{out}");
    let out = code(
        &run(
            None,
            &["registry", "devices", p(reg), "approve", "ffffffff"],
            "",
        ),
        2,
    );
    assert!(out.contains("no device"), "{out}");
    let out = code(
        &run(
            None,
            &["registry", "conflicts", p(reg), "keep", "7", "1"],
            "",
        ),
        2,
    );
    assert!(out.contains("no conflict 7"), "{out}");
    let out = code(
        &run(None, &["registry", "status", tmp.to_str().unwrap()], ""),
        1,
    );
    assert!(out.contains("registry init"), "{out}");
    let out = code(&run(None, &["registry", "quarantine", p(reg)], ""), 0);
    assert!(out.contains("nothing in quarantine"), "{out}");
}

/// The second half of the story: the report (text, JSON, HTML) of the 12 families, a second export of 5
/// more with the change since the previous import, and the spreadsheets.
fn figures_and_spreadsheets(tmp: &Path, reg: &Path, tab: &Path) {
    // The figures: text, JSON (12 accepted families in the province) and one HTML page.
    let out = code(&run(None, &["registry", "report", p(reg)], ""), 0);
    assert!(out.contains("12"), "{out}");
    let out = code(
        &run(
            None,
            &["registry", "report", p(reg), "--format", "json"],
            "",
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["province"]["families"], 12, "{out}");
    assert_eq!(v["province"]["states"]["accepted"], 12, "{out}");
    let html = tmp.join("laporan.html");
    code(
        &run(
            None,
            &[
                "registry",
                "report",
                p(reg),
                "--format",
                "html",
                "--to",
                p(&html),
            ],
            "",
        ),
        0,
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<svg") && !page.contains("<script"),
        "an offline page"
    );

    // A second export with 5 more families: the report shows the change since the previous import.
    code(
        &run(
            Some(tab),
            &[
                "demo",
                "--families",
                "5",
                "--seed",
                "9",
                "--petugas",
                "P001",
                "--drafts",
                "0",
            ],
            "",
        ),
        0,
    );
    let stick2 = tmp.join("stick2");
    std::fs::create_dir(&stick2).unwrap();
    code(&run(Some(tab), &["export", "--to", p(&stick2)], ""), 0);
    let out = code(
        &run(None, &["registry", "import", p(reg), p(&stick2)], ""),
        0,
    );
    assert!(out.contains("5 accepted"), "{out}");
    let out = code(
        &run(
            None,
            &["registry", "report", p(reg), "--format", "json"],
            "",
        ),
        0,
    );
    let after: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(after["province"]["families"], 17, "{out}");
    assert_eq!(after["province"]["change"]["families"], 5, "{out}");

    spreadsheets(tmp, reg, &after);
}

/// Spreadsheets of the 17 families: CSV (families and members), XLSX, one kabupaten/kota (as many families as
/// the report `after` counts there), a bad code refused.
fn spreadsheets(tmp: &Path, reg: &Path, after: &serde_json::Value) {
    // Spreadsheets: CSV (families and members) and XLSX.
    let csv = tmp.join("keluarga.csv");
    let out = code(
        &run(None, &["registry", "export", p(reg), "--to", p(&csv)], ""),
        0,
    );
    assert!(out.contains("17 families exported"), "{out}");
    let families = std::fs::read_to_string(&csv).unwrap();
    assert!(families.starts_with('\u{feff}'));
    assert_eq!(families.lines().count(), 18, "a header and 17 rows");
    assert!(
        families
            .lines()
            .next()
            .unwrap()
            .contains("wilayah_kabkota_label")
    );
    let members = std::fs::read_to_string(tmp.join("keluarga-anggota.csv")).unwrap();
    assert!(members.lines().count() > 17, "members of 17 families");
    let xlsx = tmp.join("keluarga.xlsx");
    code(
        &run(
            None,
            &[
                "registry",
                "export",
                p(reg),
                "--format",
                "xlsx",
                "--to",
                p(&xlsx),
            ],
            "",
        ),
        0,
    );
    assert_eq!(&std::fs::read(&xlsx).unwrap()[..2], b"PK");
    // One kabupaten: fewer (or as many) families; a bad code is refused.
    let first_kab = after["kabupaten"][0]["code"].as_str().unwrap().to_string();
    let one = tmp.join("satu.csv");
    let out = code(
        &run(
            None,
            &[
                "registry",
                "export",
                p(reg),
                "--to",
                p(&one),
                "--kabupaten",
                &first_kab,
            ],
            "",
        ),
        0,
    );
    let n = after["kabupaten"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["code"] == first_kab.as_str())
        .unwrap()["figures"]["families"]
        .as_u64()
        .unwrap();
    assert!(out.contains(&format!("{n} families exported")), "{out}");
    code(
        &run(
            None,
            &[
                "registry",
                "export",
                p(reg),
                "--to",
                p(&one),
                "--kabupaten",
                "64x",
            ],
            "",
        ),
        2,
    );
}

/// `pendata ARGS` run in the working folder `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pendata"))
        .env("PENDATA_PIN", "246810")
        .current_dir(cwd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// Every file name in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The README's own example — `registry report DIR --format html --to laporan.html` — and the export's
/// twin, with a bare file name from a working folder of the operator's: written there, exit 0; run again,
/// the file is left alone (exit 1, the message says how to replace it) until `--replace`.
#[test]
fn report_and_export_to_a_bare_file_name_in_the_working_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    code(&run(None, &["registry", "init", p(&reg)], ""), 0);
    let work = tmp.path().join("kantor");
    std::fs::create_dir(&work).unwrap();

    let report = ["registry", "report", p(&reg), "--to", "laporan.html"];
    let out = code(
        &run_in(&work, &[&report[..], &["--format", "html"]].concat()),
        0,
    );
    assert!(out.contains("laporan.html"), "{out}");
    let page = std::fs::read_to_string(work.join("laporan.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");

    std::fs::write(work.join("laporan.html"), "kept").unwrap();
    let again = [&report[..], &["--format", "text"]].concat();
    let out = code(&run_in(&work, &again), 1);
    assert!(
        out.contains("laporan.html") && out.contains("--replace"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("laporan.html")).unwrap(),
        "kept"
    );
    code(&run_in(&work, &[&again[..], &["--replace"]].concat()), 0);
    let text = std::fs::read_to_string(work.join("laporan.html")).unwrap();
    assert!(text.contains("Laporan Registri"), "{text}");
    assert_eq!(names_in(&work), ["laporan.html"], "no temporary file left");

    let export = ["registry", "export", p(&reg), "--to", "keluarga.csv"];
    let out = code(&run_in(&work, &export), 0);
    assert!(out.contains("0 families exported"), "{out}");
    assert_eq!(
        names_in(&work),
        ["keluarga-anggota.csv", "keluarga.csv", "laporan.html"]
    );
    // Only the members' file is there: refused all the same, and the families' file is not written.
    std::fs::remove_file(work.join("keluarga.csv")).unwrap();
    std::fs::write(work.join("keluarga-anggota.csv"), "kept").unwrap();
    let out = code(&run_in(&work, &export), 1);
    assert_eq!(names_in(&work), ["keluarga-anggota.csv", "laporan.html"]);
    assert!(
        out.contains("keluarga-anggota.csv") && out.contains("--replace"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("keluarga-anggota.csv")).unwrap(),
        "kept"
    );
    code(&run_in(&work, &[&export[..], &["--replace"]].concat()), 0);
    let members = std::fs::read_to_string(work.join("keluarga-anggota.csv")).unwrap();
    assert!(
        members.starts_with("\u{feff}record_id,no_urut"),
        "{members}"
    );
    let xlsx = [
        "registry",
        "export",
        p(&reg),
        "--format",
        "xlsx",
        "--to",
        "keluarga.xlsx",
    ];
    code(&run_in(&work, &xlsx), 0);
    assert_eq!(
        &std::fs::read(work.join("keluarga.xlsx")).unwrap()[..2],
        b"PK"
    );
    code(&run_in(&work, &xlsx), 1);
    assert_eq!(
        names_in(&work),
        [
            "keluarga-anggota.csv",
            "keluarga.csv",
            "keluarga.xlsx",
            "laporan.html"
        ]
    );
}
