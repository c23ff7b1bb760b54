//! The registry's secret keys under a passphrase: `registry init --passphrase-stdin` writes them as age
//! passphrase-encrypted files (nothing of the keys readable in them), every command that opens the
//! registry needs the passphrase (refused without it or with a wrong one, nothing done), `registry
//! protect` puts an existing registry's keys under one or changes it, and the keys stay the same keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use age::secrecy::SecretString;
use common::{code, p, run_env};

/// A light scrypt for the test binary (honoured only in builds with `test-support`).
const LIGHT: (&str, &str) = ("PENDATA_TEST_SCRYPT_LOG_N", "10");
const GOOD: &str = "kunci kantor dinsos kaltim";

fn with_pass(pass: &str) -> [(&'static str, String); 2] {
    [
        (LIGHT.0, LIGHT.1.to_string()),
        ("PENDATA_REGISTRY_PASSPHRASE", pass.to_string()),
    ]
}

fn status(reg: &Path, env: &[(&str, String)]) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_env(None, &["registry", "status", p(reg)], "", &env)
}

fn secret_files(reg: &Path) -> [Vec<u8>; 2] {
    [
        std::fs::read(reg.join("keys/registry-age.key")).unwrap(),
        std::fs::read(reg.join("keys/registry-signing.pem")).unwrap(),
    ]
}

#[test]
fn keys_under_a_passphrase_need_it_for_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");

    // Too short: refused before anything is made.
    let out = code(
        &run_env(
            None,
            &["registry", "init", p(&reg), "--passphrase-stdin"],
            "pendek\n",
            &[LIGHT],
        ),
        2,
    );
    assert!(out.contains("too short"), "{out}");
    assert!(!reg.join("keys").exists());

    let out = code(
        &run_env(
            None,
            &["registry", "init", p(&reg), "--passphrase-stdin"],
            &format!("{GOOD}\n"),
            &[LIGHT],
        ),
        0,
    );
    assert!(
        out.contains("age -d"),
        "the backup check names the standard tools: {out}"
    );
    for bytes in secret_files(&reg) {
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("AGE-SECRET-KEY") && !text.contains("PRIVATE KEY"));
    }
    assert!(pendata::registry::is_protected(&reg));

    // No passphrase, a wrong one: refused (exit 1), with what to do.
    let out = code(&status(&reg, &[(LIGHT.0, LIGHT.1.to_string())]), 1);
    assert!(out.contains("PENDATA_REGISTRY_PASSPHRASE"), "{out}");
    let out = code(&status(&reg, &with_pass("bukan frasa yang benar")), 1);
    assert!(out.contains("wrong passphrase"), "{out}");
    code(&status(&reg, &with_pass(GOOD)), 0);

    // The library opens them with it, and they belong to registry.pub.
    let keys =
        pendata::registry::load_with(&reg, Some(&SecretString::from(GOOD.to_string()))).unwrap();
    assert!(matches!(
        pendata::registry::load(&reg),
        Err(pendata::registry::RegistryError::Locked(_))
    ));

    // Changed: the old passphrase no longer opens them, the new one does; the keys are the same.
    let env: Vec<(&str, String)> = with_pass(GOOD).to_vec();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    code(
        &run_env(
            None,
            &["registry", "protect", p(&reg), "--passphrase-stdin"],
            "frasa sandi yang baru sekali\n",
            &env,
        ),
        0,
    );
    code(&status(&reg, &with_pass(GOOD)), 1);
    code(&status(&reg, &with_pass("frasa sandi yang baru sekali")), 0);
    let again = pendata::registry::load_with(
        &reg,
        Some(&SecretString::from(
            "frasa sandi yang baru sekali".to_string(),
        )),
    )
    .unwrap();
    assert_eq!(again.signing.to_bytes(), keys.signing.to_bytes());
    assert_eq!(again.identity.to_public(), keys.identity.to_public());
}

#[test]
fn an_existing_registry_is_protected_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");
    code(
        &run_env(None, &["registry", "init", p(&reg)], "", &[LIGHT]),
        0,
    );
    let before = pendata::registry::load(&reg).unwrap();
    assert!(!pendata::registry::is_protected(&reg));
    code(
        &run_env(
            None,
            &["registry", "protect", p(&reg), "--passphrase-stdin"],
            &format!("{GOOD}\n"),
            &[LIGHT],
        ),
        0,
    );
    assert!(pendata::registry::is_protected(&reg));
    let after =
        pendata::registry::load_with(&reg, Some(&SecretString::from(GOOD.to_string()))).unwrap();
    assert_eq!(after.signing.to_bytes(), before.signing.to_bytes());
    assert_eq!(after.public, before.public);
    code(&status(&reg, &with_pass(GOOD)), 0);
    // Recorded, under the computer's account while the registry has no operators.
    let env = with_pass(GOOD);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let log = code(&run_env(None, &["registry", "log", p(&reg)], "", &env), 0);
    assert!(log.contains("keys_protected"), "{log}");
}
