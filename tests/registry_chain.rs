//! The chain kabupaten/kota → provinsi: pengesahan at a kabupaten registry (`registry endorse`), recorded
//! with who decided; refused at a province; only accepted families are endorsed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::{code, p, run};

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
    common::demo_registry(&kab, "kabupaten", "64.02");
    let tab = tmp.path().join("tablet");
    common::demo_tablet(&tab, &kab.join("registry.pub"), "Tablet 01", "40");
    common::sync_to(&tab, &kab, &tmp.path().join("stick"));
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
    common::demo_registry(&prov, "provinsi", "64");
    let out = code(
        &endorse(
            &prov,
            &["--all", "--minutes", "BA/1", "--date", "2026-11-30"],
        ),
        2,
    );
    assert!(out.contains("kabupaten/kota registry"), "{out}");
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as an operator goes through it"
)]
#[test]
fn a_kabupaten_forwards_what_it_endorsed_as_the_tablets_signed_it_and_only_the_province_opens_it() {
    use pendata::bundle::upward::Upward;
    let tmp = tempfile::tempdir().unwrap();
    let kab = tmp.path().join("samarinda");
    let prov = tmp.path().join("kaltim");
    let other = tmp.path().join("balikpapan");
    common::demo_registry(&kab, "kabupaten", "64.02");
    common::demo_registry(&prov, "provinsi", "64");
    common::demo_registry(&other, "kabupaten", "64.71");
    for (n, t) in ["tab1", "tab2"].iter().enumerate() {
        let tab = tmp.path().join(t);
        common::demo_tablet(&tab, &kab.join("registry.pub"), t, "30");
        common::sync_to(&tab, &kab, &tmp.path().join(format!("stick{n}")));
    }
    let endorsed = code(
        &endorse(
            &kab,
            &[
                "--all",
                "--minutes",
                "BA/64.72/2026/11",
                "--date",
                "2026-11-30",
                "--json",
            ],
        ),
        0,
    );
    let v: serde_json::Value =
        serde_json::from_str(&endorsed[..endorsed.rfind('}').unwrap() + 1]).unwrap();
    let endorsed: Vec<String> = v["decided"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert!(!endorsed.is_empty());

    // No province yet; a kabupaten's key is not a province's.
    let up = tmp.path().join("up");
    std::fs::create_dir(&up).unwrap();
    let forward = |args: &[&str]| {
        let mut all = vec!["registry", "forward", p(&kab), "--to", p(&up)];
        all.extend_from_slice(args);
        run(None, &all, "")
    };
    let out = code(&forward(&[]), 2);
    assert!(out.contains("upstream set"), "{out}");
    let set = |file: &Path| run(None, &["registry", "upstream", "set", p(&kab), p(file)], "");
    code(&set(&other.join("registry.pub")), 2);
    let out = code(&set(&prov.join("registry.pub")), 0);
    assert!(out.contains("fingerprint"), "{out}");

    // The upward bundle: one file, private, only for the province.
    code(&forward(&[]), 0);
    let files = files_in(&up);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("pendata-usulan-6402-000001-"), "{name}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let bytes = std::fs::read(&files[0]).unwrap();
    let prov_keys = pendata::registry::load(&prov).unwrap();
    let kab_keys = pendata::registry::load(&kab).unwrap();
    let (u, _) = Upward::open(&bytes, std::slice::from_ref(&prov_keys.identity)).unwrap();
    assert_eq!(u.registry.signing_key, kab_keys.public.signing_key);
    assert_eq!(u.registry.wilayah.as_deref(), Some("64.02"));
    let mut got: Vec<String> = u.families.iter().map(|f| f.record.to_string()).collect();
    let mut want = endorsed.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(u.families.iter().all(|f| f.minutes == "BA/64.72/2026/11"));
    // Every revision verifies back to its tablet's signature; the tablets' keys travel with them.
    let verified = u.verified().unwrap();
    assert_eq!(verified.len(), endorsed.len());
    let devices: std::collections::BTreeSet<_> =
        verified.iter().map(|r| r.revision.device).collect();
    assert_eq!(u.devices.len(), devices.len());
    assert!(verified.iter().all(|r| r.revision.record == r.record));

    // Wrong recipient: the kabupaten itself cannot open it.
    let e = Upward::open(&bytes, std::slice::from_ref(&kab_keys.identity)).unwrap_err();
    assert!(
        e.to_string().contains("not encrypted to this registry"),
        "{e}"
    );
    // Tampered and truncated files.
    let mut bad = bytes.clone();
    let at = bad.len() - 40;
    bad[at] ^= 1;
    assert!(Upward::open(&bad, std::slice::from_ref(&prov_keys.identity)).is_err());
    let cut = &bytes[..bytes.len() - 100];
    assert!(Upward::open(cut, std::slice::from_ref(&prov_keys.identity)).is_err());
    // Signed by someone else than the kabupaten it names: refused.
    let forged = u
        .seal(
            &pendata::registry::load(&other).unwrap().signing,
            &[prov_keys.identity.to_public()],
        )
        .unwrap();
    let e = Upward::open(&forged, std::slice::from_ref(&prov_keys.identity)).unwrap_err();
    assert!(e.to_string().contains("not signed by the kabupaten"), "{e}");
    // A revision changed and the bundle re-signed by the kabupaten itself: the tablet's signature
    // still catches it.
    let mut changed = u.clone();
    let line = &mut changed.families[0].revisions[0].line;
    *line = line.replacen("\"P001\"", "\"P002\"", 1);
    let resealed = changed
        .seal(&kab_keys.signing, &[prov_keys.identity.to_public()])
        .unwrap();
    let (opened, _) = Upward::open(&resealed, std::slice::from_ref(&prov_keys.identity)).unwrap();
    let e = opened.verified().unwrap_err();
    assert!(e.to_string().contains("fails its device signature"), "{e}");

    // Nothing new to forward; a range again writes a second file of the same families.
    let out = code(&forward(&[]), 2);
    assert!(out.contains("no new endorsements"), "{out}");
    let n = endorsed.len().to_string();
    code(&forward(&["--range", &format!("1..{n}")]), 0);
    let files = files_in(&up);
    assert_eq!(files.len(), 2);
    // An endorsement later forwards on its own.
    let hold_then = &endorsed[0];
    code(
        &run(
            None,
            &[
                "registry",
                "endorse",
                p(&kab),
                "--family",
                hold_then,
                "--hold",
                "--reason",
                "cek",
            ],
            "",
        ),
        0,
    );
    code(
        &endorse(
            &kab,
            &[
                "--family",
                hold_then,
                "--minutes",
                "BA/2",
                "--date",
                "2026-12-01",
            ],
        ),
        0,
    );
    code(&forward(&[]), 0);
    let newest = files_in(&up)
        .into_iter()
        .find(|f| !files.contains(f))
        .unwrap();
    let (u2, _) = Upward::open(
        &std::fs::read(newest).unwrap(),
        std::slice::from_ref(&prov_keys.identity),
    )
    .unwrap();
    assert_eq!(u2.families.len(), 1);
    assert_eq!(u2.families[0].record.to_string(), *hold_then);
    assert_eq!(u2.families[0].minutes, "BA/2");
    assert_eq!(u2.sequence.from, endorsed.len() as u64 + 1);
}

/// A kabupaten registry with two tablets whose accepted families are all endorsed, set to forward to
/// `prov`; returns the families endorsed.
fn kabupaten_with_tablets(tmp: &Path, kab: &Path, wilayah: &str, prov: &Path) -> Vec<String> {
    common::demo_registry(kab, "kabupaten", wilayah);
    for t in ["tab1", "tab2"] {
        let tab = tmp.join(format!("{wilayah}-{t}"));
        // Families of the kabupaten's own region: every tablet has some to forward.
        common::demo_tablet_in(&tab, &kab.join("registry.pub"), t, "8", Some(wilayah));
        common::sync_to(&tab, kab, &tmp.join(format!("stick-{wilayah}-{t}")));
    }
    let out = code(
        &endorse(
            kab,
            &[
                "--all",
                "--minutes",
                "BA/1",
                "--date",
                "2026-11-30",
                "--json",
            ],
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    code(
        &run(
            None,
            &[
                "registry",
                "upstream",
                "set",
                p(kab),
                p(&prov.join("registry.pub")),
            ],
            "",
        ),
        0,
    );
    v["decided"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn forward_to(kab: &Path, folder: &Path, args: &[&str]) -> std::path::PathBuf {
    std::fs::create_dir_all(folder).unwrap();
    let before = files_in(folder);
    let mut all = vec!["registry", "forward", p(kab), "--to", p(folder)];
    all.extend_from_slice(args);
    code(&run(None, &all, ""), 0);
    files_in(folder)
        .into_iter()
        .find(|f| !before.contains(f))
        .unwrap()
}

fn import(reg: &Path, what: &Path, want: i32) -> String {
    code(
        &run(None, &["registry", "import", p(reg), p(what), "--json"], ""),
        want,
    )
}

fn family_count(reg: &Path) -> u64 {
    let s = common::text(&run(None, &["registry", "status", p(reg), "--json"], "").stdout);
    let s: serde_json::Value = serde_json::from_str(&s[..s.rfind('}').unwrap() + 1]).unwrap();
    s["families"].as_u64().unwrap()
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as the province's operator goes through it"
)]
#[test]
fn the_province_imports_what_two_kabupaten_endorsed_once_each_is_approved_and_refuses_bad_bundles()
{
    use pendata::bundle::upward::Upward;
    let tmp = tempfile::tempdir().unwrap();
    let prov = tmp.path().join("kaltim");
    common::demo_registry(&prov, "provinsi", "64");
    let samarinda = tmp.path().join("kukar");
    let balikpapan = tmp.path().join("kubar");
    let a = kabupaten_with_tablets(tmp.path(), &samarinda, "64.02", &prov);
    let b = kabupaten_with_tablets(tmp.path(), &balikpapan, "64.07", &prov);
    let stick_a = forward_to(&samarinda, &tmp.path().join("up-a"), &[]);
    let stick_b = forward_to(&balikpapan, &tmp.path().join("up-b"), &[]);

    // A kabupaten registry is enrolled like a tablet: pending until approved, nothing merged.
    let out = import(&prov, &stick_a, 1);
    assert!(out.contains("not approved yet"), "{out}");
    let list = code(
        &run(
            None,
            &["registry", "devices", p(&prov), "list", "--json"],
            "",
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let entry = v
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"].as_str().unwrap().contains("64.02"))
        .unwrap();
    assert_eq!(entry["state"], "pending");
    // The region it is enrolled for is listed beside it (a tablet has none).
    assert_eq!(entry["wilayah"], "64.02");
    let text = code(
        &run(None, &["registry", "devices", p(&prov), "list"], ""),
        0,
    );
    let line = text.lines().find(|l| l.contains("pending")).unwrap();
    assert!(
        text.lines().next().unwrap().contains("wilayah") && line.contains(" 64.02 "),
        "{text}"
    );
    let kab_id = entry["id"].as_str().unwrap().to_string();
    // The kabupaten's office can read the same fingerprint on its side to compare before approval:
    // `upstream set` says what the province will list.
    let said = code(
        &run(
            None,
            &[
                "registry",
                "upstream",
                "set",
                p(&samarinda),
                p(&prov.join("registry.pub")),
            ],
            "",
        ),
        0,
    );
    let fingerprint = entry["fingerprint"].as_str().unwrap();
    assert!(said.contains(fingerprint), "{fingerprint} not in: {said}");
    let approve = |id: &str| run(None, &["registry", "devices", p(&prov), "approve", id], "");
    let _ = approve(&kab_id);
    let out = import(&prov, &stick_a, 0);
    assert!(out.contains("\"merged\": 1"), "{out}");
    assert_eq!(family_count(&prov), a.len() as u64);
    // Idempotent.
    let out = import(&prov, &stick_a, 0);
    assert!(out.contains("\"already_imported\": 1"), "{out}");
    assert_eq!(family_count(&prov), a.len() as u64);

    // The second kabupaten: its tablets are new to the province, approved through it.
    import(&prov, &stick_b, 1);
    let list = code(
        &run(
            None,
            &["registry", "devices", p(&prov), "list", "--json"],
            "",
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let kab_b = v
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"].as_str().unwrap().contains("64.07"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let _ = approve(&kab_b);
    import(&prov, &stick_b, 0);
    assert_eq!(family_count(&prov), (a.len() + b.len()) as u64);
    // The province's families per kabupaten/kota are what each endorsed.
    let fams = families(&prov, tmp.path());
    for id in a.iter().chain(&b) {
        assert!(fams.iter().any(|f| &f.0 == id), "{id} reached the province");
    }

    // Evaluation per kabupaten/kota and per family; the figures per kabupaten/kota.
    let evaluate = |args: &[&str]| {
        let mut all = vec!["registry", "evaluate", p(&prov)];
        all.extend_from_slice(args);
        run(None, &all, "")
    };
    code(&evaluate(&["--kabupaten", "64.07", "--return"]), 2);
    code(
        &run(
            None,
            &[
                "registry",
                "evaluate",
                p(&samarinda),
                "--kabupaten",
                "64.02",
                "--accept",
            ],
            "",
        ),
        2,
    );
    let out = code(
        &evaluate(&["--kabupaten", "64.02", "--accept", "--json"]),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(v["decided"].as_array().unwrap().len(), a.len(), "{out}");
    code(
        &evaluate(&[
            "--family",
            &b[0],
            "--return",
            "--reason",
            "KK tidak cocok dengan Dukcapil",
        ]),
        0,
    );
    let out = code(
        &run(None, &["registry", "proposals", p(&prov), "--json"], ""),
        0,
    );
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = |k: &str| row_of(&rows, k);
    let (ra, rb) = (row("64.02"), row("64.07"));
    assert_eq!(ra["received"], a.len() as u64);
    assert_eq!(ra["accepted"], a.len() as u64);
    assert_eq!(ra["waiting"], 0);
    assert_eq!(rb["received"], b.len() as u64);
    assert_eq!(rb["returned"], 1);
    assert_eq!(rb["waiting"], b.len() as u64 - 1);
    assert_eq!(
        rb["new"].as_u64().unwrap() + rb["updated"].as_u64().unwrap(),
        b.len() as u64
    );
    let text = code(&run(None, &["registry", "proposals", p(&prov)], ""), 0);
    assert!(text.contains("64.07") && text.contains("Waiting"), "{text}");
    let log = code(&run(None, &["registry", "log", p(&prov), "--json"], ""), 0);
    assert!(
        log.contains("family.evaluate.return") && log.contains("KK tidak cocok"),
        "{log}"
    );

    // The province's decisions flow down: to the kabupaten, and from it to the petugas's tablet.
    let rdir = tmp.path().join("receipts");
    std::fs::create_dir(&rdir).unwrap();
    let out = code(
        &run(
            None,
            &[
                "registry",
                "receipt",
                p(&prov),
                "--registry",
                &kab_b,
                "--to",
                p(&rdir),
            ],
            "",
        ),
        0,
    );
    let receipt = out.lines().next().unwrap().trim().to_string();
    let forged = tmp.path().join("forged.json");
    std::fs::write(
        &forged,
        std::fs::read_to_string(&receipt)
            .unwrap()
            .replace("KK tidak", "KK sudah"),
    )
    .unwrap();
    code(
        &run(
            None,
            &[
                "registry",
                "upstream",
                "receipt",
                p(&balikpapan),
                p(&forged),
            ],
            "",
        ),
        2,
    );
    code(
        &run(
            None,
            &["registry", "upstream", "receipt", p(&samarinda), &receipt],
            "",
        ),
        2,
    );
    let out = code(
        &run(
            None,
            &["registry", "upstream", "receipt", p(&balikpapan), &receipt],
            "",
        ),
        0,
    );
    assert!(out.contains("1 returned"), "{out}");
    let list = code(
        &run(
            None,
            &["registry", "devices", p(&balikpapan), "list", "--json"],
            "",
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let mut said = String::new();
    let mut rejected = 0;
    for d in v.as_array().unwrap() {
        let tab = tmp
            .path()
            .join(format!("64.07-{}", d["name"].as_str().unwrap()));
        let stick = tmp
            .path()
            .join(format!("back-{}", d["name"].as_str().unwrap()));
        std::fs::create_dir(&stick).unwrap();
        let id = d["id"].as_str().unwrap();
        let out = code(
            &run(
                None,
                &[
                    "registry",
                    "receipt",
                    p(&balikpapan),
                    "--device",
                    id,
                    "--to",
                    p(&stick),
                ],
                "",
            ),
            0,
        );
        let file = out.lines().next().unwrap().trim().to_string();
        said.push_str(&code(&run(Some(&tab), &["receipt", "apply", &file], ""), 0));
        let list = code(
            &run(Some(&tab), &["record", "list", "--status", "rejected"], ""),
            0,
        );
        rejected += list.lines().filter(|l| l.contains(b[0].as_str())).count();
    }
    assert!(
        said.contains("returned by the province: KK tidak cocok dengan Dukcapil"),
        "{said}"
    );
    assert_eq!(rejected, 1, "{said}");

    // Refused, nothing changed: altered, truncated, for another province, a tablet's line altered
    // under a valid kabupaten signature, a family outside the kabupaten's region.
    let prov_keys = pendata::registry::load(&prov).unwrap();
    let kab_keys = pendata::registry::load(&samarinda).unwrap();
    let bytes = std::fs::read(&stick_a).unwrap();
    let (u, _) = Upward::open(&bytes, std::slice::from_ref(&prov_keys.identity)).unwrap();
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let put = |name: &str, b: &[u8]| {
        let dir = bad.join(name);
        std::fs::create_dir(&dir).unwrap();
        let f = dir.join(format!(
            "pendata-usulan-6472-000001-000009-20261203-000000-{name}.age"
        ));
        std::fs::write(&f, b).unwrap();
        f
    };
    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x40;
    let mut changed = u.clone();
    changed.bundle_id = uuid::Uuid::now_v7();
    let line = &mut changed.families[0].revisions[0].line;
    *line = line.replacen("\"P001\"", "\"P002\"", 1);
    // Another region named by the same key: the region it was enrolled for is pinned.
    let mut moved = u.clone();
    moved.bundle_id = uuid::Uuid::now_v7();
    moved.registry.wilayah = Some("64.07".into());
    // A family of the other kabupaten (signed by its own tablet, with its custody) slipped in.
    let (ub, _) = Upward::open(
        &std::fs::read(&stick_b).unwrap(),
        std::slice::from_ref(&prov_keys.identity),
    )
    .unwrap();
    let mut outside = u.clone();
    outside.bundle_id = uuid::Uuid::now_v7();
    outside.families.push(ub.families[0].clone());
    outside.custody.extend(ub.custody.iter().cloned());
    outside.devices.extend(ub.devices.iter().cloned());
    // Signed by the kabupaten, but its last family is not one (found when the province prepares it).
    let mut not_a_family = serde_json::to_value(&u).unwrap();
    not_a_family["bundle_id"] = serde_json::json!(uuid::Uuid::now_v7());
    let families = not_a_family["families"].as_array_mut().unwrap();
    let last = families.last().unwrap().clone();
    families.push(serde_json::json!({"record": last["record"], "position": 99}));
    let not_a_family = sealed_payload(
        &not_a_family,
        &kab_keys.signing,
        &prov_keys.identity.to_public(),
    );
    let other_prov = tmp.path().join("other-prov");
    common::demo_registry(&other_prov, "provinsi", "64");
    let other_keys = pendata::registry::load(&other_prov).unwrap();
    let cases = [
        (put("flipped", &flipped), "authenticate"),
        (put("cut", &bytes[..bytes.len() - 64]), "upward bundle"),
        (
            put(
                "elsewhere",
                &u.seal(&kab_keys.signing, &[other_keys.identity.to_public()])
                    .unwrap(),
            ),
            "not encrypted to this registry",
        ),
        (
            put(
                "line",
                &changed
                    .seal(&kab_keys.signing, &[prov_keys.identity.to_public()])
                    .unwrap(),
            ),
            "fails its device signature",
        ),
        (
            put(
                "moved",
                &moved
                    .seal(&kab_keys.signing, &[prov_keys.identity.to_public()])
                    .unwrap(),
            ),
            "was enrolled for kabupaten/kota 64.02, not 64.07",
        ),
        (
            put(
                "outside",
                &outside
                    .seal(&kab_keys.signing, &[prov_keys.identity.to_public()])
                    .unwrap(),
            ),
            "outside the kabupaten/kota 64.02",
        ),
        (
            put("not-a-family", &not_a_family),
            "a family: missing field",
        ),
    ];
    let count = family_count(&prov);
    for (file, why) in &cases {
        let out = import(&prov, file, 1);
        assert!(
            out.contains("\"refused\": 1") && out.contains(why),
            "{why}: {out}"
        );
    }
    assert_eq!(family_count(&prov), count);
    // A replay under the same id with other contents is refused too.
    let mut replay = u.clone();
    replay.families.truncate(1);
    let f = put(
        "replay",
        &replay
            .seal(&kab_keys.signing, &[prov_keys.identity.to_public()])
            .unwrap(),
    );
    let out = import(&prov, &f, 1);
    assert!(out.contains("replay or forgery"), "{out}");

    // A missing upward bundle shows as a gap, with the command that fills it.
    code(
        &run(
            None,
            &[
                "registry",
                "endorse",
                p(&samarinda),
                "--family",
                &a[0],
                "--hold",
                "--reason",
                "cek",
            ],
            "",
        ),
        0,
    );
    code(
        &endorse(
            &samarinda,
            &[
                "--family",
                &a[0],
                "--minutes",
                "BA/2",
                "--date",
                "2026-12-01",
            ],
        ),
        0,
    );
    let _lost = forward_to(&samarinda, &tmp.path().join("lost"), &[]);
    code(
        &run(
            None,
            &[
                "registry",
                "endorse",
                p(&samarinda),
                "--family",
                &a[0],
                "--hold",
                "--reason",
                "cek",
            ],
            "",
        ),
        0,
    );
    code(
        &endorse(
            &samarinda,
            &[
                "--family",
                &a[0],
                "--minutes",
                "BA/3",
                "--date",
                "2026-12-02",
            ],
        ),
        0,
    );
    let next = forward_to(&samarinda, &tmp.path().join("next"), &[]);
    let out = code(
        &run(None, &["registry", "import", p(&prov), p(&next)], ""),
        1,
    );
    // The lost bundle held the withdrawal (the hold of a family forwarded before) and the
    // endorsement again.
    let n = a.len() + 1;
    assert!(
        out.contains(&format!(
            "registry forward DIR --to FOLDER --range {n}..{}",
            n + 1
        )),
        "{out}"
    );
}

#[test]
fn a_refusal_in_a_later_share_keeps_nothing_of_the_shares_merged_before_it() {
    use pendata::bundle::upward::Upward;
    use pendata::registry::{FileOutcome, Registry};
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (prov, kab, endorsed) = province_and_kabupaten(t);
    assert!(endorsed.len() >= 3, "{endorsed:?}");
    let file = forward_to(&kab, &t.join("up"), &[]);
    // Its first file enrols the kabupaten (pending, nothing merged); approved.
    import(&prov, &file, 1);
    common::approve_pending(&prov);
    assert_eq!(family_count(&prov), 0);
    // The same families, the last one's last line altered, signed again by the kabupaten.
    let prov_keys = pendata::registry::load(&prov).unwrap();
    let kab_keys = pendata::registry::load(&kab).unwrap();
    let (mut u, _) = Upward::open(
        &std::fs::read(&file).unwrap(),
        std::slice::from_ref(&prov_keys.identity),
    )
    .unwrap();
    u.bundle_id = uuid::Uuid::now_v7();
    let last = u.families.last_mut().unwrap().revisions.last_mut().unwrap();
    last.line.insert(1, ' ');
    let bad = t.join("bad");
    std::fs::create_dir(&bad).unwrap();
    let bad = bad.join(file.file_name().unwrap());
    std::fs::write(
        &bad,
        u.seal(&kab_keys.signing, &[prov_keys.identity.to_public()])
            .unwrap(),
    )
    .unwrap();
    // One family per share: every family before the last is merged into the import's transaction
    // before the last one's share is refused.
    let mut reg = Registry::open(&prov).unwrap();
    reg.share = 1;
    let now = chrono::Utc::now().fixed_offset();
    match reg.import_upward_path(&bad, now).unwrap() {
        FileOutcome::Refused { reason } => {
            assert!(reason.contains("device signature"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    drop(reg);
    assert_eq!(family_count(&prov), 0);
    // The file as forwarded, in shares of one: every family.
    let mut reg = Registry::open(&prov).unwrap();
    reg.share = 1;
    let merged = reg.import_upward_path(&file, now).unwrap();
    assert!(matches!(merged, FileOutcome::Merged(_)), "{merged:?}");
    drop(reg);
    assert_eq!(family_count(&prov), endorsed.len() as u64);
}

/// An upward bundle file of `payload` (as JSON), signed as format 3 signs it and encrypted to `to`:
/// what a kabupaten's own build would write, whatever the payload holds.
fn sealed_payload(
    payload: &serde_json::Value,
    key: &ed25519_dalek::SigningKey,
    to: &age::x25519::Recipient,
) -> Vec<u8> {
    use ed25519_dalek::Signer;
    use std::io::Write;
    let payload = serde_json::to_string(payload).unwrap();
    let statement = pendata::bundle::upward::signed_statement(payload.as_bytes());
    let signature = pendata::bundle::hex(&key.sign(&statement).to_bytes());
    let envelope = format!("{{\"payload\":{payload},\"signature\":\"{signature}\"}}\n");
    let plain = zstd::bulk::compress(envelope.as_bytes(), 1).unwrap();
    let encryptor = age::Encryptor::with_recipients(std::iter::once(to as _)).unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(&plain).unwrap();
    w.finish().unwrap();
    out
}

/// The province's figures per kabupaten/kota, by code.
fn proposals(prov: &Path) -> serde_json::Value {
    let out = code(
        &run(None, &["registry", "proposals", p(prov), "--json"], ""),
        0,
    );
    serde_json::from_str(&out).unwrap()
}

fn row_of(rows: &serde_json::Value, kab: &str) -> serde_json::Value {
    rows["kabupaten"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kabkota"] == kab)
        .unwrap()
        .clone()
}

/// A province (Kalimantan Timur) and one kabupaten/kota (Kutai Kartanegara, 64.02) whose tablets' accepted
/// families are endorsed, set to forward to it: the province's folder, the kabupaten's, the families.
fn province_and_kabupaten(t: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<String>) {
    let prov = t.join("kaltim");
    common::demo_registry(&prov, "provinsi", "64");
    let kab = t.join("kukar");
    let endorsed = kabupaten_with_tablets(t, &kab, "64.02", &prov);
    (prov, kab, endorsed)
}

/// A province with one kabupaten/kota's endorsed families imported (its registry approved): the
/// province's folder, the kabupaten's, and the families.
fn province_with_one_kabupaten(t: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<String>) {
    let (prov, kab, endorsed) = province_and_kabupaten(t);
    let first = forward_to(&kab, &t.join("up-1"), &[]);
    import(&prov, &first, 1);
    common::approve_pending(&prov);
    import(&prov, &first, 0);
    (prov, kab, endorsed)
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario: forwarded, held back, withdrawn, endorsed again; the refusals"
)]
#[test]
fn a_hold_after_forwarding_withdraws_the_family_at_the_province_until_it_is_endorsed_again() {
    use pendata::bundle::upward::{Upward, Withdrawn};
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (prov, kab, endorsed) = province_with_one_kabupaten(t);
    let n = endorsed.len() as u64;
    assert_eq!(row_of(&proposals(&prov), "64.02")["waiting"], n);

    // Held back at the kabupaten after forwarding, with the meeting's minutes: the next upward bundle
    // withdraws it.
    let said = code(
        &run(
            None,
            &[
                "registry",
                "endorse",
                p(&kab),
                "--family",
                &endorsed[0],
                "--hold",
                "--reason",
                "keluarga pindah ke luar provinsi",
                "--minutes",
                "BA/7",
                "--date",
                "2026-12-02",
            ],
            "",
        ),
        0,
    );
    assert!(said.contains("1 of them were forwarded before"), "{said}");
    let second = forward_to(&kab, &t.join("up-2"), &[]);
    let prov_keys = pendata::registry::load(&prov).unwrap();
    let (u, _) = Upward::open(
        &std::fs::read(&second).unwrap(),
        std::slice::from_ref(&prov_keys.identity),
    )
    .unwrap();
    assert!(u.families.is_empty(), "{:?}", u.families);
    assert_eq!(u.withdrawn.len(), 1);
    let w = &u.withdrawn[0];
    assert_eq!(w.record.to_string(), endorsed[0]);
    assert_eq!(w.reason, "keluarga pindah ke luar provinsi");
    assert_eq!(w.minutes.as_deref(), Some("BA/7"));
    assert_eq!(w.date.unwrap().to_string(), "2026-12-02");
    assert!(!w.decided_by.is_empty());

    let out = import(&prov, &second, 0);
    assert!(out.contains("\"merged\": 1"), "{out}");
    let row = row_of(&proposals(&prov), "64.02");
    assert_eq!(row["withdrawn"], 1, "{row}");
    assert_eq!(row["waiting"], n - 1, "{row}");
    assert_eq!(row["accepted"], 0, "{row}");
    // Idempotent: the same file again changes nothing.
    let out = import(&prov, &second, 0);
    assert!(out.contains("\"already_imported\": 1"), "{out}");
    assert_eq!(row_of(&proposals(&prov), "64.02"), row);
    // A withdrawn family is not evaluated; the reason is kept with who decided.
    let out = code(
        &run(
            None,
            &[
                "registry",
                "evaluate",
                p(&prov),
                "--family",
                &endorsed[0],
                "--accept",
                "--json",
            ],
            "",
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(v["withdrawn"], 1, "{out}");
    assert!(v["decided"].as_array().unwrap().is_empty(), "{out}");
    let text = code(&run(None, &["registry", "proposals", p(&prov)], ""), 0);
    assert!(
        text.contains("Withdrawn") && text.contains("Ditarik"),
        "{text}"
    );

    // Endorsed again: forwarded again, waiting at the province.
    code(
        &endorse(
            &kab,
            &[
                "--family",
                &endorsed[0],
                "--minutes",
                "BA/8",
                "--date",
                "2026-12-03",
            ],
        ),
        0,
    );
    let third = forward_to(&kab, &t.join("up-3"), &[]);
    import(&prov, &third, 0);
    let row = row_of(&proposals(&prov), "64.02");
    assert_eq!(row["withdrawn"], 0, "{row}");
    assert_eq!(row["waiting"], n, "{row}");
    // The withdrawal's file again, under another name, does not undo the later endorsement.
    let again = t.join("again");
    std::fs::create_dir(&again).unwrap();
    let copy = again.join(second.file_name().unwrap());
    std::fs::copy(&second, &copy).unwrap();
    import(&prov, &copy, 0);
    assert_eq!(row_of(&proposals(&prov), "64.02")["withdrawn"], 0);

    // A withdrawal of a family the kabupaten never forwarded, or of another region's, is refused.
    let kab_keys = pendata::registry::load(&kab).unwrap();
    let other = t.join("kubar");
    let theirs = kabupaten_with_tablets(t, &other, "64.07", &prov);
    let up_b = forward_to(&other, &t.join("up-b"), &[]);
    import(&prov, &up_b, 1);
    common::approve_pending(&prov);
    import(&prov, &up_b, 0);
    let bad = t.join("bad");
    std::fs::create_dir(&bad).unwrap();
    let forged = |name: &str, record: &str| {
        let mut f = u.clone();
        f.bundle_id = uuid::Uuid::now_v7();
        f.withdrawn = vec![Withdrawn {
            record: record.parse().unwrap(),
            ..w.clone()
        }];
        let file = bad.join(format!(
            "pendata-usulan-6402-000099-000099-20261203-000000-{name}.age"
        ));
        std::fs::write(
            &file,
            f.seal(&kab_keys.signing, &[prov_keys.identity.to_public()])
                .unwrap(),
        )
        .unwrap();
        file
    };
    let before = proposals(&prov)["kabupaten"].clone();
    let out = import(
        &prov,
        &forged("never", &uuid::Uuid::now_v7().to_string()),
        1,
    );
    assert!(
        out.contains("\"refused\": 1") && out.contains("never forwarded"),
        "{out}"
    );
    let out = import(&prov, &forged("outside", &theirs[0]), 1);
    assert!(
        out.contains("\"refused\": 1") && out.contains("outside the kabupaten/kota 64.02"),
        "{out}"
    );
    assert_eq!(proposals(&prov)["kabupaten"], before);
}

#[expect(
    clippy::too_many_lines,
    reason = "one simulation over three months, then each face of the report"
)]
#[test]
fn the_proposals_report_shows_each_kabupatens_course_per_month_and_its_welfare_indicators() {
    use pendata::registry::endorse::Selection;
    use pendata::registry::{Evaluation, FileOutcome, Registry};
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (prov, kab, endorsed) = province_and_kabupaten(t);
    let n = endorsed.len() as u64;
    assert!(n >= 6, "{n}");
    let first = forward_to(&kab, &t.join("up-1"), &[]);
    let at =
        |d: &str| chrono::DateTime::parse_from_rfc3339(&format!("{d}T09:00:00+08:00")).unwrap();
    // Received in October; three accepted and two returned on known days; one withdrawn in December.
    let reg = Registry::open(&prov).unwrap();
    reg.import_upward_path(&first, at("2026-10-05")).unwrap();
    drop(reg);
    common::approve_pending(&prov);
    let reg = Registry::open(&prov).unwrap();
    let merged = reg.import_upward_path(&first, at("2026-10-05")).unwrap();
    assert!(matches!(merged, FileOutcome::Merged(_)), "{merged:?}");
    let family = |i: usize| Selection::Family(endorsed[i].parse().unwrap());
    for (i, day) in [(0, "2026-10-20"), (1, "2026-11-02"), (2, "2026-11-03")] {
        reg.evaluate(&family(i), Evaluation::Accepted, at(day))
            .unwrap();
    }
    for i in [3, 4] {
        let returned = Evaluation::Returned {
            reason: "KK tidak cocok".into(),
        };
        reg.evaluate(&family(i), returned, at("2026-11-15"))
            .unwrap();
    }
    drop(reg);
    code(
        &run(
            None,
            &[
                "registry",
                "endorse",
                p(&kab),
                "--family",
                &endorsed[5],
                "--hold",
                "--reason",
                "pindah",
            ],
            "",
        ),
        0,
    );
    let second = forward_to(&kab, &t.join("up-2"), &[]);
    let reg = Registry::open(&prov).unwrap();
    reg.import_upward_path(&second, at("2026-12-01")).unwrap();
    let report = reg.proposals_report(at("2026-12-03")).unwrap();
    drop(reg);

    assert_eq!(report.months, ["2026-10", "2026-11", "2026-12"]);
    let k = &report.kabupaten[0];
    assert_eq!(k.figures.kabkota, "64.02");
    let col = |get: fn(&pendata::registry::report::proposals::MonthFigures) -> u64| {
        k.months.iter().map(get).collect::<Vec<_>>()
    };
    assert_eq!(col(|m| m.received), [n - 1, 0, 1]);
    assert_eq!(col(|m| m.accepted), [1, 2, 0]);
    assert_eq!(col(|m| m.returned), [0, 2, 0]);
    assert_eq!(col(|m| m.withdrawn), [0, 0, 1]);
    assert_eq!(col(|m| m.waiting), [n - 2, n - 6, n - 6]);
    assert_eq!(
        (
            k.figures.accepted,
            k.figures.returned,
            k.figures.waiting,
            k.figures.withdrawn
        ),
        (3, 2, n - 6, 1)
    );
    // The welfare indicators are the registry report's for the kabupaten/kota.
    let welfare = pendata::registry::report(&Registry::open(&prov).unwrap(), None).unwrap();
    let area = welfare
        .kabupaten
        .iter()
        .find(|a| a.code.as_deref() == Some("64.02"))
        .unwrap();
    assert_eq!(k.indicators, area.figures.indicators);
    assert_eq!(k.families, n);
    assert!(k.indicators.earth_floor.known > 0);

    // The command's faces: JSON with the months, text, and one HTML page with the line chart.
    let json = proposals(&prov);
    let row = row_of(&json, "64.02");
    assert_eq!(row["months"][1]["returned"], 2, "{row}");
    assert_eq!(
        row["indicators"]["earth_floor"]["known"],
        k.indicators.earth_floor.known
    );
    assert_eq!(json["months"][2], "2026-12");
    let text = code(&run(None, &["registry", "proposals", p(&prov)], ""), 0);
    assert!(
        text.contains("2026-11") && text.contains("Lantai tanah") && text.contains("data cut-off"),
        "{text}"
    );
    let page = t.join("usulan.html");
    let args = [
        "registry",
        "proposals",
        p(&prov),
        "--format",
        "html",
        "--to",
        p(&page),
    ];
    code(&run(None, &args, ""), 0);
    code(&run(None, &args, ""), 1);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        1,
        "one chart for one kabupaten/kota"
    );
    assert_eq!(html.matches("<polyline").count(), 5);
    assert!(html.contains("Menunggu") && html.contains("Waiting") && html.contains("2026-10"));
    for outside in ["<script", "src=", "href=", "url("] {
        assert!(!html.contains(outside), "{outside}");
    }
}

/// A family corrected on its tablet after forwarding: a new final revision, exported to the kabupaten.
fn correct_on_tablet(tab: &Path, kab: &Path, record: &str, floor: u32, stick: &Path) {
    code(
        &run(
            Some(tab),
            &[
                "record",
                "set",
                record,
                "--petugas",
                "P001",
                "--reason",
                "salah ukur",
                "--answers",
                "-",
            ],
            &format!("{{\"luas_lantai\": {floor}}}"),
        ),
        0,
    );
    code(
        &run(
            Some(tab),
            &[
                "record",
                "finalize",
                record,
                "--petugas",
                "P001",
                "--ack-warnings",
            ],
            "",
        ),
        0,
    );
    common::sync_to(tab, kab, stick);
}

/// Every final revision (device, sequence position) a registry holds of a family.
fn history_of(reg: &Path, record: &str) -> Vec<(u128, u64)> {
    use pendata::registry::storage::Storage;
    let r = pendata::registry::Registry::open(reg).unwrap();
    let mut h: Vec<(u128, u64)> =
        r.db.finals_of(record.parse().unwrap())
            .unwrap()
            .iter()
            .map(|f| (f.device, f.seq))
            .collect();
    h.sort_unstable();
    h
}

#[test]
fn every_revision_not_forwarded_before_travels_up_and_a_tablet_bundles_counts_add_up() {
    use pendata::bundle::upward::Upward;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (prov, kab, endorsed) = province_and_kabupaten(t);
    // Forwarded in two parts: each tablet bundle's lines come in two upward bundles.
    let half = endorsed.len() / 2;
    let first = forward_to(&kab, &t.join("up-1"), &["--range", &format!("1..{half}")]);
    let second = forward_to(&kab, &t.join("up-2"), &[]);
    import(&prov, &first, 1);
    common::approve_pending(&prov);
    import(&prov, &first, 0);
    import(&prov, &second, 0);
    let bundles = pendata::registry::Registry::open(&prov)
        .unwrap()
        .bundles()
        .unwrap();
    let tablets: Vec<_> = bundles
        .iter()
        .filter(|b| {
            b.bundle_id != bundle_of(&prov, &first) && b.bundle_id != bundle_of(&prov, &second)
        })
        .collect();
    assert_eq!(tablets.len(), 2, "{bundles:?}");
    let accepted: u64 = tablets.iter().map(|b| b.merged.accepted).sum();
    let again: u64 = tablets.iter().map(|b| b.merged.duplicates).sum();
    assert_eq!(accepted, endorsed.len() as u64, "{tablets:?}");
    assert_eq!(again, half as u64, "{tablets:?}");

    // A family corrected twice on its tablet after forwarding, endorsed again: both new revisions
    // travel up, oldest first, the endorsed one last; the one forwarded before does not.
    let tab = t.join("64.02-tab1");
    let listed = code(&run(Some(&tab), &["record", "list"], ""), 0);
    let record = endorsed
        .iter()
        .find(|id| listed.contains(id.as_str()))
        .unwrap()
        .clone();
    correct_on_tablet(&tab, &kab, &record, 41, &t.join("stick-c1"));
    correct_on_tablet(&tab, &kab, &record, 42, &t.join("stick-c2"));
    let at_kab = history_of(&kab, &record);
    assert_eq!(at_kab.len(), 3, "{at_kab:?}");
    code(
        &endorse(
            &kab,
            &[
                "--family",
                &record,
                "--minutes",
                "BA/9",
                "--date",
                "2026-12-03",
            ],
        ),
        0,
    );
    let third = forward_to(&kab, &t.join("up-3"), &[]);
    let keys = pendata::registry::load(&prov).unwrap();
    let (u, _) = Upward::open(
        &std::fs::read(&third).unwrap(),
        std::slice::from_ref(&keys.identity),
    )
    .unwrap();
    assert_eq!(u.families.len(), 1);
    let revs: Vec<pendata::model::record::Revision> = u.families[0]
        .revisions
        .iter()
        .map(|r| serde_json::from_str(&r.line).unwrap())
        .collect();
    assert_eq!(revs.len(), 2, "{revs:?}");
    assert!(revs[0].number < revs[1].number, "{revs:?}");
    assert_eq!(revs[1].answers["luas_lantai"], 42);
    assert_eq!(revs[0].answers["luas_lantai"], 41);
    assert!(history_of(&prov, &record).len() == 1);
    import(&prov, &third, 0);
    assert_eq!(history_of(&prov, &record), at_kab);
}

/// The id of the upward bundle a file holds, as the province recorded it.
fn bundle_of(prov: &Path, file: &Path) -> uuid::Uuid {
    let keys = pendata::registry::load(prov).unwrap();
    let (u, _) = pendata::bundle::upward::Upward::open(
        &std::fs::read(file).unwrap(),
        std::slice::from_ref(&keys.identity),
    )
    .unwrap();
    u.bundle_id
}

/// The order in which a province imports upward bundles (two from one kabupaten, one from another) and
/// a tablet's own bundle does not matter: after every file is imported, every sender approved and every
/// file imported again, in any order, the province holds the same families in the same states.
#[test]
fn the_province_ends_the_same_whatever_order_upward_and_device_bundles_arrive_in() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let prov = t.join("kaltim");
    common::demo_registry(&prov, "provinsi", "64");
    // Kutai Kartanegara forwards in two parts; Kutai Barat in one.
    let kukar = t.join("kukar");
    let endorsed = kabupaten_with_tablets(t, &kukar, "64.02", &prov);
    let half = (endorsed.len() / 2).to_string();
    let a1 = forward_to(
        &kukar,
        &t.join("up-a1"),
        &["--range", &format!("1..{half}")],
    );
    let a2 = forward_to(&kukar, &t.join("up-a2"), &[]);
    let kubar = t.join("kubar");
    let endorsed_b = kabupaten_with_tablets(t, &kubar, "64.07", &prov);
    let b1 = forward_to(&kubar, &t.join("up-b1"), &[]);
    // A tablet of the province's own staff exports to it directly.
    let direct = t.join("direct");
    common::demo_tablet(&direct, &prov.join("registry.pub"), "Provinsi 01", "12");
    let stick = t.join("stick-direct");
    std::fs::create_dir_all(&stick).unwrap();
    code(&run(Some(&direct), &["export", "--to", p(&stick)], ""), 0);
    let d1 = files_in(&stick).pop().unwrap();
    let pristine = t.join("pristine");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&prov)
        .arg(&pristine)
        .status()
        .unwrap();
    assert!(status.success());

    let files = vec![a1, a2, b1, d1];
    let reference: std::cell::RefCell<Option<Vec<(String, String, String)>>> =
        std::cell::RefCell::new(None);
    let mut runner = TestRunner::new(Config {
        cases: 6,
        failure_persistence: None,
        ..Config::default()
    });
    let round = std::cell::Cell::new(0);
    let outcome = runner.run(&Just(files).prop_shuffle(), |order| {
        round.set(round.get() + 1);
        let reg = t.join(format!("round-{}", round.get()));
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&pristine)
            .arg(&reg)
            .status()
            .unwrap();
        assert!(status.success());
        for f in &order {
            let _ = run(None, &["registry", "import", p(&reg), p(f)], "");
        }
        common::approve_pending(&reg);
        for f in &order {
            let _ = run(None, &["registry", "import", p(&reg), p(f)], "");
        }
        common::approve_pending(&reg);
        let mut got = families(&reg, &reg);
        got.sort();
        prop_assert!(
            got.len() >= endorsed.len() + endorsed_b.len() + 12,
            "{} families for {} + {} endorsed and 12 direct",
            got.len(),
            endorsed.len(),
            endorsed_b.len()
        );
        let mut reference = reference.borrow_mut();
        match reference.as_ref() {
            None => *reference = Some(got),
            Some(want) => prop_assert_eq!(want, &got, "order {:?}", order),
        }
        Ok(())
    });
    outcome.unwrap();
}
