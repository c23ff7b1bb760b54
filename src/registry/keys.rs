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
//!
//! The secrets can be kept under a passphrase (`registry init --passphrase-stdin`, or `registry protect`
//! for an existing registry): each file is then age's passphrase encryption (scrypt) of the same text, so
//! `age -d registry-age.key | age-keygen -y` and `age -d registry-signing.pem | openssl pkey -noout`
//! still check a backup. A copied `keys/` folder is then useless without the passphrase; every command
//! that opens the registry asks for it once (`PENDATA_REGISTRY_PASSPHRASE`, or a prompt on a terminal).

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use std::io::{Read as _, Write as _};

use age::secrecy::{ExposeSecret, SecretString};
use chrono::{DateTime, FixedOffset};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, EncodePrivateKey, KeypairBytes,
    spki::der::{pem::LineEnding, zeroize::Zeroizing},
};

use crate::bundle::keys::{Level, RegistryPub};
use crate::durable::{self, Options};

use super::{RegistryError, Result, io};

pub const PUB_FILE: &str = "registry.pub";
pub const KEY_DIR: &str = "keys";
pub const AGE_KEY_FILE: &str = "registry-age.key";
pub const SIGNING_KEY_FILE: &str = "registry-signing.pem";

/// How every age file begins (the binary format): a secret file starting so is under a passphrase.
const AGE_HEADER: &[u8] = b"age-encryption.org/v1\n";
/// scrypt's work factor for the key files: N = 2^18 (256 MiB, about a second on an office PC; age's own
/// tool picks about the same). A file asking for more than [`MAX_WORK_FACTOR`] is refused before any
/// work, so a planted file cannot make a command run for hours.
const WORK_FACTOR: u8 = 18;
const MAX_WORK_FACTOR: u8 = 22;
/// The shortest passphrase accepted for the keys.
pub const MIN_PASSPHRASE: usize = 10;

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
    init_as(dir, name, now, &Setup::default())
}

/// [`init`] for a demo registry: its `registry.pub` says so, and it takes only demo bundles.
pub fn init_demo(dir: &Path, name: &str, now: DateTime<FixedOffset>) -> Result<Initialized> {
    let setup = Setup {
        demo: true,
        ..Setup::default()
    };
    init_as(dir, name, now, &setup)
}

/// How a registry is made (`registry init`'s options).
#[derive(Default)]
pub struct Setup<'a> {
    /// A demo registry: it takes only demo bundles.
    pub demo: bool,
    /// The secret keys under this passphrase (at least [`MIN_PASSPHRASE`] characters).
    pub passphrase: Option<&'a SecretString>,
    /// Its level in the chain, and the region it takes families of (checked: [`super::scope`]).
    pub level: Level,
    pub wilayah: Option<String>,
}

/// [`init`] with every option; each is checked before anything is made.
pub fn init_as(
    dir: &Path,
    name: &str,
    now: DateTime<FixedOffset>,
    setup: &Setup<'_>,
) -> Result<Initialized> {
    let (demo, passphrase) = (setup.demo, setup.passphrase);
    if let Some(p) = passphrase {
        check_passphrase(p)?;
    }
    match (setup.level, setup.wilayah.as_deref()) {
        (Level::Kabupaten, None) => {
            return Err(RegistryError::Invalid(
                "a kabupaten/kota registry needs its region: --wilayah 64.72 (the kabupaten/kota code)"
                    .into(),
            ));
        }
        (level, Some(w)) => {
            super::scope::check_wilayah(level, w).map_err(RegistryError::Invalid)?;
        }
        (Level::Provinsi, None) => {}
    }
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
        level: setup.level,
        wilayah: setup.wilayah.clone(),
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
    let (age_bytes, pem_bytes) = match passphrase {
        Some(p) => (
            seal_secret(age_text.as_bytes(), p, &age_key_file)?,
            seal_secret(pem.as_bytes(), p, &signing_key_file)?,
        ),
        None => (age_text.into_bytes(), pem.as_bytes().to_vec()),
    };
    write_new(&age_key_file, &age_bytes, true)?;
    write_new(&signing_key_file, &pem_bytes, true)?;
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

/// Loads the registry's keys from `dir` and checks that they belong to its `registry.pub`; keys under a
/// passphrase are refused ([`RegistryError::Locked`]): see [`load_with`].
pub fn load(dir: &Path) -> Result<RegistryKeys> {
    load_with(dir, None)
}

/// Whether the registry in `dir` keeps its secret keys under a passphrase.
pub fn is_protected(dir: &Path) -> bool {
    [AGE_KEY_FILE, SIGNING_KEY_FILE]
        .iter()
        .any(|f| is_sealed(&dir.join(KEY_DIR).join(f)))
}

/// [`load`] with the passphrase the keys are kept under, if they are.
pub fn load_with(dir: &Path, passphrase: Option<&SecretString>) -> Result<RegistryKeys> {
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
    let identity = read_age_identity_with(&age_key_file, passphrase)?;
    let signing_key_file = dir.join(KEY_DIR).join(SIGNING_KEY_FILE);
    let pem = read_secret(&signing_key_file, passphrase)?;
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
    read_age_identity_with(path, None)
}

/// [`read_age_identity`] of a file that may be under a passphrase.
pub fn read_age_identity_with(
    path: &Path,
    passphrase: Option<&SecretString>,
) -> Result<age::x25519::Identity> {
    let text = read_secret(path, passphrase)?;
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

/// Whether the file at `path` is an age file (a secret under a passphrase).
pub fn is_sealed(path: &Path) -> bool {
    let mut head = [0u8; AGE_HEADER.len()];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == AGE_HEADER)
}

/// The text of a secret key file, opened with `passphrase` when it is under one.
fn read_secret(path: &Path, passphrase: Option<&SecretString>) -> Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(fs::read(path).map_err(io(path))?);
    if !bytes.starts_with(AGE_HEADER) {
        return String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| RegistryError::Key {
                path: path.to_path_buf(),
                detail: "not a text key file".into(),
            });
    }
    let Some(passphrase) = passphrase else {
        return Err(RegistryError::Locked(path.to_path_buf()));
    };
    let mut identity = age::scrypt::Identity::new(passphrase.clone());
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    let decryptor =
        age::Decryptor::new_buffered(bytes.as_slice()).map_err(|e| RegistryError::Key {
            path: path.to_path_buf(),
            detail: format!("not a readable age file: {e}"),
        })?;
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                RegistryError::WrongPassphrase(path.to_path_buf())
            }
            e => RegistryError::Key {
                path: path.to_path_buf(),
                detail: format!("cannot be opened: {e}"),
            },
        })?;
    let mut text = Zeroizing::new(String::new());
    reader
        .read_to_string(&mut text)
        .map_err(|e| RegistryError::Key {
            path: path.to_path_buf(),
            detail: format!("cannot be opened: {e}"),
        })?;
    Ok(text)
}

/// `bytes` encrypted under `passphrase` with age's passphrase encryption (scrypt).
fn seal_secret(bytes: &[u8], passphrase: &SecretString, path: &Path) -> Result<Vec<u8>> {
    let fail = |e: String| RegistryError::Key {
        path: path.to_path_buf(),
        detail: format!("cannot be encrypted: {e}"),
    };
    let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
    recipient.set_work_factor(work_factor());
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|e| fail(e.to_string()))?;
    writer.write_all(bytes).map_err(|e| fail(e.to_string()))?;
    writer.finish().map_err(|e| fail(e.to_string()))?;
    Ok(out)
}

/// The work factor keys are sealed with: [`WORK_FACTOR`]; tests (built with `test-support`) may ask for
/// a light one through `PENDATA_TEST_SCRYPT_LOG_N`, so that a test does not spend seconds per command.
fn work_factor() -> u8 {
    #[cfg(feature = "test-support")]
    if let Some(n) = std::env::var("PENDATA_TEST_SCRYPT_LOG_N")
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
        .filter(|n| (10..=WORK_FACTOR).contains(n))
    {
        return n;
    }
    WORK_FACTOR
}

/// Refuses a passphrase too short to protect the keys.
pub fn check_passphrase(p: &SecretString) -> Result<()> {
    if p.expose_secret().chars().count() < MIN_PASSPHRASE {
        return Err(RegistryError::Invalid(format!(
            "the passphrase is too short: at least {MIN_PASSPHRASE} characters (a few words are easiest to remember)"
        )));
    }
    Ok(())
}

/// Puts the secret keys of the registry in `dir` under `passphrase` (`registry protect`), or under a
/// new one when they already are (`current` opens them). Each file is replaced safely (written beside,
/// read back, renamed); the keys themselves do not change, so tablets and bundles are unaffected.
pub fn protect(
    dir: &Path,
    current: Option<&SecretString>,
    passphrase: &SecretString,
) -> Result<()> {
    check_passphrase(passphrase)?;
    // Both open (and match registry.pub) before either is rewritten.
    load_with(dir, current)?;
    for name in [AGE_KEY_FILE, SIGNING_KEY_FILE] {
        let path = dir.join(KEY_DIR).join(name);
        let text = read_secret(&path, current)?;
        let sealed = seal_secret(text.as_bytes(), passphrase, &path)?;
        durable::write_bytes(&path, &sealed, &Options::replace().private())?;
    }
    Ok(())
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
