//! Work packages: the families a registry sends one tablet to visit (verivali), with the answers the
//! registry holds and the revision each is based on. The format only; the registry writes them
//! (`registry::package`), the tablet applies them (`app::package`). Documented in `docs/bundle-format.md`.
//!
//! A package file is an age file (X25519) encrypted to the one device's recipient, whose plaintext is
//! zstd-compressed JSON: `{"signature": "<hex Ed25519 over the exact payload bytes>", "payload": {…}}`,
//! signed with the registry's receipt key (the tablet already trusts it). `age -d -i KEY FILE | zstd -d`
//! gives the JSON.

use std::io::{Read, Write};

use chrono::{DateTime, FixedOffset, NaiveDate};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::manifest::FormRef;
use super::{BundleError, Result, hex, short};
use crate::model::record::Answers;

pub const PACKAGE_FORMAT: &str = "pendata-package";
pub const PACKAGE_FORMAT_VERSION: u32 = 1;
/// A package's plaintext may not grow beyond this (a hostile file cannot exhaust memory).
pub const MAX_PACKAGE_BYTES: u64 = 512 << 20;

/// What a package carries. `F`, a family: as a tablet reads it ([`PackagedFamily`]) or as the
/// registry writes it ([`StoredFamily`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package<F = PackagedFamily> {
    pub format: String,
    pub format_version: u32,
    pub package_id: Uuid,
    pub created_at: DateTime<FixedOffset>,
    /// The registry's name, as in its `registry.pub`.
    pub registry: String,
    /// The device it is for (and encrypted to).
    pub device: Uuid,
    /// Desa codes (`64.72.01.1001`) whose families it lists.
    pub desa: Vec<String>,
    /// When the visits should be done, if the office said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    /// After this day the tablet refuses it (a stale list would bring old answers back).
    pub expires: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The form versions the families use: a tablet without one of them refuses the package.
    pub forms: Vec<FormRef>,
    pub families: Vec<F>,
}

/// One family to visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackagedFamily {
    /// The registry's family id: the record id the visit keeps.
    pub family: Uuid,
    /// SHA-256 (hex) of the registry's current revision of the family: the visit's base.
    pub base: String,
    pub form_id: String,
    pub form_version: u64,
    /// The registry's current answers (members included).
    pub answers: Answers,
}

/// One family to visit as the registry writes it: the answers are the stored revision's JSON, copied
/// as they are (not parsed and written again); a tablet reads them as a [`PackagedFamily`].
#[derive(Debug, Clone, Serialize)]
pub struct StoredFamily {
    pub family: Uuid,
    pub base: String,
    pub form_id: String,
    pub form_version: u64,
    /// A JSON object: the answers of the revision the registry stored.
    pub answers: Box<serde_json::value::RawValue>,
}

impl<F: Serialize> Package<F> {
    /// The package file's bytes: signed with the registry's key, compressed, encrypted to the device.
    pub fn seal(&self, key: &SigningKey, device: &age::x25519::Recipient) -> Result<Vec<u8>> {
        let mut plain = self.envelope()?;
        sign_envelope(&mut plain, key)?;
        encrypt(&plain, device)
    }

    /// The package's plaintext still to be signed: `{"signature":"…","payload":{…}}` and a newline,
    /// the payload serialized once, straight into its place, the signature's place zeros.
    /// [`sign_envelope`] signs it, [`encrypt`] makes the file of it: [`Package::seal`] in three
    /// steps, for a writer that runs them on separate threads.
    pub fn envelope(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(1 << 20);
        out.extend_from_slice(HEAD);
        out.resize(HEAD.len() + SIGNATURE, b'0');
        out.extend_from_slice(MIDDLE);
        serde_json::to_writer(&mut out, self)
            .map_err(|e| BundleError::invalid(format!("cannot write the package: {e}")))?;
        out.extend_from_slice(TAIL);
        Ok(out)
    }

    /// `pendata-paket-dinsos-kaltim-0193a1b2-6472011001-20261203-0800.age`: registry, device, the
    /// first desa (`+2` when two more follow), date and time.
    pub fn file_name(&self) -> String {
        file_name(&self.registry, self.device, &self.desa, self.created_at)
    }
}

/// The envelope around a package's payload ([`Package::envelope`]).
const HEAD: &[u8] = b"{\"signature\":\"";
const MIDDLE: &[u8] = b"\",\"payload\":";
const TAIL: &[u8] = b"}\n";
/// An Ed25519 signature in hex.
const SIGNATURE: usize = 128;

/// Signs an envelope made by [`Package::envelope`] in place: the registry's signature over the exact
/// payload bytes.
pub fn sign_envelope(envelope: &mut [u8], key: &SigningKey) -> Result<()> {
    let start = HEAD.len() + SIGNATURE + MIDDLE.len();
    let payload = envelope
        .len()
        .checked_sub(TAIL.len())
        .and_then(|end| envelope.get(start..end))
        .ok_or_else(|| BundleError::invalid("not a package's envelope"))?;
    let sig = hex(&key.sign(payload).to_bytes());
    envelope
        .get_mut(HEAD.len()..HEAD.len() + SIGNATURE)
        .ok_or_else(|| BundleError::invalid("not a package's envelope"))?
        .copy_from_slice(sig.as_bytes());
    Ok(())
}

/// A package file's bytes from its signed plaintext ([`sign_envelope`]): zstd -3, then age to the
/// device's recipient.
pub fn encrypt(signed: &[u8], device: &age::x25519::Recipient) -> Result<Vec<u8>> {
    let plain = zstd::bulk::compress(signed, 3)?;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(device as _))
        .map_err(|e| BundleError::invalid(format!("cannot encrypt: {e}")))?;
    let mut out = Vec::with_capacity(plain.len() + 1024);
    let mut w = encryptor.wrap_output(&mut out)?;
    w.write_all(&plain)?;
    w.finish()?;
    Ok(out)
}

impl Package {
    /// Decrypts a package file with the device's identity and checks the registry's signature. Refuses
    /// (changing nothing) a file for another device, from another registry, altered or cut short.
    pub fn open(
        bytes: &[u8],
        identity: &age::x25519::Identity,
        registry_key: &VerifyingKey,
    ) -> Result<Package> {
        let decryptor = age::Decryptor::new_buffered(bytes).map_err(decrypt_error)?;
        let plain = decryptor
            .decrypt(std::iter::once(identity as &dyn age::Identity))
            .map_err(decrypt_error)?;
        let mut compressed = Vec::new();
        plain
            .take(MAX_PACKAGE_BYTES)
            .read_to_end(&mut compressed)
            .map_err(read_error)?;
        let mut json = Vec::new();
        zstd::stream::read::Decoder::new(compressed.as_slice())?
            .take(MAX_PACKAGE_BYTES)
            .read_to_end(&mut json)
            .map_err(read_error)?;
        let payload = super::signed_payload(
            &json,
            registry_key,
            |e| BundleError::NotABundle(format!("not a Pendata work package: {e}")),
            "the package",
        )?;
        let p: Package = serde_json::from_str(payload)
            .map_err(|e| BundleError::NotABundle(format!("package payload: {e}")))?;
        if p.format != PACKAGE_FORMAT {
            return Err(BundleError::NotABundle(format!(
                "package format is {:?}",
                p.format
            )));
        }
        if p.format_version != PACKAGE_FORMAT_VERSION {
            return Err(BundleError::Version {
                found: p.format_version,
                supported: PACKAGE_FORMAT_VERSION,
                hint: "update pendata on this tablet",
            });
        }
        Ok(p)
    }
}

/// A package's file name (`Package::file_name`).
fn file_name(
    registry: &str,
    device: Uuid,
    desa: &[String],
    created_at: DateTime<FixedOffset>,
) -> String {
    let registry: String = registry
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let registry: String = registry.chars().take(24).collect();
    let desa = match desa.first() {
        Some(d) => {
            let digits: String = d.chars().filter(char::is_ascii_digit).collect();
            if desa.len() > 1 {
                format!("{digits}+{}", desa.len() - 1)
            } else {
                digits
            }
        }
        None => "desa".into(),
    };
    format!(
        "pendata-paket-{}-{}-{desa}-{}.{}",
        if registry.is_empty() {
            "registri"
        } else {
            &registry
        },
        short(device),
        created_at.format("%Y%m%d-%H%M%S"),
        super::EXTENSION
    )
}

/// Whether a file name is one of ours: a work package.
pub fn is_package_name(name: &str) -> bool {
    name.starts_with("pendata-paket-") && name.ends_with(".age")
}

fn decrypt_error(e: age::DecryptError) -> BundleError {
    use age::DecryptError as D;
    match e {
        D::NoMatchingKeys => BundleError::Decrypt(
            "the package is not encrypted to this tablet (it is for another device)".into(),
        ),
        D::InvalidHeader | D::UnknownFormat => BundleError::NotABundle(
            "it is not an age-encrypted file, or its header is damaged".into(),
        ),
        D::InvalidMac => {
            BundleError::Tampered("the package's header was altered (MAC mismatch)".into())
        }
        D::DecryptionFailed => {
            BundleError::Tampered("the encrypted data does not authenticate".into())
        }
        D::Io(io) => read_error(io),
        other => BundleError::Decrypt(other.to_string()),
    }
}

fn read_error(e: std::io::Error) -> BundleError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            BundleError::Truncated("the package ends before its data does".into())
        }
        std::io::ErrorKind::InvalidData => BundleError::Tampered(format!(
            "the package's data does not authenticate or is damaged: {e}"
        )),
        _ => BundleError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Package {
        let at = DateTime::parse_from_rfc3339("2026-12-03T08:00:00+08:00").unwrap();
        Package {
            format: PACKAGE_FORMAT.into(),
            format_version: PACKAGE_FORMAT_VERSION,
            package_id: Uuid::from_u128(7),
            created_at: at,
            registry: "Dinas Sosial Kaltim".into(),
            device: Uuid::parse_str("0193a1b2-0000-7000-8000-00000193a1b2").unwrap(),
            desa: vec!["64.72.01.1001".into(), "64.72.01.1002".into()],
            due: None,
            expires: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            note: Some("verivali Desember".into()),
            forms: vec![FormRef {
                id: "keluarga".into(),
                version: 1,
            }],
            families: vec![PackagedFamily {
                family: Uuid::from_u128(9),
                base: "ab".repeat(32),
                form_id: "keluarga".into(),
                form_version: 1,
                answers: serde_json::from_str(r#"{"no_kk":"6472010101010001"}"#).unwrap(),
            }],
        }
    }

    #[test]
    fn sealed_package_opens_only_for_its_device_and_registry() {
        let p = sample();
        let key = SigningKey::from_bytes(&[3; 32]);
        let device = age::x25519::Identity::generate();
        let bytes = p.seal(&key, &device.to_public()).unwrap();
        assert_eq!(
            Package::open(&bytes, &device, &key.verifying_key()).unwrap(),
            p
        );
        let other = age::x25519::Identity::generate();
        let e = Package::open(&bytes, &other, &key.verifying_key()).unwrap_err();
        assert!(matches!(e, BundleError::Decrypt(_)), "{e}");
        let other_registry = SigningKey::from_bytes(&[4; 32]);
        let e = Package::open(&bytes, &device, &other_registry.verifying_key()).unwrap_err();
        assert!(matches!(e, BundleError::Signature(_)), "{e}");
        let e =
            Package::open(&bytes[..bytes.len() - 10], &device, &key.verifying_key()).unwrap_err();
        assert!(
            matches!(e, BundleError::Truncated(_) | BundleError::Tampered(_)),
            "{e}"
        );
        let mut bad = bytes.clone();
        let at = bad.len() - 20;
        bad[at] ^= 1;
        let e = Package::open(&bad, &device, &key.verifying_key()).unwrap_err();
        assert!(matches!(e, BundleError::Tampered(_)), "{e}");
    }

    #[test]
    fn file_name_says_registry_device_desa_and_date() {
        let name = sample().file_name();
        assert_eq!(
            name,
            "pendata-paket-dinas-sosial-kaltim-0193a1b2-6472011001+1-20261203-080000.age"
        );
        assert!(is_package_name(&name));
    }
}
