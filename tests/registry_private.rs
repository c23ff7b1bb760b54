//! The registry's files are the owner's alone: a new registry's folder, store, keys and logs, its reports
//! and exports are 0600 in 0700 folders; a registry made by an older program (store 0644, `keys/` 0755,
//! held bundles readable by all) is tightened when it is next opened. `registry.pub` stays readable: it is
//! public and travels to every tablet.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{code, p, run};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_registry_is_private_from_init_and_an_old_one_is_tightened_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let reg = tmp.path().join("reg");
    // A folder the operator made beforehand, readable by every account.
    std::fs::create_dir(&reg).unwrap();
    chmod(&reg, 0o755);
    code(&run(None, &["registry", "init", p(&reg)], ""), 0);
    assert_eq!(mode(&reg), 0o700);
    assert_eq!(mode(&reg.join("keys")), 0o700);
    assert_eq!(mode(&reg.join("keys/registry-age.key")), 0o600);
    assert_eq!(mode(&reg.join("keys/registry-signing.pem")), 0o600);
    assert_eq!(mode(&reg.join("registry.redb")), 0o600);
    assert_eq!(mode(&reg.join("pendata.log")), 0o600);
    assert_eq!(mode(&reg.join("registry.pub")) & 0o044, 0o044, "public");

    // Reports and exports: the owner's alone.
    let report = tmp.path().join("laporan.html");
    code(
        &run(
            None,
            &[
                "registry",
                "report",
                p(&reg),
                "--format",
                "html",
                "--to",
                p(&report),
            ],
            "",
        ),
        0,
    );
    assert_eq!(mode(&report), 0o600);
    let export = tmp.path().join("keluarga.csv");
    code(
        &run(
            None,
            &["registry", "export", p(&reg), "--to", p(&export)],
            "",
        ),
        0,
    );
    assert_eq!(mode(&export), 0o600);
    assert_eq!(mode(&tmp.path().join("keluarga-anggota.csv")), 0o600);

    // As an older program left a registry: everything readable by all.
    chmod(&reg, 0o755);
    chmod(&reg.join("keys"), 0o755);
    chmod(&reg.join("keys/registry-age.key"), 0o644);
    chmod(&reg.join("registry.redb"), 0o644);
    let pending = reg.join("pending");
    std::fs::create_dir(&pending).unwrap();
    chmod(&pending, 0o755);
    std::fs::write(pending.join("held.age"), b"held bundle").unwrap();
    chmod(&pending.join("held.age"), 0o644);
    // Any command that opens it tightens it, a reading one too.
    code(&run(None, &["registry", "status", p(&reg)], ""), 0);
    assert_eq!(mode(&reg), 0o700);
    assert_eq!(mode(&reg.join("keys")), 0o700);
    assert_eq!(mode(&reg.join("keys/registry-age.key")), 0o600);
    assert_eq!(mode(&reg.join("registry.redb")), 0o600);
    assert_eq!(mode(&pending), 0o700);
    assert_eq!(mode(&pending.join("held.age")), 0o600);
    assert_eq!(
        mode(&reg.join("registry.pub")) & 0o044,
        0o044,
        "still public"
    );
}
