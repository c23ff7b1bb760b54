//! Registry levels: `registry init --level kabupaten --wilayah 64.72` makes a kabupaten/kota registry
//! (its level and region in `registry.pub`), which quarantines, with the reason, the families of other
//! regions and merges its own; bad levels and regions are refused before anything is made; a registry
//! made before levels is a province taking any region.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{code, p, run};

fn tablet_with_families(tab: &std::path::Path, key: &std::path::Path, families: &str) {
    common::demo_tablet(tab, key, "Tablet Samarinda", families);
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as an operator goes through it"
)]
#[test]
fn a_kabupaten_registry_quarantines_families_of_other_regions() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("samarinda");

    // Refused before anything is made: no region, a region that is not a kabupaten/kota, a level
    // that does not exist.
    let out = code(
        &run(
            None,
            &["registry", "init", p(&reg), "--level", "kabupaten"],
            "",
        ),
        2,
    );
    assert!(out.contains("--wilayah"), "{out}");
    for bad in ["64.99", "64", "64.72.01"] {
        let out = code(
            &run(
                None,
                &[
                    "registry",
                    "init",
                    p(&reg),
                    "--level",
                    "kabupaten",
                    "--wilayah",
                    bad,
                ],
                "",
            ),
            2,
        );
        assert!(
            out.contains("64.72 Kota Samarinda"),
            "the codes it knows: {out}"
        );
    }
    code(
        &run(None, &["registry", "init", p(&reg), "--level", "kota"], ""),
        2,
    );
    assert!(!reg.join("registry.pub").exists() && !reg.join("keys").exists());

    let out = code(
        &run(
            None,
            &[
                "registry",
                "init",
                p(&reg),
                "--demo",
                "--level",
                "kabupaten",
                "--wilayah",
                "64.72",
            ],
            "",
        ),
        0,
    );
    assert!(out.contains("wilayah 64.72"), "{out}");
    let public: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reg.join("registry.pub")).unwrap()).unwrap();
    assert_eq!(public["level"], "kabupaten");
    assert_eq!(public["wilayah"], "64.72");
    assert_eq!(public["name"], "Dinas Sosial Kota Samarinda");

    // A tablet whose families are spread over the province.
    let tab = tmp.path().join("tablet");
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    tablet_with_families(&tab, &reg.join("registry.pub"), "40");
    code(&run(Some(&tab), &["export", "--to", p(&stick)], ""), 0);
    code(
        &run(None, &["registry", "import", p(&reg), p(&stick)], ""),
        1,
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
    code(
        &run(None, &["registry", "devices", p(&reg), "approve", &id], ""),
        1,
    );

    let status = code(
        &run(None, &["registry", "status", p(&reg), "--json"], ""),
        1,
    );
    let s: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(s["level"], "kabupaten");
    assert_eq!(s["wilayah"], "64.72");
    let accepted = s["by_state"]["accepted"].as_u64().unwrap_or(0);
    let held = s["open_quarantine"].as_u64().unwrap();
    assert_eq!(s["families"], 40);
    assert!(held > 0, "the demo spreads families over the province: {s}");

    // Every held family is held for its region, and names it.
    let out = code(
        &run(None, &["registry", "quarantine", p(&reg), "list"], ""),
        0,
    );
    assert_eq!(out.matches("outside_wilayah").count() as u64, held, "{out}");
    assert!(out.contains("its kabupaten/kota is 64.0"), "{out}");

    // What was merged is Samarinda's alone.
    let csv = tmp.path().join("keluarga.csv");
    code(
        &run(None, &["registry", "export", p(&reg), "--to", p(&csv)], ""),
        0,
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let column = header
        .iter()
        .position(|h| h.trim_start_matches('\u{feff}') == "wilayah_kabkota")
        .expect("a wilayah_kabkota column");
    let state = header.iter().position(|h| *h == "state").unwrap();
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    assert_eq!(rows.len(), 40);
    let merged: Vec<&str> = rows
        .iter()
        .filter(|r| r[state] == "accepted")
        .map(|r| r[column])
        .collect();
    assert_eq!(merged.len() as u64, accepted);
    assert!(merged.iter().all(|k| *k == "64.72"), "{merged:?}");
    assert!(
        rows.iter()
            .filter(|r| r[state] == "quarantined")
            .all(|r| r[column] != "64.72"),
        "only other regions are held"
    );
}

#[test]
fn a_registry_without_a_level_is_a_province_of_any_region() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("kaltim");
    code(&run(None, &["registry", "init", p(&reg)], ""), 0);
    let public: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reg.join("registry.pub")).unwrap()).unwrap();
    assert!(public.get("level").is_none() && public.get("wilayah").is_none());
    let out = code(&run(None, &["registry", "status", p(&reg)], ""), 0);
    assert!(out.contains("provinsi (any region)"), "{out}");
    let prov = tmp.path().join("prov");
    code(
        &run(
            None,
            &[
                "registry",
                "init",
                p(&prov),
                "--level",
                "provinsi",
                "--wilayah",
                "64",
            ],
            "",
        ),
        0,
    );
    let out = code(&run(None, &["registry", "status", p(&prov)], ""), 0);
    assert!(out.contains("provinsi 64"), "{out}");
    code(
        &run(
            None,
            &[
                "registry",
                "init",
                p(&tmp.path().join("x")),
                "--level",
                "provinsi",
                "--wilayah",
                "65",
            ],
            "",
        ),
        2,
    );
}

/// `demo --wilayah 64.72` makes families of that kabupaten/kota only, so a kabupaten registry's demo
/// merges all of them; a region without a desa of the form's list is refused (exit 2) and adds nothing.
#[test]
fn a_demo_of_one_kabupaten_stays_inside_its_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let (reg, tab) = (tmp.path().join("reg"), tmp.path().join("tab"));
    common::demo_registry(&reg, "kabupaten", "64.72");
    // No families yet: the tablet, its petugas, then the demo of one region.
    tablet_with_families(&tab, &reg.join("registry.pub"), "0");
    for bad in ["99", "64.99", "samarinda"] {
        let out = code(
            &run(
                Some(&tab),
                &[
                    "demo",
                    "--families",
                    "5",
                    "--petugas",
                    "P001",
                    "--wilayah",
                    bad,
                ],
                "",
            ),
            2,
        );
        assert!(out.contains("Tidak ada desa") && out.contains(bad), "{out}");
    }
    let list = code(&run(Some(&tab), &["record", "list", "--json"], ""), 0);
    assert!(list.trim_start().starts_with("[]"), "nothing added: {list}");
    let demo = [
        "demo",
        "--families",
        "30",
        "--petugas",
        "P001",
        "--drafts",
        "0",
        "--wilayah",
        "64.72",
    ];
    code(&run(Some(&tab), &demo, ""), 0);
    common::sync_to(&tab, &reg, &tmp.path().join("stick"));
    let status = code(
        &run(None, &["registry", "status", p(&reg), "--json"], ""),
        0,
    );
    let s: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(s["families"], 30, "{s}");
    assert_eq!(s["open_quarantine"], 0, "{s}");
    assert_eq!(s["by_state"]["accepted"], 30, "{s}");
}
