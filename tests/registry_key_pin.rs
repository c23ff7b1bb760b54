//! The registry key is pinned on the tablet: once set, another key — another registry's, or the same
//! signing key with other encryption recipients (a `registry.pub` edited to send bundles elsewhere) — is
//! refused with both fingerprints shown, nothing changed; `--replace` replaces it, and from then on only
//! the new key's receipts are accepted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{code, p, run};

use pendata::bundle::keys::RegistryPub;
use pendata::bundle::manifest::SeqRange;
use pendata::bundle::receipt::Receipt;
use pendata::registry::keys::RegistryKeys;

/// A receipt accepting the sequence `1..=last` of `device`, signed by `keys`, written under `dir`.
fn receipt(
    tag: &str,
    keys: &RegistryKeys,
    device: uuid::Uuid,
    last: u64,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let r = Receipt::new(
        &keys.public.name,
        device,
        chrono::Local::now().fixed_offset(),
        vec![SeqRange { from: 1, to: last }],
        Vec::new(),
    );
    let file = dir.join(format!("{tag}-{}", r.file_name()));
    std::fs::write(&file, r.sign(&keys.signing)).unwrap();
    file
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as a person goes through it"
)]
#[test]
fn another_registry_key_needs_replace_and_then_only_its_receipts_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (reg_a, reg_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let tab = tmp.path().join("tablet");
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    for reg in [&reg_a, &reg_b] {
        code(&run(None, &["registry", "init", p(reg), "--demo"], ""), 0);
    }
    let (pub_a, pub_b) = (reg_a.join("registry.pub"), reg_b.join("registry.pub"));
    let keys_a = pendata::registry::load(&reg_a).unwrap();
    let keys_b = pendata::registry::load(&reg_b).unwrap();
    let (fp_a, fp_b) = (keys_a.public.fingerprint(), keys_b.public.fingerprint());
    assert_ne!(fp_a, fp_b);

    let init = [
        "init",
        "--demo",
        "--device-name",
        "T1",
        "--registry-key",
        p(&pub_a),
    ];
    code(&run(Some(&tab), &init, ""), 0);
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
            &format!("{}\n", common::PIN),
        ),
        0,
    );
    code(
        &run(
            Some(&tab),
            &["demo", "--families", "3", "--petugas", "P001"],
            "",
        ),
        0,
    );
    code(&run(Some(&tab), &["export", "--to", p(&stick)], ""), 0);
    let device =
        pendata::app::Device::open(&tab, pendata::store::Unlock::Secret(common::PIN)).unwrap();
    let id = device.store.device().unwrap().id;
    let last = device.store.last_seq().unwrap();
    drop(device);

    // Another registry's key: refused, both fingerprints shown, the key unchanged.
    let out = code(&run(Some(&tab), &["registry-key", "set", p(&pub_b)], ""), 1);
    assert!(out.contains(&fp_a) && out.contains(&fp_b), "{out}");
    assert!(out.contains("--replace"), "{out}");
    let out = code(&run(Some(&tab), &["registry-key", "show"], ""), 0);
    assert!(out.contains(&fp_a) && !out.contains(&fp_b), "{out}");

    // The same signing key with another registry's encryption key: refused too (it would send every
    // family to whoever holds that key).
    let mut swapped: RegistryPub = keys_a.public.clone();
    swapped.age_recipients = keys_b.public.age_recipients.clone();
    let swapped_file = tmp.path().join("swapped.pub");
    std::fs::write(&swapped_file, swapped.to_json()).unwrap();
    let out = code(
        &run(Some(&tab), &["registry-key", "set", p(&swapped_file)], ""),
        1,
    );
    assert!(out.contains("other encryption keys"), "{out}");
    let out = code(&run(Some(&tab), &["registry-key", "show"], ""), 0);
    assert!(
        out.contains(&keys_a.public.age_recipients[0])
            && !out.contains(&keys_b.public.age_recipients[0]),
        "{out}"
    );

    // The same key again (a renamed copy of registry.pub): fine.
    let mut renamed = keys_a.public.clone();
    renamed.name = "Dinas Sosial (salinan)".into();
    let renamed_file = tmp.path().join("renamed.pub");
    std::fs::write(&renamed_file, renamed.to_json()).unwrap();
    code(
        &run(Some(&tab), &["registry-key", "set", p(&renamed_file)], ""),
        0,
    );

    // Only the trusted registry's receipts count.
    let from_b = receipt("b", &keys_b, id, last, &stick);
    let out = code(&run(Some(&tab), &["receipt", "apply", p(&from_b)], ""), 2);
    assert!(
        out.contains("not signed by this tablet's registry"),
        "{out}"
    );

    // Replaced on purpose: said with both fingerprints; now A's receipts are refused, B's accepted.
    let out = code(
        &run(
            Some(&tab),
            &["registry-key", "set", p(&pub_b), "--replace"],
            "",
        ),
        0,
    );
    assert!(
        out.contains("replaced") && out.contains(&fp_a) && out.contains(&fp_b),
        "{out}"
    );
    let out = code(&run(Some(&tab), &["registry-key", "show"], ""), 0);
    assert!(out.contains(&fp_b), "{out}");
    let from_a = receipt("a", &keys_a, id, last, &stick);
    let out = code(&run(Some(&tab), &["receipt", "apply", p(&from_a)], ""), 2);
    assert!(
        out.contains("not signed by this tablet's registry"),
        "{out}"
    );
    let out = code(&run(Some(&tab), &["receipt", "apply", p(&from_b)], ""), 0);
    assert!(out.contains("diterima / accepted"), "{out}");
}
