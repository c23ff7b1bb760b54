//! Bad bundles: truncated at every length class, a flipped byte anywhere, the wrong recipient, a
//! signature that does not match, manifest hashes that lie (re-signed, so only the hashes catch it), old
//! and new format versions, extra members — each refused with its reason, never a panic. A proptest
//! mutator then throws random damage at the reader.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read, Write};

use ed25519_dalek::{Signer, SigningKey};
use pendata::app::sync::{ExportOutcome, Selection};
use pendata::app::{Device, demo};
use pendata::bundle::read;
use pendata::bundle::{BundleError, hex};
use pendata::registry::{self, RegistryKeys};
use proptest::prelude::*;

struct Fixture {
    _tmp: tempfile::TempDir,
    bundle: Vec<u8>,
    keys: RegistryKeys,
    device_key: SigningKey,
}

fn fixture(families: usize) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let now = chrono::Local::now().fixed_offset();
    let (device, _) = Device::init(&tmp.path().join("tablet"), "T1").unwrap();
    device.add_petugas("P001", "Siti", "246810").unwrap();
    demo::fill(&device, "P001", families, 3, 0).unwrap();
    registry::init(&tmp.path().join("reg"), "Kaltim", now).unwrap();
    let keys = registry::load(&tmp.path().join("reg")).unwrap();
    device
        .set_registry_key(&std::fs::read(tmp.path().join("reg/registry.pub")).unwrap())
        .unwrap();
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    let ExportOutcome::Written(e) = device
        .export(&stick, Selection::All, "P001", &mut |_, _| {})
        .unwrap()
    else {
        panic!("nothing exported")
    };
    let bundle = std::fs::read(&e.path).unwrap();
    let device_key = device.store.signing_key().unwrap();
    Fixture {
        _tmp: tmp,
        bundle,
        keys,
        device_key,
    }
}

fn check(f: &Fixture, bytes: &[u8]) -> Result<(), BundleError> {
    read::read(bytes, std::slice::from_ref(&f.keys.identity), |_| Ok(())).map(|_| ())
}

/// The fixture's bundle decrypted: its tar archive.
fn decrypted(f: &Fixture) -> Vec<u8> {
    let dec = age::Decryptor::new(&f.bundle[..]).unwrap();
    let mut plain = Vec::new();
    dec.decrypt(std::iter::once(&f.keys.identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    plain
}

/// Decrypts, lets `edit` change the archive members, re-signs the manifest with `signer` and encrypts to
/// the registry again: a bundle only the inner checks can catch.
fn repack(
    f: &Fixture,
    signer: Option<&SigningKey>,
    edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>),
) -> Vec<u8> {
    let plain = decrypted(f);
    let mut ar = tar::Archive::new(&plain[..]);
    let mut members: Vec<(String, Vec<u8>)> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut b = Vec::new();
            e.read_to_end(&mut b).unwrap();
            (name, b)
        })
        .collect();
    edit(&mut members);
    let manifest = members
        .iter()
        .find(|(n, _)| n == "manifest.json")
        .map(|(_, b)| b.clone())
        .unwrap();
    if let Some(signer) = signer {
        let sig = format!("{}\n", hex(&signer.sign(&manifest).to_bytes()));
        for (n, b) in members.iter_mut() {
            if n == "manifest.sig" {
                *b = sig.clone().into_bytes();
            }
        }
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (n, b) in &members {
        let mut h = tar::Header::new_ustar();
        h.set_size(b.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, n, &b[..]).unwrap();
    }
    let plain = tar.into_inner().unwrap();
    let enc = age::Encryptor::with_recipients(std::iter::once(
        &f.keys.identity.to_public() as &dyn age::Recipient
    ))
    .unwrap();
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).unwrap();
    w.write_all(&plain).unwrap();
    w.finish().unwrap();
    out
}

fn edit_manifest(members: &mut [(String, Vec<u8>)], edit: impl FnOnce(&mut serde_json::Value)) {
    let m = members
        .iter_mut()
        .find(|(n, _)| n == "manifest.json")
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&m.1).unwrap();
    edit(&mut v);
    m.1 = serde_json::to_vec_pretty(&v).unwrap();
}

#[test]
fn the_fixture_itself_verifies_and_a_repack_without_changes_too() {
    let f = fixture(6);
    check(&f, &f.bundle).unwrap();
    check(&f, &repack(&f, Some(&f.device_key), |_| {})).unwrap();
    let out = read::outside(&f.bundle[..]).unwrap();
    assert_eq!(out.recipients, vec!["X25519".to_string()]);
    assert_eq!(out.size, f.bundle.len() as u64);
}

#[test]
fn truncation_at_every_length_class_is_refused() {
    let f = fixture(6);
    let n = f.bundle.len();
    let header_end = f.bundle.windows(4).position(|w| w == b"\n---").unwrap() + 4;
    let mut lengths = vec![
        0,
        1,
        10,
        21,
        22,
        header_end - 1,
        header_end,
        header_end + 50,
    ];
    lengths.extend([
        header_end + 100,
        n / 4,
        n / 2,
        n.saturating_sub(65 * 1024),
        n - 17,
        n - 16,
        n - 1,
    ]);
    for len in lengths.into_iter().filter(|&l| l < n) {
        let e = check(&f, &f.bundle[..len]).unwrap_err();
        assert!(
            matches!(
                e,
                BundleError::Truncated(_) | BundleError::NotABundle(_) | BundleError::Tampered(_)
            ),
            "length {len}: {e:?}"
        );
        assert!(!e.to_string().is_empty());
        if len == 0 {
            assert!(read::outside(&f.bundle[..0]).is_err());
        }
    }
}

#[test]
fn one_flipped_byte_anywhere_is_refused() {
    let f = fixture(6);
    let n = f.bundle.len();
    let step = (n / 400).max(1);
    let positions: Vec<usize> = (0..200.min(n))
        .chain((200..n).step_by(step))
        .chain([n - 1])
        .collect();
    for p in positions {
        let mut b = f.bundle.clone();
        b[p] ^= 0x01;
        let e = check(&f, &b).expect_err(&format!("flip at {p} of {n} passed"));
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn the_wrong_recipient_cannot_open_it() {
    let f = fixture(3);
    let other = age::x25519::Identity::generate();
    let e = read::read(&f.bundle[..], std::slice::from_ref(&other), |_| Ok(())).unwrap_err();
    assert!(matches!(e, BundleError::Decrypt(_)), "{e:?}");
    assert!(e.to_string().contains("wrong recipient"), "{e}");
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let f = fixture(3);
    let stranger = SigningKey::from_bytes(&[42; 32]);
    let e = check(&f, &repack(&f, Some(&stranger), |_| {})).unwrap_err();
    assert!(matches!(e, BundleError::Signature(_)), "{e:?}");
    // A manifest altered after signing, the old signature kept.
    let altered = repack(&f, None, |m| {
        edit_manifest(m, |v| {
            v["device"]["name"] = serde_json::json!("Tablet Palsu")
        });
    });
    let e = check(&f, &altered).unwrap_err();
    assert!(matches!(e, BundleError::Signature(_)), "{e:?}");
    // A manifest naming another device key, signed by that key: it verifies as that device's bundle,
    // and the registry decides whether it trusts the key (the revisions still name the real device).
    let b = repack(&f, Some(&stranger), |m| {
        edit_manifest(m, |v| {
            v["device"]["public_key"] = serde_json::json!(hex(stranger.verifying_key().as_bytes()));
        });
    });
    let inside = read::read(&b[..], std::slice::from_ref(&f.keys.identity), |_| Ok(())).unwrap();
    assert_eq!(
        inside.manifest.device.public_key,
        hex(stranger.verifying_key().as_bytes())
    );
}

#[test]
fn manifest_hashes_that_lie_are_caught_even_when_signed() {
    let f = fixture(4);
    // A revision line changed, the manifest left as it was (and re-signed): the hash catches it.
    let b = repack(&f, Some(&f.device_key), |m| {
        let r = m
            .iter_mut()
            .find(|(n, _)| n == "revisions.jsonl.zst")
            .unwrap();
        let plain = zstd::decode_all(&r.1[..]).unwrap();
        let text = String::from_utf8(plain)
            .unwrap()
            .replacen("\"P001\"", "\"P999\"", 1);
        r.1 = zstd::encode_all(text.as_bytes(), 3).unwrap();
    });
    let e = check(&f, &b).unwrap_err();
    assert!(matches!(e, BundleError::Tampered(_)), "{e:?}");
    // The manifest's own hash of a part replaced by another, signed: the part no longer matches.
    let b = repack(&f, Some(&f.device_key), |m| {
        edit_manifest(m, |v| {
            assert_eq!(v["parts"][1]["path"], "revisions.jsonl.zst");
            v["parts"][1]["sha256"] = serde_json::json!("0".repeat(64));
        });
    });
    let e = check(&f, &b).unwrap_err();
    assert!(e.to_string().contains("SHA-256"), "{e}");
    // A count that lies.
    let b = repack(&f, Some(&f.device_key), |m| {
        edit_manifest(m, |v| v["counts"]["revisions"] = serde_json::json!(99));
    });
    let e = check(&f, &b).unwrap_err();
    // (Format 2 lists 32 bytes of line hash per revision: the lie shows in the manifest itself.)
    assert!(e.to_string().contains("for 99 revisions"), "{e}");
    // A member the manifest does not list.
    let b = repack(&f, Some(&f.device_key), |m| {
        m.push(("extra.txt".into(), b"hi".to_vec()))
    });
    let e = check(&f, &b).unwrap_err();
    assert!(e.to_string().contains("extra.txt"), "{e}");
    // A member missing.
    let b = repack(&f, Some(&f.device_key), |m| {
        m.retain(|(n, _)| n != "revisions.jsonl.zst")
    });
    let e = check(&f, &b).unwrap_err();
    assert!(matches!(e, BundleError::Truncated(_)), "{e:?}");
}

#[test]
fn old_and_new_format_versions_are_refused_with_what_to_do() {
    let f = fixture(3);
    for (v, hint) in [
        (0, "update it and export again"),
        (
            pendata::bundle::FORMAT_VERSION + 1,
            "update pendata on this computer",
        ),
    ] {
        let b = repack(&f, Some(&f.device_key), |m| {
            edit_manifest(m, |x| x["format_version"] = serde_json::json!(v));
        });
        let e = check(&f, &b).unwrap_err();
        assert!(
            matches!(e, BundleError::Version { found, .. } if found == v),
            "{e:?}"
        );
        assert!(e.to_string().contains(hint), "{e}");
    }
    let b = repack(&f, Some(&f.device_key), |m| {
        edit_manifest(m, |x| x["format"] = serde_json::json!("something-else"));
    });
    assert!(matches!(
        check(&f, &b).unwrap_err(),
        BundleError::NotABundle(_)
    ));
}

#[test]
fn files_that_are_not_bundles_get_a_reason() {
    let f = fixture(2);
    for junk in [
        &b""[..],
        b"hello world",
        b"age-encryption.org/v1\n",
        &[0u8; 4096][..],
    ] {
        let e = check(&f, junk).unwrap_err();
        assert!(
            matches!(e, BundleError::NotABundle(_) | BundleError::Truncated(_)),
            "{e:?}"
        );
    }
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(p, x)| Damage::Flip(p, x)),
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(p, b)| Damage::Insert(p, b)),
        (any::<usize>(), 1usize..512).prop_map(|(p, n)| Damage::Remove(p, n)),
    ]
}

fn apply(bytes: &[u8], d: &Damage) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let n = b.len();
    if n == 0 {
        // An earlier damage emptied the file: only an insertion can still change it.
        if let Damage::Insert(_, extra) = d {
            b.extend_from_slice(extra);
        }
        return b;
    }
    match d {
        Damage::Flip(p, x) => b[p % n] ^= x,
        Damage::Truncate(p) => b.truncate(p % n),
        Damage::Insert(p, extra) => {
            let at = p % (n + 1);
            b.splice(at..at, extra.iter().copied());
        }
        Damage::Remove(p, k) => {
            let at = p % n;
            b.drain(at..(at + k).min(n));
        }
    }
    b
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=20000 for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]
    #[test]
    fn random_damage_never_passes_and_never_panics(ds in prop::collection::vec(damage(), 1..4)) {
        thread_local! {
            static FIX: Fixture = fixture(3);
        }
        FIX.with(|f| {
            let mut b = f.bundle.clone();
            for d in &ds {
                b = apply(&b, d);
            }
            if b != f.bundle {
                prop_assert!(check(f, &b).is_err());
                let _ = read::outside(&b[..]);
            }
            Ok(())
        })?;
    }
}

#[test]
fn a_file_cut_anywhere_past_its_age_header_is_said_to_be_truncated_not_tampered() {
    let f = fixture(6);
    let n = f.bundle.len();
    let header_end = f.bundle.windows(4).position(|w| w == b"\n---").unwrap() + 4;
    // Past the header's MAC line and its newline: the encrypted stream itself is cut.
    let first = f.bundle[header_end..]
        .iter()
        .position(|&b| b == b'\n')
        .unwrap()
        + header_end
        + 1;
    let step = ((n - first) / 40).max(1);
    for len in (first..n).step_by(step).chain([n - 17, n - 1]) {
        let e = check(&f, &f.bundle[..len]).unwrap_err();
        assert!(
            matches!(e, BundleError::Truncated(_)),
            "length {len} of {n}: {e:?}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_receipt_is_said_to_be_no_receipt() {
    let f = fixture(1);
    let key = f.keys.signing.verifying_key();
    for junk in [
        &b"junk"[..],
        b"{\"signature\": \"00\", \"payload\": {}}",
        &f.bundle,
    ] {
        let e = pendata::bundle::receipt::Receipt::open(junk, &key).unwrap_err();
        let said = e.to_string();
        assert!(!said.contains("bundle"), "{said}");
        assert!(
            said.contains("receipt") || matches!(e, BundleError::Signature(_)),
            "{said}"
        );
    }
    let e = pendata::bundle::receipt::Receipt::open(b"junk", &key).unwrap_err();
    assert!(e.to_string().contains("not a valid Pendata receipt"), "{e}");
}

/// Replaces a member's bytes and its size and SHA-256 in the manifest (which `repack` re-signs).
fn replace_part(members: &mut [(String, Vec<u8>)], name: &str, bytes: Vec<u8>) {
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let size = bytes.len();
    members.iter_mut().find(|(n, _)| n == name).unwrap().1 = bytes;
    edit_manifest(members, |v| {
        let parts = v["parts"].as_array_mut().unwrap();
        let p = parts.iter_mut().find(|p| p["path"] == name).unwrap();
        p["sha256"] = serde_json::json!(sha);
        p["size"] = serde_json::json!(size);
    });
}

/// The decompressed lines of a bundle's `revisions.jsonl.zst` member.
fn plain_lines(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let zst = &members
        .iter()
        .find(|(n, _)| n == "revisions.jsonl.zst")
        .unwrap()
        .1;
    zstd::decode_all(&zst[..]).unwrap()
}

fn sha_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Turns a format 3 archive into the format 2 one of the same lines: `revisions.sha256` carried
/// before the revisions, and the hash of the decompressed lines in the manifest.
fn as_format_2(m: &mut Vec<(String, Vec<u8>)>) -> Vec<u8> {
    use sha2::Digest;
    let plain = plain_lines(m);
    let mut list = Vec::new();
    for line in plain.strip_suffix(b"\n").unwrap().split(|&b| b == b'\n') {
        list.extend_from_slice(&sha2::Sha256::digest(line));
    }
    let at = m
        .iter()
        .position(|(n, _)| n == "revisions.jsonl.zst")
        .unwrap();
    m.insert(at, ("revisions.sha256".into(), list.clone()));
    let plain_sha = sha_hex(&plain);
    edit_manifest(m, |v| {
        v["format_version"] = serde_json::json!(2);
        for p in v["parts"].as_array_mut().unwrap() {
            if p["path"] == "revisions.jsonl.zst" {
                p["plain_sha256"] = serde_json::json!(plain_sha);
            }
        }
    });
    list
}

#[test]
fn format_3_derives_the_signed_line_hashes_from_the_lines() {
    let f = fixture(4);
    // The fixture (format 3) carries no list: the manifest signs the list's size and hash, and the
    // reader derives it from the lines, one SHA-256 of each line's bytes.
    let plain = decrypted(&f);
    let names: Vec<String> = tar::Archive::new(&plain[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(!names.iter().any(|n| n == "revisions.sha256"), "{names:?}");
    let mut hashes = Vec::new();
    let v = read::read(&f.bundle[..], std::slice::from_ref(&f.keys.identity), |i| {
        if let read::Item::Revision { raw, .. } = i {
            use sha2::Digest;
            hashes.extend_from_slice(&sha2::Sha256::digest(raw));
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(v.manifest.format_version, 3);
    assert!(v.manifest.parts[1].plain_sha256.is_none());
    assert_eq!(v.line_hashes.unwrap(), hashes);

    // Format 3: a signed list hash that its lines do not give is refused, so is a list in the archive.
    let b = repack(&f, Some(&f.device_key), |m| {
        edit_manifest(m, |v| {
            let parts = v["parts"].as_array_mut().unwrap();
            let p = parts
                .iter_mut()
                .find(|p| p["path"] == "revisions.sha256")
                .unwrap();
            p["sha256"] = serde_json::json!(sha_hex(b"another list"));
        });
    });
    let e = check(&f, &b).unwrap_err();
    assert!(matches!(e, BundleError::Tampered(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("do not hash to the revisions.sha256"),
        "{e}"
    );
    let b = repack(&f, Some(&f.device_key), |m| {
        as_format_2(m);
        edit_manifest(m, |v| v["format_version"] = serde_json::json!(3));
    });
    let e = check(&f, &b).unwrap_err();
    assert!(matches!(e, BundleError::Tampered(_)), "{e:?}");
}

#[test]
fn format_1_and_2_bundles_are_still_read_each_line_against_its_hash() {
    let f = fixture(4);
    let mut hashes = Vec::new();
    read::read(&f.bundle[..], std::slice::from_ref(&f.keys.identity), |i| {
        if let read::Item::Revision { raw, .. } = i {
            use sha2::Digest;
            hashes.extend_from_slice(&sha2::Sha256::digest(raw));
        }
        Ok(())
    })
    .unwrap();
    // Format 2 is read: the list travels, and each line must hash to its entry even when the
    // manifest hashes the list and is signed.
    let b = repack(&f, Some(&f.device_key), |m| {
        as_format_2(m);
    });
    let v = read::read(&b[..], std::slice::from_ref(&f.keys.identity), |_| Ok(())).unwrap();
    assert_eq!(v.manifest.format_version, 2);
    assert_eq!(v.line_hashes.unwrap(), hashes);
    let b = repack(&f, Some(&f.device_key), |m| {
        let mut list = as_format_2(m);
        list[40] ^= 1;
        replace_part(m, "revisions.sha256", list);
    });
    let e = check(&f, &b).unwrap_err();
    assert!(matches!(e, BundleError::Tampered(_)), "{e:?}");
    assert!(e.to_string().contains("line 2 does not hash"), "{e}");
    // Format 2 without the hash of its decompressed lines: refused.
    let b = repack(&f, Some(&f.device_key), |m| {
        as_format_2(m);
        edit_manifest(m, |v| {
            for p in v["parts"].as_array_mut().unwrap() {
                p.as_object_mut().unwrap().remove("plain_sha256");
            }
        });
    });
    let e = check(&f, &b).unwrap_err();
    assert!(e.to_string().contains("no hash of the decompressed"), "{e}");
    // Format 2 or 3 without the list listed: refused.
    for version in [2, 3] {
        let b = repack(&f, Some(&f.device_key), |m| {
            as_format_2(m);
            m.retain(|(n, _)| n != "revisions.sha256");
            edit_manifest(m, |v| {
                v["format_version"] = serde_json::json!(version);
                v["parts"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|p| p["path"] != "revisions.sha256");
            });
        });
        let e = check(&f, &b).unwrap_err();
        assert!(e.to_string().contains("revisions.sha256"), "{e}");
    }
    // A format 1 bundle (no list, the hash of the decompressed lines) is read as before.
    let b = repack(&f, Some(&f.device_key), |m| {
        as_format_2(m);
        m.retain(|(n, _)| n != "revisions.sha256");
        edit_manifest(m, |v| {
            v["format_version"] = serde_json::json!(1);
            v["parts"]
                .as_array_mut()
                .unwrap()
                .retain(|p| p["path"] != "revisions.sha256");
        });
    });
    let mut lines = 0;
    let v = read::read(&b[..], std::slice::from_ref(&f.keys.identity), |i| {
        if matches!(i, read::Item::Revision { .. }) {
            lines += 1;
        }
        Ok(())
    })
    .unwrap();
    assert!(v.line_hashes.is_none() && lines > 0);
}
