//! The sync loop through the binary, as an operator would run it: registry init, tablet init with the
//! key, export to a "stick", inspect with and without the key, the standard `age` and `tar` tools on the
//! bundle, a receipt applied twice, purge — with exit codes and messages for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::process::Command;

use common::{code, p, run, text};

use pendata::bundle::manifest::SeqRange;
use pendata::bundle::receipt::{Receipt, Rejection};
use pendata::model::Localized;

fn tool(name: &str) -> bool {
    Command::new(name).arg("--version").output().is_ok()
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as a person goes through it"
)]
#[test]
fn the_whole_loop_through_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    let tab = tmp.path().join("tablet");
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();

    let out = code(&run(None, &["registry", "init", p(&reg), "--demo"], ""), 0);
    assert!(out.contains("back them up"), "{out}");
    // A second init never replaces the keys.
    let out = code(&run(None, &["registry", "init", p(&reg), "--demo"], ""), 1);
    assert!(out.contains("left untouched"), "{out}");

    // A broken key file is refused before the tablet store is created.
    std::fs::write(tmp.path().join("bad.pub"), "{}").unwrap();
    let bad = tmp.path().join("bad.pub");
    let out = code(
        &run(
            Some(&tab),
            &[
                "init",
                "--demo",
                "--device-name",
                "T1",
                "--registry-key",
                p(&bad),
            ],
            "",
        ),
        2,
    );
    assert!(out.contains("registry.pub"), "{out}");
    assert!(!tab.join("pendata.redb").exists());

    let key = reg.join("registry.pub");
    code(
        &run(
            Some(&tab),
            &[
                "init",
                "--demo",
                "--device-name",
                "T1",
                "--registry-key",
                p(&key),
            ],
            "",
        ),
        0,
    );
    code(
        &run(
            Some(&tab),
            &[
                "petugas",
                "add",
                "--code",
                "P001",
                "--name",
                "Siti",
                "--pin-stdin",
            ],
            "246810\n",
        ),
        0,
    );
    code(
        &run(
            Some(&tab),
            &[
                "demo",
                "--families",
                "30",
                "--petugas",
                "P001",
                "--drafts",
                "20",
            ],
            "",
        ),
        0,
    );
    let out = code(&run(Some(&tab), &["registry-key", "show"], ""), 0);
    assert!(out.contains("fingerprint"), "{out}");

    let out = code(&run(Some(&tab), &["export", "--to", p(&stick)], ""), 0);
    assert!(
        out.contains("aman untuk dicabut / verified, safe to remove"),
        "{out}"
    );
    let files: Vec<_> = std::fs::read_dir(&stick)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let bundle = &files[0];

    // Without the key: only the outside.
    let out = code(&run(None, &["bundle", "inspect", p(bundle)], ""), 0);
    assert!(
        out.contains("X25519") && out.contains("nothing else is readable"),
        "{out}"
    );
    assert!(!out.contains("P001"), "nothing personal outside: {out}");
    // With it: verified.
    let identity = reg.join("keys/registry-age.key");
    let out = code(
        &run(
            None,
            &[
                "bundle",
                "inspect",
                p(bundle),
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
    let families = v["manifest"]["counts"]["records"].as_u64().unwrap();
    assert!(families > 15, "{families}");
    // A damaged copy: refused with a reason, exit 1.
    let mut bytes = std::fs::read(bundle).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let damaged = tmp.path().join("damaged.age");
    std::fs::write(&damaged, &bytes).unwrap();
    let out = code(
        &run(
            None,
            &["bundle", "inspect", p(&damaged), "--identity", p(&identity)],
            "",
        ),
        1,
    );
    assert!(out.contains("refused"), "{out}");
    let out = code(&run(None, &["bundle", "inspect", p(&key)], ""), 1);
    assert!(out.contains("not an age-encrypted file"), "{out}");

    // The standard tools open it (`.ci/run` installs age and zstd; on a machine without them this step is
    // skipped, and says so).
    if tool("age") && tool("zstd") {
        let x = tmp.path().join("x");
        std::fs::create_dir(&x).unwrap();
        let script = format!(
            "age -d -i '{}' '{}' | tar -x -C '{}' && zstd -dc '{}/revisions.jsonl.zst' | wc -l",
            p(&identity),
            p(bundle),
            p(&x),
            p(&x)
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let lines: u64 = text(&out.stdout).trim().parse().unwrap();
        assert_eq!(
            lines,
            v["manifest"]["counts"]["revisions"].as_u64().unwrap()
        );
        assert!(x.join("manifest.json").exists() && x.join("manifest.sig").exists());
    } else {
        eprintln!("age or zstd not installed: the standard-tool check was skipped");
    }

    // Nothing new: exit 0, no file.
    let out = code(&run(Some(&tab), &["export", "--to", p(&stick)], ""), 0);
    assert!(out.contains("nothing new"), "{out}");
    let out = code(&run(Some(&tab), &["export-log"], ""), 0);
    assert!(out.contains("incremental"), "{out}");

    // A receipt from the registry: all accepted but one.
    let keys = pendata::registry::load(&reg).unwrap();
    let m = &v["manifest"];
    let device: uuid::Uuid = m["device"]["id"].as_str().unwrap().parse().unwrap();
    let x = tmp.path().join("x2");
    std::fs::create_dir(&x).unwrap();
    let mut rejected = Vec::new();
    pendata::bundle::read::read(
        std::fs::File::open(bundle).unwrap(),
        std::slice::from_ref(&keys.identity),
        |item| {
            if let pendata::bundle::read::Item::Revision { revision, .. } = item
                && rejected.is_empty()
            {
                rejected.push(Rejection {
                    record: revision.record,
                    revision: revision.number,
                    seq: revision.seq,
                    reasons: vec![Localized::new(
                        "Foto rumah tidak jelas",
                        "House photo unclear",
                    )],
                });
            }
            Ok(())
        },
    )
    .unwrap();
    let receipt = Receipt::new(
        &keys.public.name,
        device,
        chrono::Local::now().fixed_offset(),
        vec![SeqRange {
            from: m["sequence"]["from"].as_u64().unwrap(),
            to: m["sequence"]["to"].as_u64().unwrap(),
        }],
        rejected,
    );
    let rfile = stick.join(receipt.file_name());
    std::fs::write(&rfile, receipt.sign(&keys.signing)).unwrap();
    let out = code(&run(Some(&tab), &["receipt", "apply", p(&rfile)], ""), 0);
    assert!(
        out.contains(&format!("{} diterima / accepted, 1 ditolak", families - 1)),
        "{out}"
    );
    assert!(out.contains("House photo unclear"), "{out}");
    let out = code(&run(Some(&tab), &["receipt", "apply", p(&rfile)], ""), 0);
    assert!(out.contains("applied before"), "{out}");
    let out = code(
        &run(Some(&tab), &["record", "list", "--status", "rejected"], ""),
        0,
    );
    assert_eq!(out.lines().filter(|l| !l.is_empty()).count(), 1, "{out}");
    // A tampered receipt is refused.
    let forged = std::fs::read_to_string(&rfile)
        .unwrap()
        .replace("Foto rumah", "Foto rumah!!");
    let ffile = tmp.path().join("forged.json");
    std::fs::write(&ffile, forged).unwrap();
    let out = code(&run(Some(&tab), &["receipt", "apply", p(&ffile)], ""), 2);
    assert!(
        out.contains("not signed by this tablet's registry"),
        "{out}"
    );

    // Purge what was accepted before tomorrow.
    let tomorrow = (chrono::Local::now().date_naive() + chrono::Duration::days(1)).to_string();
    let out = code(
        &run(Some(&tab), &["purge", "--accepted-before", &tomorrow], ""),
        0,
    );
    assert!(
        out.contains(&format!("{} keluarga dihapus", families - 1)),
        "{out}"
    );
    let out = code(
        &run(
            Some(&tab),
            &["purge", "--accepted-before", "2999-01-01"],
            "",
        ),
        2,
    );
    assert!(out.contains("future"), "{out}");
    let out = code(
        &run(Some(&tab), &["purge", "--accepted-before", "kemarin"], ""),
        2,
    );
    assert!(out.contains("not a date"), "{out}");
}

#[test]
fn export_without_a_key_and_bad_arguments_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let tab = tmp.path().join("t");
    code(&run(Some(&tab), &["init", "--device-name", "T"], ""), 0);
    let out = code(&run(Some(&tab), &["export", "--to", p(tmp.path())], ""), 1);
    assert!(out.contains("registry-key set"), "{out}");
    let out = code(
        &run(
            Some(&tab),
            &["export", "--to", p(tmp.path()), "--all", "--since-last"],
            "",
        ),
        2,
    );
    assert!(out.contains("cannot be used with"), "{out}");
    let out = code(
        &run(
            Some(&tab),
            &["export", "--to", p(tmp.path()), "--range", "x..3"],
            "",
        ),
        2,
    );
    assert!(out.contains("not a number"), "{out}");
    let out = code(
        &run(
            Some(&tab),
            &["registry-key", "set", "/nonexistent/registry.pub"],
            "",
        ),
        2,
    );
    assert!(out.contains("cannot read"), "{out}");
    let out = code(
        &run(None, &["bundle", "inspect", "/nonexistent.age"], ""),
        2,
    );
    assert!(out.contains("cannot read"), "{out}");
}
