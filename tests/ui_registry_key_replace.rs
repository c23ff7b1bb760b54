//! Replacing the pinned registry key in the app needs the supervisor: the Export screen shows both
//! fingerprints to compare with the registry's office, and only the tablet's recovery code (kept by the
//! supervisor) replaces the key. A wrong code changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{code, p, run};
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;

/// The fingerprint of the registry key the tablet trusts, read from its store.
fn trusted(tab: &std::path::Path) -> String {
    let device = common::open_when_free(tab);
    device.registry_key().unwrap().unwrap().fingerprint()
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as the petugas and the supervisor go through it"
)]
#[test]
fn the_supervisor_replaces_the_registry_key_with_the_recovery_code() {
    let tmp = tempfile::tempdir().unwrap();
    let (reg_a, reg_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let tab = tmp.path().join("tablet");
    for reg in [&reg_a, &reg_b] {
        code(&run(None, &["registry", "init", p(reg)], ""), 0);
    }
    let fp_a = pendata::registry::load(&reg_a)
        .unwrap()
        .public
        .fingerprint();
    let fp_b = pendata::registry::load(&reg_b)
        .unwrap()
        .public
        .fingerprint();
    let pub_b = reg_b.join("registry.pub");

    let init = run(
        Some(&tab),
        &[
            "init",
            "--device-name",
            "T1",
            "--registry-key",
            p(&reg_a.join("registry.pub")),
        ],
        "",
    );
    code(&init, 0);
    let said = String::from_utf8_lossy(&init.stderr).to_string();
    let recovery = said
        .lines()
        .find_map(|l| l.split("RECOVERY CODE: ").nth(1))
        .expect("init shows the recovery code")
        .trim()
        .to_string();
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

    let mut h = common::signed_in_app(&tab, "Siti · P001");
    h.get_by_label("Ekspor ke USB").click();
    h.run();
    assert!(
        h.query_by_label_contains(&fp_a).is_some(),
        "the trusted key is shown"
    );
    h.get_by_label("Ganti kunci registri…").click();
    h.run();
    h.get_by_role_and_label(Role::TextInput, "Lokasi file registry.pub")
        .focus();
    h.run();
    h.get_by_role_and_label(Role::TextInput, "Lokasi file registry.pub")
        .type_text(p(&pub_b));
    h.run();
    h.get_by_label("Periksa berkas kunci").click();
    h.run();
    // Both fingerprints, to compare with the office.
    assert!(h.query_by_label_contains("Kunci sekarang: ").is_some());
    assert!(
        h.query_by_label_contains(&format!("sidik {fp_b}"))
            .is_some(),
        "the new key's fingerprint is shown"
    );

    // A wrong recovery code: refused, nothing changed.
    let wrong = "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF";
    assert_ne!(wrong, recovery);
    h.get_by_role_and_label(Role::PasswordInput, "Kode pemulihan (supervisor)")
        .focus();
    h.run();
    h.get_by_role_and_label(Role::PasswordInput, "Kode pemulihan (supervisor)")
        .type_text(wrong);
    h.run();
    h.get_by_label("Ganti kunci").click();
    h.run();
    assert!(
        h.query_by_label_contains("kode pemulihan salah").is_some(),
        "a wrong code is said"
    );

    // The supervisor's code: replaced, and the screen shows the new key.
    h.get_by_role_and_label(Role::PasswordInput, "Kode pemulihan (supervisor)")
        .focus();
    h.run();
    h.get_by_role_and_label(Role::PasswordInput, "Kode pemulihan (supervisor)")
        .type_text(&recovery);
    h.run();
    h.get_by_label("Ganti kunci").click();
    h.run();
    assert!(h.query_by_label_contains(&fp_b).is_some());
    assert!(
        h.query_by_label("Ganti kunci").is_none(),
        "the replacement closed"
    );
    drop(h);
    assert_eq!(trusted(&tab), fp_b);
}

/// The wrong code leaves the trusted key as it was (checked in the store, not only on the screen).
#[test]
fn a_wrong_recovery_code_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (reg_a, reg_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let tab = tmp.path().join("tablet");
    for reg in [&reg_a, &reg_b] {
        code(&run(None, &["registry", "init", p(reg)], ""), 0);
    }
    let fp_a = pendata::registry::load(&reg_a)
        .unwrap()
        .public
        .fingerprint();
    let pub_a = reg_a.join("registry.pub");
    let init = ["init", "--device-name", "T1", "--registry-key", p(&pub_a)];
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
    let device = common::open_when_free(&tab);
    let bytes = std::fs::read(reg_b.join("registry.pub")).unwrap();
    let change = device.registry_key_change(&bytes).unwrap();
    assert_eq!(
        change.current.as_ref().map(|c| c.1.as_str()),
        Some(fp_a.as_str())
    );
    assert!(!change.same);
    let err = device
        .replace_registry_key_as_supervisor(&bytes, "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")
        .unwrap_err();
    assert!(err.to_string().contains("wrong recovery code"), "{err}");
    // Not a recovery code at all (a PIN): refused the same way.
    assert!(
        device
            .replace_registry_key_as_supervisor(&bytes, common::PIN)
            .is_err()
    );
    assert_eq!(device.registry_key().unwrap().unwrap().fingerprint(), fp_a);
}
