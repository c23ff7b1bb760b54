//! The fuzz targets' seed corpora (`tests/fuzz/seeds/`, docs/fuzzing.md) are real: a bundle a tablet
//! exported, its decrypted archive and its parts, a receipt, families' answers, the household form's
//! expressions. This test checks that every seed still goes deep with today's code (a bundle seed
//! verifies, a receipt opens, an expression parses), so the fuzzers start past the first refusal; with
//! `PENDATA_FUZZ_SEEDS=write` it makes them again from a real export first:
//!
//! ```sh
//! PENDATA_FUZZ_SEEDS=write cargo test --locked --test fuzz_seeds
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "fuzz/src/inner.rs"]
mod inner;
#[path = "fuzz/src/keys.rs"]
mod keys;
#[path = "fuzz/src/package.rs"]
mod package;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use pendata::app::sync::{ExportOutcome, Selection};
use pendata::app::{Device, demo};
use pendata::bundle::keys::RegistryPub;
use pendata::bundle::manifest::SeqRange;
use pendata::bundle::read::{self, Item};
use pendata::bundle::receipt::{Receipt, Rejection};
use pendata::form::catalog::Catalog;
use pendata::model::Localized;
use serde_json::{Map, Value, json};

fn seeds(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/seeds")
        .join(target)
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap()
}

fn receipt_key() -> SigningKey {
    SigningKey::from_bytes(&keys::RECEIPT_KEY_SEED)
}

/// Reads a bundle file with the targets' identity: the verdict and the revision lines seen.
fn read_bundle(bytes: &[u8]) -> Result<(read::Verified, Vec<Vec<u8>>), String> {
    let mut lines = Vec::new();
    let v = read::read(bytes, &[keys::age_identity()], |item| {
        if let Item::Revision { raw, .. } = item {
            lines.push(raw.to_vec());
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok((v, lines))
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_fuzz_seeds_are_real_and_go_past_the_first_check() {
    if std::env::var("PENDATA_FUZZ_SEEDS").as_deref() == Ok("write") {
        write_seeds();
    }
    let hint = "make them again: PENDATA_FUZZ_SEEDS=write cargo test --locked --test fuzz_seeds";

    let bundles = files(&seeds("bundle_file"));
    assert!(!bundles.is_empty(), "{hint}");
    for (name, bytes) in &bundles {
        let (v, lines) = read_bundle(bytes).unwrap_or_else(|e| panic!("{name}: {e}; {hint}"));
        assert!(
            v.manifest.counts.revisions > 0 && lines.len() as u64 == v.manifest.counts.revisions
        );
    }

    let inner_seeds = files(&seeds("bundle_inner"));
    let flags: BTreeSet<u8> = inner_seeds.iter().map(|(_, b)| b[0]).collect();
    for want in [inner::RAW_TAR, inner::FIX_PARTS | inner::FIX_COUNTS] {
        assert!(
            flags.contains(&want),
            "no bundle_inner seed with flags {want:#x}; {hint}"
        );
    }
    let recipient = keys::age_identity().to_public();
    for (name, bytes) in &inner_seeds {
        let plain = inner::archive(bytes).unwrap();
        let file = inner::encrypt(&plain, &recipient).unwrap();
        let (v, _) = read_bundle(&file).unwrap_or_else(|e| panic!("{name}: {e}; {hint}"));
        // Of today's format: each line's hash signed (format 3 derives revisions.sha256 from the
        // lines), checked by the read.
        assert!(
            v.manifest.format_version == pendata::bundle::FORMAT_VERSION && v.line_hashes.is_some(),
            "{name}: not a format {} bundle; {hint}",
            pendata::bundle::FORMAT_VERSION
        );
        if bytes[0] & inner::RAW_TAR == 0 {
            let s = inner::split(bytes).unwrap();
            assert_eq!(v.manifest.counts.attachments, s.attachments.len() as u64);
            assert_eq!(
                v.manifest.device.public_key,
                pendata::bundle::hex(inner::device_key().verifying_key().as_bytes())
            );
        }
    }

    let receipts = files(&seeds("receipt"));
    assert!(!receipts.is_empty(), "{hint}");
    for (name, bytes) in &receipts {
        let r = Receipt::open(bytes, &receipt_key().verifying_key())
            .unwrap_or_else(|e| panic!("{name}: {e}; {hint}"));
        assert!(!r.accepted.is_empty() || !r.rejected.is_empty());
    }

    let catalog = Catalog::shared().unwrap();
    let form = catalog.latest("keluarga").unwrap();
    let answers = files(&seeds("answers"));
    assert!(answers.len() >= 3, "{hint}");
    let mut passing = 0;
    for (name, bytes) in &answers {
        let Value::Object(a) = serde_json::from_slice(bytes).unwrap() else {
            panic!("{name} is not a JSON object");
        };
        let ev = pendata::form::evaluate(form, &a, now().date_naive());
        passing += usize::from(!ev.has_errors());
    }
    assert!(passing >= 1, "at least one family passes every rule");

    let packages = files(&seeds("package"));
    assert!(!packages.is_empty(), "{hint}");
    let identity = keys::age_identity();
    for (name, bytes) in &packages {
        let file = package::file(bytes, &identity.to_public()).unwrap();
        let p = pendata::bundle::package::Package::open(
            &file,
            &identity,
            &package::registry_key().verifying_key(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}; {hint}"));
        assert!(!p.families.is_empty(), "{name}");
    }

    let upward = files(&seeds("upward"));
    assert!(!upward.is_empty(), "{hint}");
    for (name, bytes) in &upward {
        let file = package::upward_file(bytes, &identity.to_public()).unwrap();
        let (u, _) = pendata::bundle::upward::Upward::open(&file, std::slice::from_ref(&identity))
            .unwrap_or_else(|e| panic!("{name}: {e}; {hint}"));
        let verified = u
            .verified()
            .unwrap_or_else(|e| panic!("{name}: {e}; {hint}"));
        assert!(!verified.is_empty(), "{name}");
    }

    let expressions = files(&seeds("expression"));
    assert!(expressions.len() >= 20, "{hint}");
    for (name, bytes) in &expressions {
        let src = std::str::from_utf8(bytes).unwrap();
        pendata::form::expr::parse(src).unwrap_or_else(|e| panic!("{name} `{src}`: {e}"));
    }
}

/// Clears a seed folder and writes `seeds` into it, named by their index and a word.
fn put(target: &str, seeds_of: &[(&str, Vec<u8>)]) {
    let dir = seeds(target);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (word, bytes)) in seeds_of.iter().enumerate() {
        std::fs::write(dir.join(format!("{i:02}-{word}")), bytes).unwrap();
    }
}

/// Makes every target's seeds from one real export.
fn write_seeds() {
    let (bundle, range) = export();
    put("bundle_file", &[("export.age", bundle.clone())]);
    let lines = write_inner_seeds(&bundle);
    write_receipt_seeds(&lines, range);

    // Answers: the exported families, the test fixtures.
    let mut answers = Vec::new();
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).unwrap();
        answers.push((
            "family.json",
            serde_json::to_vec_pretty(&v["answers"]).unwrap(),
        ));
    }
    for fixture in ["family_valid.json", "broken.json"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        answers.push((fixture, std::fs::read(path).unwrap()));
    }
    write_package_seeds(&answers);
    write_upward_seeds(&bundle);
    put("answers", &answers);

    // Every expression of the household form, once each.
    let form: Value = serde_json::from_str(
        Catalog::files()
            .find(|(name, _)| name.ends_with("keluarga.json"))
            .unwrap()
            .1,
    )
    .unwrap();
    let mut found = BTreeSet::new();
    expressions(&form, &mut found);
    let expr_seeds: Vec<(&str, Vec<u8>)> = found
        .into_iter()
        .map(|e| ("expr", e.into_bytes()))
        .collect();
    put("expression", &expr_seeds);
}

/// A work package listing the families whose answers are `answers`, as its signed payload (the target
/// signs and encrypts it), and the same sealed into a file.
fn write_package_seeds(answers: &[(&str, Vec<u8>)]) {
    use pendata::bundle::package::{
        PACKAGE_FORMAT, PACKAGE_FORMAT_VERSION, Package, PackagedFamily,
    };
    let families = answers
        .iter()
        .filter(|(word, _)| *word == "family.json")
        .map(|(_, bytes)| PackagedFamily {
            family: uuid::Uuid::now_v7(),
            base: "ab".repeat(32),
            form_id: "keluarga".into(),
            form_version: 2026120301,
            answers: serde_json::from_slice(bytes).unwrap(),
        })
        .collect();
    let p = Package {
        format: PACKAGE_FORMAT.into(),
        format_version: PACKAGE_FORMAT_VERSION,
        package_id: uuid::Uuid::now_v7(),
        created_at: now(),
        registry: "Dinas Sosial Fuzz".into(),
        device: uuid::Uuid::now_v7(),
        desa: vec!["64.72.01.1001".into()],
        due: None,
        expires: now().date_naive() + chrono::Days::new(90),
        note: Some("kunjungan bulan ini".into()),
        forms: Vec::new(),
        families,
    };
    let mut payload = vec![1u8];
    payload.extend(serde_json::to_vec(&p).unwrap());
    let sealed = p
        .seal(&package::registry_key(), &keys::age_identity().to_public())
        .unwrap();
    let mut raw = vec![package::RAW_FILE];
    raw.extend(sealed);
    put("package", &[("payload", payload), ("file.age", raw)]);
}

/// An upward bundle forwarding every family of the exported bundle (its lines with the bundle's signed
/// manifest and line hashes), as its payload (the target signs it with its registry key, which the
/// payload names, and encrypts it) and the same sealed into a file.
fn write_upward_seeds(bundle: &[u8]) {
    use pendata::bundle::upward::{
        ApprovedDevice, Forwarded, ForwardedRevision, Sender, SignedBundle, UPWARD_FORMAT,
        UPWARD_FORMAT_VERSION, Upward,
    };
    let (v, lines) = read_bundle(bundle).unwrap();
    let hashes = v.line_hashes.clone().expect("a format 2 bundle");
    let families = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let rev: Value = serde_json::from_slice(line).unwrap();
            Forwarded {
                position: i as u64 + 1,
                record: rev["record"]
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or_else(uuid::Uuid::now_v7),
                minutes: "BA-01/MD/2026".into(),
                date: now().date_naive(),
                decided_by: "Operator Fuzz".into(),
                decided_at: now(),
                revisions: vec![ForwardedRevision {
                    bundle: v.manifest.bundle_id,
                    line: String::from_utf8(line.clone()).unwrap(),
                }],
            }
        })
        .collect();
    let up = Upward {
        format: UPWARD_FORMAT.into(),
        format_version: UPWARD_FORMAT_VERSION,
        bundle_id: uuid::Uuid::now_v7(),
        created_at: now(),
        registry: Sender {
            name: "Dinas Sosial Kota Samarinda".into(),
            wilayah: Some("64.72".into()),
            signing_key: pendata::bundle::hex(package::registry_key().verifying_key().as_bytes()),
            demo: false,
        },
        sequence: SeqRange {
            from: 1,
            to: lines.len() as u64,
        },
        kind: pendata::bundle::manifest::ExportKind::Incremental,
        devices: vec![ApprovedDevice {
            id: v.manifest.device.id,
            name: v.manifest.device.name.clone(),
            public_key: v.manifest.device.public_key.clone(),
        }],
        custody: vec![SignedBundle {
            bundle_id: v.manifest.bundle_id,
            manifest: String::from_utf8_lossy(&v.manifest_bytes).into_owned(),
            signature: pendata::bundle::hex(&v.signature),
            line_hashes: pendata::bundle::hex(&hashes),
        }],
        families,
        withdrawn: Vec::new(),
    };
    let mut payload = vec![1u8];
    payload.extend(serde_json::to_vec(&up).unwrap());
    let sealed = up
        .seal(
            &package::registry_key(),
            &[keys::age_identity().to_public()],
        )
        .unwrap();
    let mut raw = vec![package::RAW_FILE];
    raw.extend(sealed);
    put("upward", &[("payload", payload), ("file.age", raw)]);
}

/// A tablet with three demo families, one with a photo and a correction, exported to the targets'
/// registry key: the bundle file and the sequence range it covers.
fn export() -> (Vec<u8>, SeqRange) {
    let tmp = tempfile::tempdir().unwrap();
    let (device, _) = Device::init(&tmp.path().join("tablet"), "Tablet Fuzz 01").unwrap();
    device.add_petugas("P001", "Siti", "246810").unwrap();
    demo::fill(&device, "P001", 3, 11, 0).unwrap();
    let public = RegistryPub::new(
        "Registri Fuzz",
        now(),
        &[keys::age_identity().to_public()],
        &receipt_key().verifying_key(),
    );
    device
        .set_registry_key(public.to_json().as_bytes())
        .unwrap();
    let head = device.list(None).unwrap().into_iter().next().unwrap();
    let photo = tmp.path().join("rumah.jpg");
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend((0..300u32).map(|i| (i * 7 % 251) as u8));
    std::fs::write(&photo, &jpeg).unwrap();
    let hash = device.attach_file(&photo).unwrap();
    let mut patch = Map::new();
    patch.insert("foto_depan".into(), json!(hash));
    device
        .set_answers(head.id, "P001", patch, Some("foto rumah"))
        .unwrap();
    device
        .finalize(head.id, "P001", true, now().date_naive())
        .unwrap();
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    let ExportOutcome::Written(e) = device
        .export(&stick, Selection::All, "P001", &mut |_, _| {})
        .unwrap()
    else {
        panic!("nothing exported");
    };
    let range = SeqRange {
        from: e.from,
        to: e.to,
    };
    (std::fs::read(&e.path).unwrap(), range)
}

/// The decrypted archive, whole and in parts; returns the revision lines.
fn write_inner_seeds(bundle: &[u8]) -> Vec<u8> {
    let decryptor = age::Decryptor::new_buffered(bundle).unwrap();
    let mut plain = Vec::new();
    decryptor
        .decrypt(std::iter::once(&keys::age_identity() as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    let mut parts = std::collections::BTreeMap::new();
    for entry in tar::Archive::new(plain.as_slice()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        parts.insert(name, bytes);
    }
    let zst = parts["revisions.jsonl.zst"].clone();
    let lines = zstd::decode_all(zst.as_slice()).unwrap();
    let attachments: Vec<&[u8]> = parts
        .iter()
        .filter(|(n, _)| n.starts_with("attachments/"))
        .map(|(_, b)| b.as_slice())
        .collect();
    assert_eq!(attachments.len(), 1, "the photo travels");
    let structured = |flags: u8, revisions: &[u8], attachments: Vec<&[u8]>| {
        inner::join(&inner::Sections {
            flags,
            manifest: &parts["manifest.json"],
            revisions,
            attachments,
        })
    };
    let mut raw = vec![inner::RAW_TAR];
    raw.extend_from_slice(&plain);
    let fixed = inner::FIX_PARTS | inner::FIX_COUNTS;
    put(
        "bundle_inner",
        &[
            ("raw-tar", raw),
            ("parts", structured(fixed, &lines, attachments.clone())),
            ("parts-no-photo", structured(fixed, &lines, Vec::new())),
            (
                "zstd",
                structured(inner::FIX_PARTS | inner::RAW_ZSTD, &zst, attachments),
            ),
        ],
    );
    lines
}

/// Receipts for the export: the range accepted; one family's revision rejected with reasons.
fn write_receipt_seeds(lines: &[u8], e: SeqRange) {
    let first: Value =
        serde_json::from_slice(lines.split(|&b| b == b'\n').next().unwrap()).unwrap();
    let device_id: uuid::Uuid = serde_json::from_value(first["device"].clone()).unwrap();
    let accepted = Receipt::new(
        "Registri Fuzz",
        device_id,
        now(),
        vec![SeqRange {
            from: e.from,
            to: e.to,
        }],
        vec![],
    );
    let rejected = Receipt::new(
        "Registri Fuzz",
        device_id,
        now(),
        vec![SeqRange {
            from: e.from,
            to: e.to - 1,
        }],
        vec![Rejection {
            record: serde_json::from_value(first["record"].clone()).unwrap(),
            revision: u32::try_from(first["number"].as_u64().unwrap()).unwrap(),
            seq: first["seq"].as_u64().unwrap(),
            reasons: vec![Localized::new("NIK ganda", "duplicate NIK")],
        }],
    );
    put(
        "receipt",
        &[
            ("accepted.json", accepted.sign(&receipt_key())),
            ("rejected.json", rejected.sign(&receipt_key())),
        ],
    );
}

/// The expression strings of a form file: relevance, constraints, calculations, filters, counts.
fn expressions(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let is_expr = matches!(
                    k.as_str(),
                    "relevant"
                        | "constraint"
                        | "rule"
                        | "calculation"
                        | "choice_filter"
                        | "repeat_count"
                        | "required"
                );
                match v {
                    Value::String(s) if is_expr => {
                        out.insert(s.clone());
                    }
                    _ => expressions(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}
