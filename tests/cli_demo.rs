//! Demo data stays demo: `pendata demo` runs only on a store made with `init --demo`, two demo tablets
//! make different families unless given the same seed, their bundles are marked demo (in the signed
//! manifest) and a real registry refuses them, as a demo registry refuses a real tablet's bundles.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{code, p, run};

fn tablet(dir: &Path, demo: bool, key: &Path) {
    let mut args = vec!["init", "--device-name", "T", "--registry-key", p(key)];
    if demo {
        args.push("--demo");
    }
    code(&run(Some(dir), &args, ""), 0);
}

fn kk_numbers(dir: &Path) -> BTreeSet<String> {
    let out = code(&run(Some(dir), &["record", "list", "--json"], ""), 0);
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind(']').unwrap() + 1]).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| h["summary"]["no_kk"].as_str().unwrap().to_string())
        .collect()
}

fn export(dir: &Path, stick: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(stick).unwrap();
    code(&run(Some(dir), &["export", "--to", p(stick)], ""), 0);
    std::fs::read_dir(stick)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// A copy of a `registry.pub` with its demo mark set to `demo`.
fn with_demo_mark(from: &Path, demo: bool, to: &Path) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(from).unwrap()).unwrap();
    v["demo"] = serde_json::Value::Bool(demo);
    std::fs::write(to, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as a person goes through it"
)]
#[test]
fn demo_data_is_made_only_on_demo_tablets_and_reaches_only_demo_registries() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |n: &str| tmp.path().join(n);
    let (real_reg, demo_reg) = (t("registry"), t("registry-demo"));
    code(&run(None, &["registry", "init", p(&real_reg)], ""), 0);
    let out = code(
        &run(None, &["registry", "init", p(&demo_reg), "--demo"], ""),
        0,
    );
    assert!(out.contains("DEMO"), "{out}");

    // A real tablet: `demo` is refused and adds nothing, not even its petugas.
    let real = t("real");
    tablet(&real, false, &real_reg.join("registry.pub"));
    let out = code(&run(Some(&real), &["demo", "--families", "5"], ""), 1);
    assert!(out.contains("init --demo"), "{out}");
    assert!(kk_numbers(&real).is_empty());
    assert!(!code(&run(Some(&real), &["petugas", "list"], ""), 0).contains("DEMO"));

    // A real tablet set up with a demo registry's key is refused before anything is created.
    let wrong = t("wrong");
    let out = code(
        &run(
            Some(&wrong),
            &[
                "init",
                "--device-name",
                "T",
                "--registry-key",
                p(&demo_reg.join("registry.pub")),
            ],
            "",
        ),
        1,
    );
    assert!(out.contains("demo registry's key"), "{out}");
    assert!(!wrong.join("pendata.redb").exists(), "no store was made");

    // Two demo tablets, no seed: different families. The same seed: the same ones.
    let key = demo_reg.join("registry.pub");
    let (a, b) = (t("demo-a"), t("demo-b"));
    tablet(&a, true, &key);
    tablet(&b, true, &key);
    let fill = |dir: &Path, extra: &[&str]| {
        let args = [&["demo", "--families", "20", "--drafts", "0"][..], extra].concat();
        code(&run(Some(dir), &args, ""), 0);
    };
    fill(&a, &[]);
    fill(&b, &[]);
    let (ka, kb) = (kk_numbers(&a), kk_numbers(&b));
    assert_eq!(ka.len(), 20);
    assert!(ka.is_disjoint(&kb), "two tablets, two sets of families");
    // A second run on the same tablet makes new families too.
    fill(&a, &[]);
    assert_eq!(kk_numbers(&a).len(), 40);
    let (c, d) = (t("demo-c"), t("demo-d"));
    tablet(&c, true, &key);
    tablet(&d, true, &key);
    fill(&c, &["--seed", "5"]);
    fill(&d, &["--seed", "5"]);
    assert_eq!(kk_numbers(&c), kk_numbers(&d), "a seed repeats");

    // The demo tablet's bundle says so in its signed manifest.
    let demo_bundle = export(&a, &t("stick-a"));
    let identity = demo_reg.join("keys/registry-age.key");
    let out = code(
        &run(
            None,
            &[
                "bundle",
                "inspect",
                p(&demo_bundle),
                "--identity",
                p(&identity),
                "--json",
            ],
            "",
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["manifest"]["device"]["demo"], true);

    // A demo registry takes it (the new tablet waits for approval: held, not refused).
    let out = code(
        &run(
            None,
            &["registry", "import", p(&demo_reg), p(&demo_bundle)],
            "",
        ),
        1,
    );
    assert!(out.contains("1 held") && out.contains("0 refused"), "{out}");

    // A demo tablet refuses a real registry's key at once, saying why.
    let out = code(
        &run(
            Some(&b),
            &["registry-key", "set", p(&real_reg.join("registry.pub"))],
            "",
        ),
        1,
    );
    assert!(
        out.contains("demo tablet") && out.contains("tablet demo"),
        "{out}"
    );
    // A real registry still refuses a demo bundle, with the reason, should one reach it (a key file
    // whose demo mark was edited away: the mark in the signed manifest decides).
    let real_as_demo = t("real-as-demo.pub");
    with_demo_mark(&real_reg.join("registry.pub"), true, &real_as_demo);
    code(
        &run(
            Some(&b),
            &["registry-key", "set", p(&real_as_demo), "--replace"],
            "",
        ),
        0,
    );
    let to_real = export(&b, &t("stick-b"));
    let out = code(
        &run(None, &["registry", "import", p(&real_reg), p(&to_real)], ""),
        1,
    );
    assert!(
        out.contains("1 refused") && out.contains("demo bundle"),
        "{out}"
    );
    let status = code(&run(None, &["registry", "status", p(&real_reg)], ""), 0);
    assert!(!status.contains("pending"), "nothing held: {status}");

    // A real tablet's family is refused by the demo registry.
    code(
        &run(
            Some(&real),
            &[
                "petugas",
                "add",
                "--code",
                "P001",
                "--name",
                "Dewi",
                "--pin-stdin",
            ],
            "246810\n",
        ),
        0,
    );
    let id = code(
        &run(
            Some(&real),
            &[
                "record",
                "new",
                "--form",
                "keluarga",
                "--petugas",
                "P001",
                "--answers",
                "docs/examples/keluarga-lengkap.json",
            ],
            "",
        ),
        0,
    );
    let id = id.lines().next().unwrap().trim().to_string();
    code(
        &run(
            Some(&real),
            &["record", "finalize", &id, "--petugas", "P001"],
            "",
        ),
        0,
    );
    let out = code(
        &run(
            Some(&real),
            &["registry-key", "set", p(&demo_reg.join("registry.pub"))],
            "",
        ),
        1,
    );
    assert!(out.contains("demo registry's key"), "{out}");
    let demo_as_real = t("demo-as-real.pub");
    with_demo_mark(&demo_reg.join("registry.pub"), false, &demo_as_real);
    code(
        &run(
            Some(&real),
            &["registry-key", "set", p(&demo_as_real), "--replace"],
            "",
        ),
        0,
    );
    let real_bundle = export(&real, &t("stick-real"));
    let out = code(
        &run(
            None,
            &["registry", "import", p(&demo_reg), p(&real_bundle)],
            "",
        ),
        1,
    );
    assert!(
        out.contains("1 refused") && out.contains("demo registry"),
        "{out}"
    );
}
