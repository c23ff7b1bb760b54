//! Hostile and odd input at the registry's import: bombs, lying manifests, untrusted devices (held after
//! their signed manifest alone, nothing decompressed), pipes and devices given as files, file names of
//! any length, a line past the limit (its family quarantined, the rest merged), reused bundle ids,
//! revisions outside their declared range, orphan held copies, names with terminal control codes.
//! Each test uses small limits (`Registry::limits`), so the bombs are small too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use ed25519_dalek::{Signer, SigningKey};
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::bundle::hex;
use pendata::form::catalog::Catalog;
use pendata::form::{Form, evaluate};
use pendata::model::record::{Action, Answers};
use pendata::registry::family::FamilyState;
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, DeviceState, FileOutcome, QuarantineState, Registry};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn now() -> DateTime<FixedOffset> {
    at("2026-11-28T10:00:00+08:00")
}

fn form() -> &'static Form {
    Catalog::shared().unwrap().latest("keluarga").unwrap()
}

struct Reg {
    tmp: tempfile::TempDir,
    reg: Registry,
}

fn registry() -> Reg {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Dinas Sosial Kaltim", now()).unwrap();
    let reg = Registry::open(&dir).unwrap();
    Reg { tmp, reg }
}

impl Reg {
    fn recipient(&self) -> age::x25519::Recipient {
        self.reg.keys.identity.to_public()
    }

    fn enrol(&self, t: &SynthTablet) {
        let key = hex(t.key.verifying_key().as_bytes());
        self.reg.enrol(t.id, &t.name, &key, now()).unwrap();
    }

    fn stick(&self) -> PathBuf {
        let d = self.tmp.path().join("stick");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn state(&self, record: Uuid) -> Option<FamilyState> {
        self.reg.family(record).unwrap().map(|f| f.family.state)
    }

    fn pending_files(&self) -> Vec<String> {
        match std::fs::read_dir(self.reg.dir.join("pending")) {
            Ok(d) => d
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn tablet(n: u64) -> SynthTablet {
    SynthTablet::new(n, at("2026-11-20T08:00:00+08:00"))
}

fn record(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_2222_0000_7000_8000_0000_0000_0000 | n)
}

/// Finalizes a valid family as revision 1 of `record` on `t`.
fn finalize(t: &mut SynthTablet, rng: &mut Rng, record: Uuid) -> u64 {
    let answers: Answers = demo::family(
        form(),
        rng,
        &FamilySpec {
            interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        },
    );
    let day = (t.clock + chrono::Duration::minutes(3)).date_naive();
    let ack = evaluate(form(), &answers, day)
        .warnings()
        .map(|w| format!("{} {}", w.path, w.code))
        .collect();
    t.revise(record, 1, Action::Finalized, answers, ack)
}

/// The revision line a tablet would write for `record` at `seq`, with these answers (in the field
/// order the store writes).
fn line(t: &SynthTablet, record: Uuid, seq: u64, answers: serde_json::Value) -> Vec<u8> {
    format!(
        r#"{{"record":"{record}","number":1,"seq":{seq},"action":"finalized","status":"final","form_id":"keluarga","form_version":{},"answers":{answers},"petugas":"{}","device":"{}","at":"2026-11-20T09:00:00+08:00"}}"#,
        t.form_version, t.petugas, t.id
    )
    .into_bytes()
}

/// What a crafted bundle says of itself, where it may lie.
struct Craft<'a> {
    key: &'a SigningKey,
    device: Uuid,
    name: &'a str,
    bundle_id: Uuid,
    from: u64,
    to: u64,
    petugas: &'a str,
    form_version: u64,
    /// The decompressed size the manifest declares (`None`: the true one).
    declared_plain: Option<u64>,
    /// The number of revisions and families the manifest counts.
    revisions: u64,
    records: u64,
    /// `plain` compressed (`false`: the part is `plain` as it is, whatever it holds).
    compress: bool,
}

/// A bundle made by hand: `plain` (the JSON lines) compressed, a manifest saying what `c` says, signed
/// with `c.key`, encrypted to the registry. Anyone with a fresh key can make one.
fn craft(c: &Craft<'_>, plain: &[u8], to: &age::x25519::Recipient) -> Vec<u8> {
    let zst = if c.compress {
        zstd::encode_all(plain, 19).unwrap()
    } else {
        plain.to_vec()
    };
    let manifest = json!({
        "format": "pendata-bundle", "format_version": 1, "bundle_id": c.bundle_id,
        "created_at": "2026-11-20T10:00:00+08:00",
        "device": {"id": c.device, "name": c.name, "public_key": hex(c.key.verifying_key().as_bytes())},
        "sequence": {"from": c.from, "to": c.to}, "kind": "incremental",
        "petugas": [c.petugas], "forms": [{"id": "keluarga", "version": c.form_version}],
        "counts": {"records": c.records, "revisions": c.revisions, "attachments": 0},
        "parts": [{
            "path": "revisions.jsonl.zst", "size": zst.len(), "sha256": hex(&Sha256::digest(&zst)),
            "plain_size": c.declared_plain.unwrap_or(plain.len() as u64),
            "plain_sha256": hex(&Sha256::digest(plain)),
        }],
    });
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    let sig = format!("{}\n", hex(&c.key.sign(&manifest).to_bytes()));
    let mut tar = tar::Builder::new(Vec::new());
    for (n, b) in [
        ("manifest.json", &manifest[..]),
        ("manifest.sig", sig.as_bytes()),
        ("revisions.jsonl.zst", &zst[..]),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(b.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, n, b).unwrap();
    }
    let plain = tar.into_inner().unwrap();
    let enc = age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).unwrap();
    std::io::Write::write_all(&mut w, &plain).unwrap();
    w.finish().unwrap();
    out
}

/// The issue's bomb, small: one revision line repeated `n` times, by tablet `t` (its own key).
fn bomb(t: &SynthTablet, n: u64, declared: Option<u64>, to: &age::x25519::Recipient) -> Vec<u8> {
    let one = line(t, record(9999), 1, json!({"catatan": "x"}));
    let mut plain = Vec::with_capacity((one.len() + 1) * n as usize);
    for _ in 0..n {
        plain.extend_from_slice(&one);
        plain.push(b'\n');
    }
    craft(
        &Craft {
            key: &t.key,
            device: t.id,
            name: &t.name,
            bundle_id: Uuid::now_v7(),
            from: 1,
            to: 1,
            petugas: &t.petugas,
            form_version: t.form_version,
            declared_plain: declared,
            revisions: n,
            records: 1,
            compress: true,
        },
        &plain,
        to,
    )
}

/// Two good bundles of an approved tablet, on the stick: what a bad file must not cost.
fn two_good(r: &Reg, stick: &Path) -> (Vec<PathBuf>, Vec<Uuid>) {
    let mut t = tablet(1);
    r.enrol(&t);
    let mut rng = Rng::new(5);
    let mut files = Vec::new();
    let mut ids = Vec::new();
    for k in 0..2u128 {
        ids.push(record(k));
        finalize(&mut t, &mut rng, record(k));
        let f = stick.join(format!("good-{k}.age"));
        std::fs::write(&f, t.bundle(&[r.recipient()]).unwrap()).unwrap();
        files.push(f);
    }
    (files, ids)
}

fn refused(o: &FileOutcome) -> &str {
    match o {
        FileOutcome::Refused { reason } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_bomb_from_an_unknown_device_is_held_unread_and_refused_within_the_limits_once_approved() {
    let mut r = registry();
    r.reg.limits.max_plain_bytes = 1 << 20;
    let stick = r.stick();
    let (mut files, good) = two_good(&r, &stick);
    // 40 000 lines of ~400 bytes: 16 MB decompressed from a few KB. The registry's limit is 1 MiB.
    let stranger = tablet(66);
    let b = bomb(&stranger, 40_000, None, &r.recipient());
    assert!(b.len() < 100_000, "{}", b.len());
    files.insert(0, stick.join("bomb.age"));
    std::fs::write(&files[0], &b).unwrap();

    // Another stranger's bundle whose lines are not even zstd: only a reader that looked past the
    // manifest could tell.
    let other = tablet(67);
    let junk = craft(
        &Craft {
            key: &other.key,
            device: other.id,
            name: &other.name,
            bundle_id: Uuid::now_v7(),
            from: 1,
            to: 1,
            petugas: &other.petugas,
            form_version: other.form_version,
            declared_plain: Some(1 << 40),
            revisions: 1,
            records: 1,
            compress: false,
        },
        &[0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff],
        &r.recipient(),
    );
    files.push(stick.join("not-zstd.age"));
    std::fs::write(&files[3], &junk).unwrap();

    let out = r.reg.import_files(&files, now(), |_, _, _| {}).unwrap();
    // Held after its signed manifest alone: the limit it breaks was never met, nothing decompressed.
    let FileOutcome::Held { device, .. } = &out[0] else {
        panic!("{:?}", out[0])
    };
    assert!(matches!(out[3], FileOutcome::Held { .. }), "{:?}", out[3]);
    assert_eq!(device.state, DeviceState::Pending);
    assert!(matches!(out[1], FileOutcome::Merged(_)));
    assert!(matches!(out[2], FileOutcome::Merged(_)));
    for id in good {
        assert_eq!(r.state(id), Some(FamilyState::Accepted));
    }
    // Approved, it is read within the limits: refused with the reason, nothing merged, still held.
    let (_, merged) = r
        .reg
        .approve(&stranger.id.simple().to_string(), now())
        .unwrap();
    let reason = refused(&merged[0].1);
    assert!(reason.contains("limit"), "{reason}");
    assert!(reason.contains("more than the 1048576"), "{reason}");
    assert_eq!(r.state(record(9999)), None);
    let still: Vec<_> = r.reg.pending_bundles().unwrap();
    assert_eq!(still.iter().filter(|p| p.device == stranger.id).count(), 1);
}

#[test]
fn a_manifest_that_lies_about_its_size_is_refused_one_byte_past_what_it_declares() {
    let r = registry();
    let t = tablet(2);
    r.enrol(&t);
    // An approved device's own key, a manifest declaring 4 KB for 16 MB of lines: decompression
    // stops one byte past what it declares.
    let b = bomb(&t, 40_000, Some(4096), &r.recipient());
    let o = r.reg.import_bytes(&b, "liar.age", now()).unwrap();
    let reason = refused(&o);
    assert!(reason.contains("more than the 4096 bytes"), "{reason}");
    // More lines than the manifest counts: refused at the first one past them.
    let one = line(&t, record(1), 1, json!({}));
    let plain = [&one[..], b"\n", &one[..], b"\n"].concat();
    let b = craft(
        &Craft {
            key: &t.key,
            device: t.id,
            name: &t.name,
            bundle_id: Uuid::now_v7(),
            from: 1,
            to: 1,
            petugas: &t.petugas,
            form_version: t.form_version,
            declared_plain: None,
            revisions: 1,
            records: 1,
            compress: true,
        },
        &plain,
        &r.recipient(),
    );
    let reason = refused(&r.reg.import_bytes(&b, "more.age", now()).unwrap()).to_string();
    assert!(reason.contains("more lines than the 1"), "{reason}");
}

#[cfg(unix)]
#[test]
fn a_pipe_a_device_and_a_file_too_large_are_refused_unread_and_the_stick_imports() {
    let mut r = registry();
    let stick = r.stick();
    let (good, ids) = two_good(&r, &stick);
    let fifo = stick.join("x.age");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let big = stick.join("big.age");
    std::fs::write(&big, vec![b'j'; 300_000]).unwrap();
    r.reg.limits.max_file_bytes = 200_000;
    let files = vec![
        fifo.clone(),
        PathBuf::from("/dev/zero"),
        big,
        good[0].clone(),
        good[1].clone(),
    ];
    let out = r.reg.import_files(&files, now(), |_, _, _| {}).unwrap();
    assert!(refused(&out[0]).contains("not a regular file"));
    assert!(refused(&out[1]).contains("not a regular file"));
    assert!(refused(&out[2]).contains("more than the 200000"));
    for id in ids {
        assert_eq!(r.state(id), Some(FamilyState::Accepted));
    }
    // A folder holding the pipe: the walk does not even list it.
    let found = pendata::registry::import::bundle_files(std::slice::from_ref(&stick)).unwrap();
    assert!(!found.contains(&fifo));
}

#[test]
fn a_file_name_of_245_characters_is_held_under_a_short_name_and_the_stick_imports() {
    let r = registry();
    let stick = r.stick();
    let (mut files, ids) = two_good(&r, &stick);
    let mut stranger = tablet(77);
    finalize(&mut stranger, &mut Rng::new(8), record(500));
    let long = stick.join(format!("{}.age", "n".repeat(241)));
    std::fs::write(&long, stranger.bundle(&[r.recipient()]).unwrap()).unwrap();
    files.push(long);
    for _ in 0..2 {
        let out = r.reg.import_files(&files, now(), |_, _, _| {}).unwrap();
        assert!(matches!(out[2], FileOutcome::Held { .. }), "{:?}", out[2]);
        for id in &ids {
            assert_eq!(r.state(*id), Some(FamilyState::Accepted));
        }
    }
    let held = r.pending_files();
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].len() <= 40, "{held:?}");
    // Approved: the held copy is merged and removed.
    r.reg
        .approve(&stranger.id.simple().to_string(), now())
        .unwrap();
    assert_eq!(r.state(record(500)), Some(FamilyState::Accepted));
    assert!(r.pending_files().is_empty());
}

#[test]
fn a_line_past_the_limit_quarantines_its_family_and_the_other_five_arrive() {
    let mut r = registry();
    r.reg.limits.max_line_bytes = 64 * 1024;
    let mut t = tablet(3);
    r.enrol(&t);
    let mut rng = Rng::new(9);
    for k in 0..5u128 {
        finalize(&mut t, &mut rng, record(100 + k));
    }
    let mut lines = Vec::new();
    let b = t.bundle(&[r.recipient()]).unwrap();
    pendata::bundle::read::read(&b[..], std::slice::from_ref(&r.reg.keys.identity), |i| {
        if let pendata::bundle::read::Item::Revision { raw, .. } = i {
            lines.push(raw.to_vec());
        }
        Ok(())
    })
    .unwrap();
    // A sixth family with a 100 KB note, a seventh whose answers are not an object.
    lines.push(line(
        &t,
        record(105),
        6,
        json!({"catatan": "panjang ".repeat(12_500)}),
    ));
    lines.push(line(&t, record(106), 7, json!(["not", "answers"])));
    let b = t
        .make(
            1,
            7,
            &lines,
            &[r.recipient()],
            pendata::bundle::manifest::ExportKind::Range,
        )
        .unwrap();
    let o = r.reg.import_bytes(&b, "t3.age", now()).unwrap();
    let FileOutcome::Merged(e) = o else {
        panic!("the bundle must be merged: {o:?}")
    };
    assert_eq!((e.merged.accepted, e.merged.quarantined), (5, 2));
    for k in 0..5u128 {
        assert_eq!(r.state(record(100 + k)), Some(FamilyState::Accepted));
    }
    let q = r.reg.quarantine(false).unwrap();
    let codes: Vec<(u64, Uuid, &str)> = q
        .iter()
        .map(|q| (q.seq, q.record, q.reasons[0].code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (6, record(105), "line_too_long"),
            (7, record(106), "not_a_revision")
        ]
    );
    // The receipt tells the tablet why, in both languages; the line was not kept, so it cannot be
    // released, only rejected.
    let (receipt, _, _) = r.reg.receipt(&t.id.simple().to_string(), now()).unwrap();
    let json = serde_json::to_string(&receipt).unwrap();
    assert!(json.contains("65536"), "{json}");
    let key = format!("{}:6", &t.id.simple().to_string()[..8]);
    let e = r.reg.decide_quarantine(&key, true, now()).unwrap_err();
    assert!(e.to_string().contains("cannot be released"), "{e}");
    let q = r.reg.decide_quarantine(&key, false, now()).unwrap();
    assert_eq!(q.state, QuarantineState::Rejected);
}

#[test]
fn a_reused_bundle_id_with_other_contents_is_a_forgery_not_already_imported() {
    let r = registry();
    let mut t = tablet(4);
    r.enrol(&t);
    finalize(&mut t, &mut Rng::new(2), record(300));
    let real = t.bundle(&[r.recipient()]).unwrap();
    let FileOutcome::Merged(e) = r.reg.import_bytes(&real, "real.age", now()).unwrap() else {
        panic!()
    };
    // The same file again is what it was: already imported.
    assert!(matches!(
        r.reg.import_bytes(&real, "real.age", now()).unwrap(),
        FileOutcome::AlreadyImported { .. }
    ));
    // A stranger's fresh key, and the device's own key with other contents, under the real id.
    let stranger = tablet(99);
    for (key, device, name) in [
        (&stranger.key, stranger.id, "Stranger"),
        (&t.key, t.id, t.name.as_str()),
    ] {
        let one = line(&t, record(301), 1, json!({}));
        let b = craft(
            &Craft {
                key,
                device,
                name,
                bundle_id: e.bundle_id,
                from: 1,
                to: 1,
                petugas: &t.petugas,
                form_version: t.form_version,
                declared_plain: None,
                revisions: 1,
                records: 1,
                compress: true,
            },
            &[&one[..], b"\n"].concat(),
            &r.recipient(),
        );
        let o = r.reg.import_bytes(&b, "forged.age", now()).unwrap();
        assert!(refused(&o).contains("FORGERY"), "{o:?}");
    }
    assert_eq!(r.state(record(301)), None);
    // A held bundle's id, reused by yet another key: refused, not "already held".
    let mut waiting = tablet(98);
    finalize(&mut waiting, &mut Rng::new(3), record(302));
    let held = waiting.bundle(&[r.recipient()]).unwrap();
    assert!(matches!(
        r.reg.import_bytes(&held, "held.age", now()).unwrap(),
        FileOutcome::Held { .. }
    ));
    let held_id = r.reg.pending_bundles().unwrap()[0].bundle_id;
    let one = line(&stranger, record(303), 1, json!({}));
    let b = craft(
        &Craft {
            key: &stranger.key,
            device: stranger.id,
            name: "Stranger",
            bundle_id: held_id,
            from: 1,
            to: 1,
            petugas: &stranger.petugas,
            form_version: stranger.form_version,
            declared_plain: None,
            revisions: 1,
            records: 1,
            compress: true,
        },
        &[&one[..], b"\n"].concat(),
        &r.recipient(),
    );
    let o = r.reg.import_bytes(&b, "forged-held.age", now()).unwrap();
    assert!(refused(&o).contains("FORGERY"), "{o:?}");
}

#[test]
fn a_revision_before_the_start_of_its_declared_range_is_refused() {
    let r = registry();
    let mut t = tablet(5);
    r.enrol(&t);
    let seq = finalize(&mut t, &mut Rng::new(4), record(400));
    let b = t.bundle(&[r.recipient()]).unwrap();
    let mut lines = Vec::new();
    pendata::bundle::read::read(&b[..], std::slice::from_ref(&r.reg.keys.identity), |i| {
        if let pendata::bundle::read::Item::Revision { raw, .. } = i {
            lines.push(raw.to_vec());
        }
        Ok(())
    })
    .unwrap();
    let late = t
        .make(
            seq + 1,
            seq + 5,
            &lines,
            &[r.recipient()],
            pendata::bundle::manifest::ExportKind::Range,
        )
        .unwrap();
    let o = r.reg.import_bytes(&late, "late.age", now()).unwrap();
    assert!(refused(&o).contains("outside the bundle's range"), "{o:?}");
}

#[test]
fn an_orphan_held_copy_is_removed_by_the_next_import() {
    // What a kill between an approval's commit and its removal of the copy (or an import's copy and
    // its commit) leaves behind.
    let r = registry();
    let pending = r.reg.dir.join("pending");
    std::fs::create_dir_all(&pending).unwrap();
    std::fs::write(pending.join("0193aaaa000070008000000000000001.age"), b"x").unwrap();
    std::fs::write(pending.join(".left.age.partial"), b"x").unwrap();
    let mut stranger = tablet(88);
    finalize(&mut stranger, &mut Rng::new(1), record(800));
    let stick = r.stick();
    let f = stick.join("s.age");
    std::fs::write(&f, stranger.bundle(&[r.recipient()]).unwrap()).unwrap();
    r.reg.import_files(&[f], now(), |_, _, _| {}).unwrap();
    let held = r.reg.pending_bundles().unwrap();
    assert_eq!(
        r.pending_files(),
        vec![held[0].file.trim_start_matches("pending/").to_string()]
    );
}

#[test]
fn a_device_name_with_terminal_codes_reaches_no_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    let out = common::run(None, &["registry", "init", common::p(&reg)], "");
    common::code(&out, 0);
    let keys = registry::load(&reg).unwrap();
    let mut t = tablet(6);
    t.name = "Tablet\u{1b}[2J\u{1b}]0;X\u{7}\nfake line\u{202e}\u{0}".into();
    finalize(&mut t, &mut Rng::new(6), record(600));
    let f = tmp.path().join("hostile.age");
    std::fs::write(&f, t.bundle(&[keys.identity.to_public()]).unwrap()).unwrap();
    let import = common::run(
        None,
        &["registry", "import", common::p(&reg), common::p(&f)],
        "",
    );
    let said = common::code(&import, 1);
    let list = common::run(None, &["registry", "devices", common::p(&reg)], "");
    let listed = common::code(&list, 0);
    let json = common::run(
        None,
        &["registry", "devices", common::p(&reg), "list", "--json"],
        "",
    );
    let as_json = common::code(&json, 0);
    for text in [&said, &listed, &as_json] {
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\u{0}', '\u{202e}']),
            "{text:?}"
        );
        assert!(!text.lines().any(|l| l.starts_with("fake line")), "{text}");
    }
    assert!(listed.contains("Tablet\u{fffd}[2J"), "{listed}");
}

#[cfg(unix)]
#[test]
fn dev_zero_given_to_import_or_inspect_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    common::code(
        &common::run(None, &["registry", "init", common::p(&reg)], ""),
        0,
    );
    let out = common::run(
        None,
        &["registry", "import", common::p(&reg), "/dev/zero"],
        "",
    );
    let said = common::code(&out, 1);
    assert!(said.contains("not a regular file"), "{said}");
    let out = common::run(None, &["bundle", "inspect", "/dev/zero"], "");
    let said = common::code(&out, 2);
    assert!(said.contains("not a regular file"), "{said}");
}
