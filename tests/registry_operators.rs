//! Operators, sign-in and the audit trail; device key fingerprints (tablet and registry show the same);
//! short ids that do not collide; an older registry store brought up to format 4.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::DateTime;
use common::{code, p, run};
use pendata::bundle::short;
use pendata::registry::{self, Actor, Registry, Role};
use uuid::Uuid;

/// `pendata ARGS` as the registry's operators run it: `USER` set, the passphrase (if any) in the
/// environment, `stdin` on standard input.
fn as_op(args: &[&str], passphrase: Option<&str>, stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pendata"));
    cmd.env("USER", "kantor")
        .env_remove("PENDATA_OPERATOR_PASSPHRASE");
    if let Some(pass) = passphrase {
        cmd.env("PENDATA_OPERATOR_PASSPHRASE", pass);
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

fn tablet(tab: &Path, key: &Path, stick: &Path) {
    common::demo_tablet(tab, key, "Tablet Paser 07", "4");
    code(&run(Some(tab), &["export", "--to", p(stick)], ""), 0);
}

#[test]
fn operators_sign_in_and_every_decision_is_in_the_audit_log() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    let tab = tmp.path().join("tablet");
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    code(&run(None, &["registry", "init", p(&reg), "--demo"], ""), 0);
    tablet(&tab, &reg.join("registry.pub"), &stick);
    let r = p(&reg);

    // No operators yet: the first must be a supervisor, added by the computer's account.
    let out = code(&as_op(&["registry", "operator", r, "list"], None, ""), 0);
    assert!(out.contains("no operators yet"), "{out}");
    let add = |name: &str, role: &str| {
        vec![
            "registry",
            "operator",
            r,
            "add",
            "--name",
            name,
            "--role",
            role,
            "--passphrase-stdin",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let args = add("ana", "operator");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = code(&as_op(&args, None, "rahasia-ana-1\n"), 1);
    assert!(out.contains("first operator must be a supervisor"), "{out}");
    let args = add("ana", "supervisor");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = code(&as_op(&args, None, "pendek\n"), 2);
    assert!(out.contains("at least 8"), "{out}");
    code(&as_op(&args, None, "rahasia-ana-1\n"), 0);
    // Now nobody decides without signing in; a wrong passphrase is refused.
    let out = code(&as_op(&["registry", "import", r, p(&stick)], None, ""), 1);
    assert!(out.contains("sign in with --operator"), "{out}");
    let args = add("budi", "operator");
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--operator", "ana"]);
    let out = code(&as_op(&args, Some("salah-sekali"), "kunci-budi-2\n"), 1);
    assert!(out.contains("wrong operator name or passphrase"), "{out}");
    // The supervisor's passphrase on stdin's first line, the new one on the second.
    code(&as_op(&args, None, "rahasia-ana-1\nkunci-budi-2\n"), 0);
    let budi = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--operator", "budi"]);
        as_op(&all, Some("kunci-budi-2"), "")
    };

    // Budi imports: the unknown tablet's bundle is held.
    let out = code(&budi(&["registry", "import", r, p(&stick)]), 1);
    assert!(out.contains("held"), "{out}");
    // The registry shows the tablet's key fingerprint as the tablet does, and the hint says where.
    let on_tablet = code(&run(Some(&tab), &["device", "--json"], ""), 0);
    let t: serde_json::Value = serde_json::from_str(&on_tablet).unwrap();
    let fingerprint = t["fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.split(' ').count(), 10, "{fingerprint}");
    let text = code(&run(Some(&tab), &["device"], ""), 0);
    assert!(text.contains(fingerprint), "{text}");
    let out = code(&run(None, &["registry", "devices", r, "list"], ""), 0);
    assert!(out.contains(fingerprint), "{out}");
    assert!(out.contains("Settings"), "{out}");
    let short_id = t["short_id"].as_str().unwrap();
    let out = code(
        &run(None, &["registry", "devices", r, "show", short_id], ""),
        0,
    );
    assert!(
        out.contains(fingerprint) && out.contains("Tablet Paser 07"),
        "{out}"
    );

    // Budi approves with a reason; he may not revoke (a supervisor's decision).
    let approve = [
        "registry",
        "devices",
        r,
        "approve",
        short_id,
        "--reason",
        "sidik kunci cocok, dicek per telepon",
    ];
    let out = code(&budi(&approve), 0);
    assert!(out.contains("4 accepted"), "{out}");
    let out = code(&budi(&["registry", "devices", r, "revoke", short_id]), 1);
    assert!(out.contains("only a supervisor"), "{out}");
    // Ana disables Budi; he can no longer sign in.
    let disable = [
        "registry",
        "operator",
        r,
        "disable",
        "budi",
        "--operator",
        "ana",
    ];
    code(&as_op(&disable, Some("rahasia-ana-1"), ""), 0);
    let out = code(&budi(&["registry", "import", r, p(&stick)]), 1);
    assert!(
        out.contains("wrong operator name or passphrase") || out.contains("not"),
        "{out}"
    );

    let device_id = t["id"].as_str().unwrap();
    trail(&reg, device_id);
}

/// The trail: who did what, in order, with the reason; ids only.
fn trail(reg: &Path, device_id: &str) {
    let r = p(reg);
    // The trail: who did what, in order, with the reason; ids only.
    let log = code(&run(None, &["registry", "log", r, "--json"], ""), 0);
    let v: serde_json::Value = serde_json::from_str(&log).unwrap();
    let rows: Vec<(String, String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"]["name"].as_str().unwrap().to_string(),
                e["actor"]["kind"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("kantor", "account", "operator.add"),
        ("ana", "operator", "operator.add"),
        ("budi", "operator", "import"),
        ("budi", "operator", "device.approve"),
        ("ana", "operator", "operator.disable"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(rows, want, "{log}");
    let approved = &v[3];
    assert_eq!(approved["reason"], "sidik kunci cocok, dicek per telepon");
    assert!(
        approved["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == &format!("device:{device_id}")),
        "{log}"
    );
    assert!(!log.contains("Siti") && !log.contains("rahasia"), "{log}");
    let text = code(
        &run(None, &["registry", "log", r, "--since", "2000-01-01"], ""),
        0,
    );
    assert!(
        text.contains("device.approve") && text.contains("budi"),
        "{text}"
    );
    let none = code(
        &run(None, &["registry", "log", r, "--since", "2999-01-01"], ""),
        0,
    );
    assert!(!none.contains("device.approve"), "{none}");
    // The passphrase is kept only as an argon2id hash.
    let store = std::fs::read(reg.join("registry.redb")).unwrap();
    let store = String::from_utf8_lossy(&store);
    assert!(store.contains("$argon2id$") && !store.contains("rahasia-ana-1"));
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339("2026-12-01T09:00:00+08:00").unwrap()
}

fn key(n: u8) -> String {
    let k = ed25519_dalek::SigningKey::from_bytes(&[n; 32]).verifying_key();
    k.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn tablets_set_up_in_the_same_millisecond_get_distinct_short_ids_that_work_as_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Kaltim", now()).unwrap();
    let reg = Registry::open(&dir).unwrap();
    let ms = 1_764_550_800_000;
    let a = uuid::Builder::from_unix_timestamp_millis(ms, &[1; 10]).into_uuid();
    let b = uuid::Builder::from_unix_timestamp_millis(ms, &[2; 10]).into_uuid();
    assert_eq!(a.simple().to_string()[..8], b.simple().to_string()[..8]);
    assert_ne!(short(a), short(b));
    reg.enrol(a, "A", &key(1), now()).unwrap();
    reg.enrol(b, "B", &key(2), now()).unwrap();
    assert_eq!(reg.find_device(&short(a)).unwrap().id, a);
    assert_eq!(reg.find_device(&short(b)).unwrap().id, b);
    // The shared first digits are ambiguous: the message lists both, as the listing shows them.
    let err = reg
        .find_device(&a.simple().to_string()[..8])
        .unwrap_err()
        .to_string();
    assert!(err.contains(&short(a)) && err.contains(&short(b)), "{err}");
    // A decision by the short id reaches the right tablet.
    let d = reg.revoke(&short(b), now()).unwrap();
    assert_eq!(d.id, b);
    assert_eq!(
        reg.find_device(&short(a)).unwrap().state,
        registry::DeviceState::Approved
    );
}

#[test]
fn a_format_3_registry_opens_upgraded_and_takes_operators() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Kaltim", now()).unwrap();
    let d = Uuid::now_v7();
    {
        let reg = Registry::open(&dir).unwrap();
        reg.enrol(d, "Tablet lama", &key(3), now()).unwrap();
        reg.db.downgrade_to_3().unwrap();
        assert_eq!(reg.db.format_version().unwrap(), 3);
    }
    let mut reg = Registry::open(&dir).unwrap();
    assert_eq!(reg.db.format_version().unwrap(), 6);
    assert_eq!(reg.devices().unwrap().len(), 1);
    assert!(reg.operators().unwrap().is_empty());
    assert!(reg.audit_log(None).unwrap().is_empty());
    reg.session.actor = Some(Actor::Account {
        name: "kantor".into(),
    });
    reg.add_operator("ana", Role::Supervisor, "rahasia-ana-1", now())
        .unwrap();
    // From now on the account alone is refused; the signed-in supervisor decides.
    assert!(matches!(
        reg.revoke(&short(d), now()),
        Err(registry::RegistryError::Operator(_))
    ));
    reg.session.actor = Some(reg.sign_in("ana", "rahasia-ana-1").unwrap());
    reg.session.reason = Some("tablet hilang".into());
    reg.revoke(&short(d), now()).unwrap();
    let log = reg.audit_log(None).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["operator.add", "device.revoke"]);
    assert_eq!(log[1].reason.as_deref(), Some("tablet hilang"));
    assert_eq!(log[1].actor.name(), "ana");
}

fn demo_tablet(tab: &Path, key: &Path, stick: &Path, name: &str) {
    let init = [
        "init",
        "--demo",
        "--device-name",
        name,
        "--registry-key",
        p(key),
    ];
    code(&run(Some(tab), &init, ""), 0);
    // The same seed on both tablets: the same families (names, NIKs, KK numbers) under other ids.
    let demo = ["demo", "--families", "6", "--seed", "7", "--drafts", "0"];
    code(&run(Some(tab), &demo, ""), 0);
    code(&run(Some(tab), &["export", "--to", p(stick)], ""), 0);
}

/// `registry conflicts DIR list --json EXTRA…`.
fn conflicts(r: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["registry", "conflicts", r, "list", "--json"];
    args.extend(extra);
    let out = code(&run(None, &args, ""), 0);
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Two demo tablets with the same families, imported and approved: conflicts of every shared number.
fn registry_with_conflicts(tmp: &Path) -> std::path::PathBuf {
    let reg = tmp.join("registry");
    let stick = tmp.join("stick");
    std::fs::create_dir(&stick).unwrap();
    code(&run(None, &["registry", "init", p(&reg), "--demo"], ""), 0);
    let key = reg.join("registry.pub");
    demo_tablet(&tmp.join("t1"), &key, &stick, "Tablet A");
    demo_tablet(&tmp.join("t2"), &key, &stick, "Tablet B");
    let r = p(&reg);
    code(&as_op(&["registry", "import", r, p(&stick)], None, ""), 1);
    let list = code(
        &run(None, &["registry", "devices", r, "list", "--json"], ""),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    for d in v.as_array().unwrap() {
        let id = d["short_id"].as_str().unwrap();
        as_op(&["registry", "devices", r, "approve", id], None, "");
        let show = code(
            &run(None, &["registry", "devices", r, "show", id, "--json"], ""),
            0,
        );
        let show: serde_json::Value = serde_json::from_str(&show).unwrap();
        assert_eq!(show["state"], "approved", "{show}");
        assert!(show["first_bundle"].is_string() && show["last_bundle"].is_string());
    }
    reg
}

#[test]
fn conflicts_show_names_and_desa_filter_and_decide_in_bulk_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = registry_with_conflicts(tmp.path());
    let r = p(&reg);
    let all = conflicts(r, &[]);
    assert!(!all.is_empty());
    // Each family with its name and desa, read from its revision.
    let first = &all[0]["families"][0];
    assert!(
        first["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{first}"
    );
    let desa = first["desa"].as_str().unwrap().to_string();
    assert!(first["desa_name"].as_str().is_some() && first["kabupaten_name"].as_str().is_some());
    let text = code(&run(None, &["registry", "conflicts", r, "list"], ""), 0);
    assert!(text.contains(first["name"].as_str().unwrap()), "{text}");
    assert!(text.contains(&format!("desa {desa}")), "{text}");
    // Filters: by kind, by desa.
    let kk = conflicts(r, &["--kind", "shared-kk"]);
    assert!(!kk.is_empty() && kk.len() < all.len());
    assert!(kk.iter().all(|c| c["kind"] == "shared_kk"));
    let in_desa = conflicts(r, &["--desa", &desa]);
    assert!(!in_desa.is_empty());
    assert!(in_desa.iter().all(|c| {
        c["families"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["desa"] == desa.as_str())
    }));
    // A bulk decision needs a reason; with one, each conflict of the set is decided and logged.
    let bulk = [
        "registry",
        "conflicts",
        r,
        "decide",
        "--all",
        "--kind",
        "shared-kk",
        "--distinct",
    ];
    let out = code(&as_op(&bulk, None, ""), 2);
    assert!(out.contains("needs a reason"), "{out}");
    let mut with = bulk.to_vec();
    with.extend(["--reason", "keluarga pecahan, Musdes 2026-11-30"]);
    let out = code(&as_op(&with, None, ""), 0);
    assert!(
        out.contains(&format!("{} conflict(s) decided", kk.len())),
        "{out}"
    );
    assert!(conflicts(r, &["--kind", "shared-kk"]).is_empty());
    assert_eq!(conflicts(r, &[]).len(), all.len() - kk.len());
    let log = code(&run(None, &["registry", "log", r, "--json"], ""), 0);
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let decided: Vec<&serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "conflict.distinct")
        .collect();
    assert_eq!(decided.len(), kk.len());
    assert!(
        decided
            .iter()
            .all(|e| e["reason"] == "keluarga pecahan, Musdes 2026-11-30"
                && e["actor"]["name"] == "kantor")
    );
    // The shared KK number is not in the log: ids only.
    let key = kk[0]["key"].as_str().unwrap();
    assert!(!log.to_string().contains(key));
}

#[test]
fn a_revoked_tablets_held_bundles_are_discarded_and_refusals_are_not_all_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    let init = [
        "registry",
        "init",
        p(&reg),
        "--demo",
        "--name",
        "Dinsos Kaltim Uji",
    ];
    code(&run(None, &init, ""), 0);
    tablet(&tmp.path().join("tab"), &reg.join("registry.pub"), &stick);
    let r = p(&reg);
    code(&as_op(&["registry", "import", r, p(&stick)], None, ""), 1);
    let held = || std::fs::read_dir(reg.join("pending")).map_or(0, |d| d.count());
    assert_eq!(held(), 1);
    let list = code(
        &run(None, &["registry", "devices", r, "list", "--json"], ""),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = v[0]["short_id"].as_str().unwrap().to_string();
    let revoke = [
        "registry",
        "devices",
        r,
        "revoke",
        &id,
        "--reason",
        "tablet hilang",
    ];
    let out = code(&as_op(&revoke, None, ""), 0);
    assert!(out.contains("1 held bundle(s) discarded"), "{out}");
    assert_eq!(held(), 0);
    let status = code(&run(None, &["registry", "status", r, "--json"], ""), 0);
    let s: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(s["pending_bundles"], 0, "{status}");
    let log = code(&run(None, &["registry", "log", r, "--json"], ""), 0);
    let actions: Vec<String> = serde_json::from_str::<serde_json::Value>(&log)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        ["import", "device.revoke", "device.discard"],
        "{log}"
    );

    // The revoked tablet's bundle is refused now: the summary says so, not "nothing needs an operator".
    let out = code(&as_op(&["registry", "import", r, p(&stick)], None, ""), 1);
    assert!(
        out.contains("REFUSED") && out.contains("1 file(s) refused"),
        "{out}"
    );
    assert!(!out.contains("nothing needs an operator"), "{out}");

    // The report says whose it is, when it was made and how new its data are.
    let report = code(&run(None, &["registry", "report", r], ""), 0);
    assert!(report.contains("Dinsos Kaltim Uji"), "{report}");
    assert!(
        report.contains("dibuat / made") && report.contains("data cut-off"),
        "{report}"
    );
    let html = tmp.path().join("laporan.html");
    code(
        &run(
            None,
            &[
                "registry",
                "report",
                r,
                "--format",
                "html",
                "--to",
                p(&html),
            ],
            "",
        ),
        0,
    );
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("Dinsos Kaltim Uji") && html.contains("data cut-off"));
}
