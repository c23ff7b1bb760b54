//! The registry's keys, created by `pendata registry init DIR`, and the public `registry.pub` that
//! tablets need:
//!
//! ```text
//! DIR/registry.pub                 public: give it to every tablet (on the stick)
//! DIR/keys/registry-age.key        SECRET: the age X25519 identity that opens bundles (age's own format)
//! DIR/keys/registry-signing.pem    SECRET: the Ed25519 key that signs receipts (PKCS#8 PEM)
//! ```
//!
//! Both secrets are in the formats the standard tools read, so an operator can check a backup without
//! Pendata: `openssl pkey -in registry-signing.pem -noout` (RFC 8410's PKCS#8 v1, the seed only, as
//! `openssl genpkey -algorithm ed25519` writes it) and `age-keygen -y registry-age.key`. Registries made by
//! earlier builds have the signing key as PKCS#8 v2 with the public key appended, which OpenSSL and
//! Python's `cryptography` refuse ("extra data"); such files are still read.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use chrono::{DateTime, FixedOffset};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, EncodePrivateKey, KeypairBytes,
    spki::der::{pem::LineEnding, zeroize::Zeroizing},
};

use crate::bundle::keys::RegistryPub;
use crate::durable::{self, Options};

use super::{RegistryError, Result, io};

pub const PUB_FILE: &str = "registry.pub";
pub const KEY_DIR: &str = "keys";
pub const AGE_KEY_FILE: &str = "registry-age.key";
pub const SIGNING_KEY_FILE: &str = "registry-signing.pem";

/// The registry's secret keys and its public file.
pub struct RegistryKeys {
    pub identity: age::x25519::Identity,
    pub signing: SigningKey,
    pub public: RegistryPub,
}

/// Where `init` put things.
pub struct Initialized {
    pub public_file: PathBuf,
    pub age_key_file: PathBuf,
    pub signing_key_file: PathBuf,
    pub public: RegistryPub,
}

/// Creates the registry's keys in `dir` (created if missing). Refuses to replace existing keys.
pub fn init(dir: &Path, name: &str, now: DateTime<FixedOffset>) -> Result<Initialized> {
    init_as(dir, name, now, false)
}

/// [`init`] for a demo registry: its `registry.pub` says so, and it takes only demo bundles.
pub fn init_demo(dir: &Path, name: &str, now: DateTime<FixedOffset>) -> Result<Initialized> {
    init_as(dir, name, now, true)
}

fn init_as(dir: &Path, name: &str, now: DateTime<FixedOffset>, demo: bool) -> Result<Initialized> {
    let keys = dir.join(KEY_DIR);
    let public_file = dir.join(PUB_FILE);
    let age_key_file = keys.join(AGE_KEY_FILE);
    let signing_key_file = keys.join(SIGNING_KEY_FILE);
    if public_file.exists() || age_key_file.exists() || signing_key_file.exists() {
        return Err(RegistryError::AlreadyInitialized(dir.to_path_buf()));
    }
    // The registry's folder holds its store and its log, the keys folder its secrets: the owner's only
    // (when init makes them; an existing folder keeps its rights).
    create_private_dir(&keys)?;
    let identity = age::x25519::Identity::generate();
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| RegistryError::Key {
        path: signing_key_file.clone(),
        detail: format!("no randomness from the system: {e}"),
    })?;
    let signing = SigningKey::from_bytes(&seed);
    let public = RegistryPub {
        demo,
        ..RegistryPub::new(name, now, &[identity.to_public()], &signing.verifying_key())
    };

    let age_text = format!(
        "# created: {}\n# public key: {}\n{}\n",
        now.to_rfc3339(),
        identity.to_public(),
        identity.to_string().expose_secret()
    );
    let pem = signing_key_pem(&signing).map_err(|e| RegistryError::Key {
        path: signing_key_file.clone(),
        detail: e.to_string(),
    })?;
    write_new(&age_key_file, age_text.as_bytes(), true)?;
    write_new(&signing_key_file, pem.as_bytes(), true)?;
    write_new(&public_file, public.to_json().as_bytes(), false)?;
    // The key files' folder entries are synced with each file; the `keys` folder's own, here.
    durable::sync_dir(dir).map_err(io(dir))?;
    Ok(Initialized {
        public_file,
        age_key_file,
        signing_key_file,
        public,
    })
}

/// The PEM text of a signing key as the standard tools read it: PKCS#8 v1 (RFC 8410), the 32-byte seed
/// alone. (`SigningKey::to_pkcs8_pem` writes v2 with the public key, which OpenSSL 3 refuses.)
pub fn signing_key_pem(key: &SigningKey) -> ed25519_dalek::pkcs8::Result<Zeroizing<String>> {
    KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
}

/// Loads the registry's keys from `dir` and checks that they belong to its `registry.pub`.
pub fn load(dir: &Path) -> Result<RegistryKeys> {
    let public_file = dir.join(PUB_FILE);
    if !public_file.exists() {
        return Err(RegistryError::NotInitialized(dir.to_path_buf()));
    }
    let public =
        RegistryPub::parse(&fs::read(&public_file).map_err(io(&public_file))?).map_err(|e| {
            RegistryError::Key {
                path: public_file.clone(),
                detail: e.to_string(),
            }
        })?;
    let age_key_file = dir.join(KEY_DIR).join(AGE_KEY_FILE);
    let identity = read_age_identity(&age_key_file)?;
    let signing_key_file = dir.join(KEY_DIR).join(SIGNING_KEY_FILE);
    let pem = fs::read_to_string(&signing_key_file).map_err(io(&signing_key_file))?;
    let signing = SigningKey::from_pkcs8_pem(&pem).map_err(|e| RegistryError::Key {
        path: signing_key_file.clone(),
        detail: format!("not an Ed25519 PKCS#8 key: {e}"),
    })?;
    let mismatch = |path: &Path, what: &str| RegistryError::Key {
        path: path.to_path_buf(),
        detail: format!("this {what} does not belong to {PUB_FILE} in the same folder"),
    };
    if !public
        .age_recipients
        .contains(&identity.to_public().to_string())
    {
        return Err(mismatch(&age_key_file, "age key"));
    }
    if public.signing_key != crate::bundle::hex(signing.verifying_key().as_bytes()) {
        return Err(mismatch(&signing_key_file, "signing key"));
    }
    Ok(RegistryKeys {
        identity,
        signing,
        public,
    })
}

/// Reads an age identity file (comments and one `AGE-SECRET-KEY-1…` line), as `age-keygen` writes it.
pub fn read_age_identity(path: &Path) -> Result<age::x25519::Identity> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| RegistryError::Key {
            path: path.to_path_buf(),
            detail: "no key in this file".into(),
        })?;
    age::x25519::Identity::from_str(line).map_err(|e| RegistryError::Key {
        path: path.to_path_buf(),
        detail: format!("not an age X25519 identity: {e}"),
    })
}

/// Writes a new file durably (never replacing one); secrets are readable by the owner only.
fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    let options = if secret {
        Options::refuse().private()
    } else {
        Options::refuse()
    };
    durable::write_bytes(path, bytes, &options)?;
    Ok(())
}

/// Creates a folder (and its parents) that only the owner may enter, when it is missing.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io(dir))
}
