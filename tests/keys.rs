//! The registry's secret keys are in the formats the standard tools read, so an operator can check a
//! backup without Pendata: the signing key is RFC 8410's PKCS#8 (what `openssl pkey` reads), the age key
//! age's own (what `age-keygen -y` reads). A key file in the format earlier builds wrote still opens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::process::Command;

use ed25519_dalek::pkcs8::spki::der::Document;
use pendata::bundle::keys::RegistryPub;
use pendata::registry::{self, AGE_KEY_FILE, KEY_DIR, PUB_FILE, SIGNING_KEY_FILE};

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-12-03T08:00:00+08:00").unwrap()
}

fn tool(name: &str, arg: &str) -> bool {
    Command::new(name).arg(arg).output().is_ok()
}

/// RFC 8410, section 10.3: an Ed25519 private key in PKCS#8 v1 is this 16-byte prefix and the seed.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

#[test]
fn the_signing_key_is_standard_pkcs8_that_openssl_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Dinas Sosial Kaltim", now()).unwrap();
    let file = dir.join(KEY_DIR).join(SIGNING_KEY_FILE);
    let pem = std::fs::read_to_string(&file).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    assert!(pem.ends_with("-----END PRIVATE KEY-----\n"), "{pem}");
    let (label, der) = Document::from_pem(&pem).unwrap();
    assert_eq!(label, "PRIVATE KEY");
    let der = der.as_bytes();
    assert_eq!(der.len(), 48, "the seed alone, no public key appended");
    assert_eq!(der[..16], PKCS8_V1_PREFIX);
    let keys = registry::load(&dir).unwrap();
    assert_eq!(der[16..], keys.signing.to_bytes());

    if !tool("openssl", "version") {
        eprintln!("note: openssl is not installed; the check with `openssl pkey` is skipped");
        return;
    }
    // The backup check README.md names, and the public key OpenSSL derives is registry.pub's.
    let out = Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spki = out.stdout;
    let public = RegistryPub::parse(&std::fs::read(dir.join(PUB_FILE)).unwrap()).unwrap();
    assert_eq!(
        pendata::bundle::hex(&spki[spki.len() - 32..]),
        public.signing_key
    );
}

#[test]
fn the_age_key_is_what_age_keygen_reads() {
    if !tool("age-keygen", "--version") {
        eprintln!("note: age-keygen is not installed; the check of the age key is skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Dinas Sosial Kaltim", now()).unwrap();
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(dir.join(KEY_DIR).join(AGE_KEY_FILE))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = RegistryPub::parse(&std::fs::read(dir.join(PUB_FILE)).unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        public.age_recipients[0]
    );
}

/// The signing key of seed [42; 32] as earlier builds wrote it: PKCS#8 v2, the public key appended as
/// `[1] IMPLICIT BIT STRING` (83 bytes), which OpenSSL refuses.
const OLD_FORMAT_KEY: &str = "-----BEGIN PRIVATE KEY-----
MFECAQEwBQYDK2VwBCIEICoqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioq
gSEAGX9rI+FshTLGq8g4+s1ep4m+DHaykgM0A5v6iz02jWE=
-----END PRIVATE KEY-----
";
const OLD_FORMAT_PUBLIC: &str = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61";

/// A registry made by an earlier build: its registry.pub names the old key's public half.
fn old_registry(dir: &Path) {
    registry::init(dir, "Dinas Sosial Kaltim", now()).unwrap();
    std::fs::write(dir.join(KEY_DIR).join(SIGNING_KEY_FILE), OLD_FORMAT_KEY).unwrap();
    let mut public = RegistryPub::parse(&std::fs::read(dir.join(PUB_FILE)).unwrap()).unwrap();
    public.signing_key = OLD_FORMAT_PUBLIC.into();
    std::fs::write(dir.join(PUB_FILE), public.to_json()).unwrap();
}

#[test]
fn a_signing_key_in_the_old_format_still_opens_and_signs() {
    let (_, der) = Document::from_pem(OLD_FORMAT_KEY).unwrap();
    assert_eq!(der.as_bytes().len(), 83, "the fixture is the v2 layout");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    old_registry(&dir);
    let keys = registry::load(&dir).unwrap();
    assert_eq!(keys.signing.to_bytes(), [42; 32]);
    assert_eq!(
        pendata::bundle::hex(keys.signing.verifying_key().as_bytes()),
        OLD_FORMAT_PUBLIC
    );
    // Receipts it signs open with the public key the tablets have.
    let receipt = pendata::bundle::receipt::Receipt::new(
        "Dinas Sosial Kaltim",
        uuid::Uuid::from_u128(1),
        now(),
        vec![],
        vec![],
    );
    let bytes = receipt.sign(&keys.signing);
    let opened =
        pendata::bundle::receipt::Receipt::open(&bytes, &keys.public.verifying_key().unwrap())
            .unwrap();
    assert_eq!(opened, receipt);
}

#[test]
fn a_damaged_signing_key_is_refused_with_its_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Dinas Sosial Kaltim", now()).unwrap();
    let file = dir.join(KEY_DIR).join(SIGNING_KEY_FILE);
    std::fs::write(
        &file,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = registry::load(&dir).err().unwrap().to_string();
    assert!(e.contains(SIGNING_KEY_FILE) && e.contains("PKCS#8"), "{e}");
}

/// `registry init` tells the operator how to check a backup, and the command it prints succeeds.
#[test]
fn registry_init_prints_a_backup_check_that_works() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registri kaltim");
    let out = common::code(
        &common::run(
            None,
            &["registry", "init", common::p(&dir), "--name", "Kaltim"],
            "",
        ),
        0,
    );
    let check = out
        .lines()
        .find_map(|l| l.split_once("standard tools: "))
        .map(|(_, command)| command.to_string())
        .unwrap_or_else(|| panic!("no backup check in: {out}"));
    assert!(check.starts_with("openssl pkey -in '"), "{check}");
    if !(tool("openssl", "version") && tool("age-keygen", "--version")) {
        eprintln!("note: openssl or age-keygen is not installed; the printed check is not run");
        return;
    }
    let ran = Command::new("sh").arg("-c").arg(&check).output().unwrap();
    assert!(
        ran.status.success(),
        "{check}: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let public = RegistryPub::parse(&std::fs::read(dir.join(PUB_FILE)).unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(ran.stdout).unwrap().trim(),
        public.age_recipients[0]
    );
}
