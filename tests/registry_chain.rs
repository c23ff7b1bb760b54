//! The chain kabupaten/kota → provinsi: pengesahan at a kabupaten registry (`registry endorse`), recorded
//! with who decided; refused at a province; only accepted families are endorsed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::{code, p, run};

/// A demo tablet with `families` finalized families, set up with `key` as its registry key.
fn tablet_with_families(tab: &Path, key: &Path, name: &str, families: &str) {
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
    code(&run(Some(tab), &add, &format!("{}\n", common::PIN)), 0);
    let demo = [
        "demo",
        "--families",
        families,
        "--petugas",
        "P001",
        "--drafts",
        "0",
    ];
    code(&run(Some(tab), &demo, ""), 0);
}

/// A demo registry at `level` over `wilayah`.
fn registry(dir: &Path, level: &str, wilayah: &str) {
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
fn sync(tab: &Path, reg: &Path, stick: &Path) {
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

/// The registry's families as its CSV export lists them: (record id, desa, state).
fn families(reg: &Path, tmp: &Path) -> Vec<(String, String, String)> {
    let csv = tmp.join("keluarga.csv");
    let _ = std::fs::remove_file(&csv);
    code(
        &run(None, &["registry", "export", p(reg), "--to", p(&csv)], ""),
        0,
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows
        .next()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .split(',')
        .collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (id, desa, state) = (col("record_id"), col("wilayah_desa"), col("state"));
    rows.map(|r| {
        let r: Vec<&str> = r.split(',').collect();
        (r[id].to_string(), r[desa].to_string(), r[state].to_string())
    })
    .collect()
}

fn endorse(reg: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["registry", "endorse", p(reg)];
    all.extend_from_slice(args);
    run(None, &all, "")
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as an operator goes through it"
)]
#[test]
fn a_kabupaten_endorses_its_accepted_families_with_the_minutes_and_holds_others_back() {
    let tmp = tempfile::tempdir().unwrap();
    let kab = tmp.path().join("samarinda");
    registry(&kab, "kabupaten", "64.72");
    let tab = tmp.path().join("tablet");
    tablet_with_families(&tab, &kab.join("registry.pub"), "Tablet 01", "40");
    sync(&tab, &kab, &tmp.path().join("stick"));
    let fams = families(&kab, tmp.path());
    let accepted: Vec<&(String, String, String)> =
        fams.iter().filter(|f| f.2 == "accepted").collect();
    let held: Vec<&(String, String, String)> = fams.iter().filter(|f| f.2 != "accepted").collect();
    assert!(!accepted.is_empty() && !held.is_empty(), "{fams:?}");

    // Bad input: no selection, no minutes, a bad date; a family outside the quarantine cannot be endorsed.
    code(
        &endorse(&kab, &["--minutes", "BA/1", "--date", "2026-11-30"]),
        2,
    );
    code(&endorse(&kab, &["--all", "--date", "2026-11-30"]), 2);
    code(
        &endorse(
            &kab,
            &["--all", "--minutes", "BA/1", "--date", "30-11-2026"],
        ),
        2,
    );
    code(&endorse(&kab, &["--all", "--hold"]), 2);
    let out = code(
        &endorse(
            &kab,
            &[
                "--family",
                &held[0].0,
                "--minutes",
                "BA/1",
                "--date",
                "2026-11-30",
            ],
        ),
        1,
    );
    assert!(out.contains("not accepted"), "{out}");

    // One desa, then everything: only accepted families, each once.
    let desa = accepted[0].1.clone();
    let in_desa = accepted.iter().filter(|f| f.1 == desa).count();
    let out = code(
        &endorse(
            &kab,
            &[
                "--desa",
                &desa,
                "--minutes",
                "BA/64.72/017",
                "--date",
                "2026-11-30",
                "--json",
            ],
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(v["decided"].as_array().unwrap().len(), in_desa, "{out}");
    let out = code(
        &endorse(
            &kab,
            &[
                "--all",
                "--minutes",
                "BA/64.72/017",
                "--date",
                "2026-11-30",
                "--json",
            ],
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(
        v["decided"].as_array().unwrap().len(),
        accepted.len() - in_desa,
        "{out}"
    );
    assert_eq!(v["unchanged"], in_desa as u64);
    assert_eq!(v["not_accepted"].as_array().unwrap().len(), held.len());

    // Held back with a reason: that family's decision changes.
    let out = code(
        &run(
            None,
            &[
                "registry",
                "endorse",
                p(&kab),
                "--family",
                &accepted[0].0,
                "--hold",
                "--reason",
                "alamat belum diverifikasi",
            ],
            "",
        ),
        0,
    );
    assert!(out.contains("1 families held back"), "{out}");

    // Recorded with who decided: the audit trail names the account, the families and the minutes.
    let log = code(&run(None, &["registry", "log", p(&kab), "--json"], ""), 0);
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let lines = log.as_array().unwrap();
    let endorse_lines: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["action"] == "family.endorse")
        .collect();
    // One line per run that decided something (the second decides the desa's others, if any).
    let runs = 1 + usize::from(accepted.len() > in_desa);
    assert_eq!(endorse_lines.len(), runs, "{log}");
    assert!(
        endorse_lines
            .iter()
            .all(|l| l["actor"]["name"].as_str().is_some_and(|n| !n.is_empty()))
    );
    assert!(
        endorse_lines[0]["detail"]
            .as_str()
            .unwrap()
            .contains("BA/64.72/017")
    );
    let hold = lines.iter().find(|l| l["action"] == "family.hold").unwrap();
    assert_eq!(hold["objects"][0], format!("family:{}", accepted[0].0));
    assert_eq!(hold["reason"], "alamat belum diverifikasi");

    // A province does not make pengesahan.
    let prov = tmp.path().join("kaltim");
    registry(&prov, "provinsi", "64");
    let out = code(
        &endorse(
            &prov,
            &["--all", "--minutes", "BA/1", "--date", "2026-11-30"],
        ),
        2,
    );
    assert!(out.contains("kabupaten/kota registry"), "{out}");
}
