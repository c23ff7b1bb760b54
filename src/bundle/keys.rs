//! The registry's public key file, `registry.pub`: what a tablet needs to encrypt bundles to the registry
//! and to check the registry's receipts. It is public: it travels on the stick.
//!
//! ```json
//! {"format":"pendata-registry-pub","format_version":1,"name":"Dinas Sosial Kaltim",
//!  "created_at":"…","age_recipients":["age1…"],"signing_key":"<64 hex digits>"}
//! ```

use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::{BundleError, Result, hex, unhex};

pub const PUB_FORMAT: &str = "pendata-registry-pub";
pub const PUB_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryPub {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    pub created_at: DateTime<FixedOffset>,
    /// age X25519 recipients (`age1…`): bundles are encrypted to every one of them (a second one is a
    /// backup key kept offline).
    pub age_recipients: Vec<String>,
    /// Ed25519 public key that signs receipts, hex.
    pub signing_key: String,
    /// A demo registry (`pendata registry init DIR --demo`): it takes only demo tablets' bundles, and a
    /// real registry only real ones. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
    /// The registry's level in the chain: a province's (absent in files of registries made before
    /// levels, which are provinces) or a kabupaten/kota's.
    #[serde(default, skip_serializing_if = "Level::is_provinsi")]
    pub level: Level,
    /// The region the registry takes families of (`64` a province, `64.72` a kabupaten/kota); absent:
    /// any region (registries made before levels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wilayah: Option<String>,
}

/// A registry's level in the DTSEN chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Provinsi,
    Kabupaten,
}

impl Level {
    pub fn is_provinsi(&self) -> bool {
        *self == Level::Provinsi
    }

    /// The word shown and typed (`--level`).
    pub fn word(self) -> &'static str {
        match self {
            Level::Provinsi => "provinsi",
            Level::Kabupaten => "kabupaten",
        }
    }
}

impl RegistryPub {
    pub fn new(
        name: &str,
        created_at: DateTime<FixedOffset>,
        recipients: &[age::x25519::Recipient],
        signing: &VerifyingKey,
    ) -> RegistryPub {
        RegistryPub {
            format: PUB_FORMAT.into(),
            format_version: PUB_FORMAT_VERSION,
            name: name.into(),
            created_at,
            age_recipients: recipients.iter().map(ToString::to_string).collect(),
            signing_key: hex(signing.as_bytes()),
            demo: false,
            level: Level::Provinsi,
            wilayah: None,
        }
    }

    /// Parses and checks a `registry.pub` file: every recipient and the signing key must be well formed.
    pub fn parse(bytes: &[u8]) -> Result<RegistryPub> {
        let p: RegistryPub = serde_json::from_slice(bytes).map_err(|e| {
            BundleError::invalid(format!(
                "not a Pendata registry key file (registry.pub): {e}"
            ))
        })?;
        if p.format != PUB_FORMAT {
            return Err(BundleError::invalid(format!(
                "not a Pendata registry key file: format is {:?}",
                p.format
            )));
        }
        if p.format_version != PUB_FORMAT_VERSION {
            return Err(BundleError::invalid(format!(
                "registry key file version {} is not supported (this program reads {PUB_FORMAT_VERSION})",
                p.format_version
            )));
        }
        if p.age_recipients.is_empty() {
            return Err(BundleError::invalid(
                "the registry key file names no age recipient",
            ));
        }
        p.recipients()?;
        p.verifying_key()?;
        Ok(p)
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    pub fn recipients(&self) -> Result<Vec<age::x25519::Recipient>> {
        self.age_recipients
            .iter()
            .map(|r| {
                age::x25519::Recipient::from_str(r).map_err(|e| {
                    BundleError::invalid(format!("registry key file: bad age recipient {r:?}: {e}"))
                })
            })
            .collect()
    }

    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        parse_verifying_key(&self.signing_key)
            .map_err(|e| BundleError::invalid(format!("registry key file: signing key {e}")))
    }

    /// Whether `other` holds the same keys (signing key and age recipients, in any order): the name
    /// and creation time may differ without changing what a tablet trusts and encrypts to.
    pub fn same_keys(&self, other: &RegistryPub) -> bool {
        let mut a = self.age_recipients.clone();
        let mut b = other.age_recipients.clone();
        a.sort();
        b.sort();
        self.signing_key == other.signing_key && a == b
    }

    /// A short fingerprint a person can compare on two screens: first 16 hex digits of the signing key.
    pub fn fingerprint(&self) -> String {
        self.signing_key.chars().take(16).collect()
    }
}

/// A device key's fingerprint, the one form every screen and listing shows it in (the tablet's
/// Settings and `pendata device`, the registry's `devices list` and `show`): the first 20 bytes of the
/// SHA-256 of the Ed25519 public key, in 10 groups of 4 upper-case hex digits, to read aloud and compare
/// (`3F2A 9C01 …`). A key that is not 64 hex digits is fingerprinted as its text.
pub fn key_fingerprint(public_key_hex: &str) -> String {
    use sha2::Digest as _;
    let bytes = unhex(public_key_hex).unwrap_or_else(|| public_key_hex.as_bytes().to_vec());
    let digest = sha2::Sha256::digest(&bytes);
    let hexed = hex(digest.get(..20).unwrap_or_default()).to_ascii_uppercase();
    hexed
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An Ed25519 public key from 64 hex digits.
pub fn parse_verifying_key(s: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = unhex(s)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "is not 64 hex digits".to_string())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("is not a valid Ed25519 key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_key_fingerprint_is_ten_groups_of_its_sha256() {
        let key = hex(ed25519_dalek::SigningKey::from_bytes(&[7; 32])
            .verifying_key()
            .as_bytes());
        let fp = key_fingerprint(&key);
        let groups: Vec<&str> = fp.split(' ').collect();
        assert_eq!(groups.len(), 10, "{fp}");
        assert!(groups.iter().all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        }));
        use sha2::Digest as _;
        let want = hex(&sha2::Sha256::digest(unhex(&key).unwrap())[..20]).to_ascii_uppercase();
        assert_eq!(fp.replace(' ', ""), want);
        let other = hex(ed25519_dalek::SigningKey::from_bytes(&[8; 32])
            .verifying_key()
            .as_bytes());
        assert_ne!(key_fingerprint(&other), fp);
    }

    #[test]
    fn pub_file_round_trip_and_refusals() {
        let id = age::x25519::Identity::generate();
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let at = DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap();
        let p = RegistryPub::new("Kaltim", at, &[id.to_public()], &sk.verifying_key());
        let back = RegistryPub::parse(p.to_json().as_bytes()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.verifying_key().unwrap(), sk.verifying_key());

        let mut bad = p.clone();
        bad.age_recipients = vec!["age1nope".into()];
        let e = RegistryPub::parse(bad.to_json().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("bad age recipient"), "{e}");
        let mut bad = p.clone();
        bad.signing_key = "00".into();
        let e = RegistryPub::parse(bad.to_json().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("64 hex"), "{e}");
        let e = RegistryPub::parse(b"hello").unwrap_err();
        assert!(e.to_string().contains("registry.pub"), "{e}");
    }
}
