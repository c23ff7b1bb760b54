//! Receipts: the registry's signed answer to a device — which ranges of its change sequence were
//! accepted, and which revisions were rejected and why (in Indonesian and English). A receipt holds
//! record ids and reasons, nothing personal, so it is signed but not encrypted; a person can read it.
//!
//! The file is JSON: `{"signature": "<hex Ed25519 over the exact payload bytes>", "payload": {…}}`.

use chrono::{DateTime, FixedOffset};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::manifest::SeqRange;
use super::{BundleError, Result, hex, short};
use crate::model::Localized;

pub const RECEIPT_FORMAT: &str = "pendata-receipt";
pub const RECEIPT_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub format: String,
    pub format_version: u32,
    pub receipt_id: Uuid,
    pub created_at: DateTime<FixedOffset>,
    /// The registry's name, as in its `registry.pub`.
    pub registry: String,
    pub device: Uuid,
    /// Positions of the device change sequence whose final revisions the registry accepted.
    pub accepted: Vec<SeqRange>,
    pub rejected: Vec<Rejection>,
    /// What became of the device's visits of registry families (work packages). Since 2026-12.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visits: Vec<VisitResult>,
}

/// A visit of a registry family, as the registry merged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitResult {
    pub record: Uuid,
    pub seq: u64,
    /// The outcome the petugas recorded (`status_kunjungan`: 1 found … 6 duplicate), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    pub merged: VisitMerged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitMerged {
    /// The family's version now.
    Updated,
    /// The family changed at the registry since the package: an operator compares the versions.
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub record: Uuid,
    /// The revision number and its sequence position on the device.
    pub revision: u32,
    pub seq: u64,
    pub reasons: Vec<Localized>,
}

impl Receipt {
    pub fn new(
        registry: &str,
        device: Uuid,
        created_at: DateTime<FixedOffset>,
        accepted: Vec<SeqRange>,
        rejected: Vec<Rejection>,
    ) -> Receipt {
        Receipt {
            format: RECEIPT_FORMAT.into(),
            format_version: RECEIPT_FORMAT_VERSION,
            receipt_id: Uuid::now_v7(),
            created_at,
            registry: registry.into(),
            device,
            accepted,
            rejected,
            visits: Vec::new(),
        }
    }

    /// The receipt file's bytes, signed with the registry's key.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        let payload = serde_json::to_string_pretty(self).unwrap_or_default();
        let sig = key.sign(payload.as_bytes());
        format!(
            "{{\n\"signature\": \"{}\",\n\"payload\": {payload}\n}}\n",
            hex(&sig.to_bytes())
        )
        .into_bytes()
    }

    /// Parses a receipt file and checks the registry's signature.
    pub fn open(bytes: &[u8], registry_key: &VerifyingKey) -> Result<Receipt> {
        let payload = super::signed_payload(
            bytes,
            registry_key,
            |e| BundleError::NotAReceipt(format!("it is not a signed receipt (JSON): {e}")),
            "the receipt",
        )?;
        let r: Receipt = serde_json::from_str(payload)
            .map_err(|e| BundleError::NotAReceipt(format!("its contents: {e}")))?;
        if r.format != RECEIPT_FORMAT {
            return Err(BundleError::NotAReceipt(format!(
                "its format is {:?}",
                r.format
            )));
        }
        if r.format_version != RECEIPT_FORMAT_VERSION {
            return Err(BundleError::Version {
                found: r.format_version,
                supported: RECEIPT_FORMAT_VERSION,
                hint: "update pendata on this tablet",
            });
        }
        if let Some(bad) = r.accepted.iter().find(|s| s.from == 0 || s.from > s.to) {
            return Err(BundleError::invalid(format!(
                "the receipt accepts an empty range {}..{}",
                bad.from, bad.to
            )));
        }
        Ok(r)
    }

    /// `pendata-receipt-9c4e7d21-20261128-153000.json`.
    pub fn file_name(&self) -> String {
        format!(
            "pendata-receipt-{}-{}.json",
            short(self.device),
            self.created_at.format("%Y%m%d-%H%M%S")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_open_and_tamper() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let at = DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap();
        let r = Receipt::new(
            "Kaltim",
            Uuid::from_u128(5),
            at,
            vec![SeqRange { from: 1, to: 9 }],
            vec![Rejection {
                record: Uuid::from_u128(9),
                revision: 2,
                seq: 4,
                reasons: vec![Localized::new("NIK ganda", "duplicate NIK")],
            }],
        );
        let bytes = r.sign(&key);
        assert_eq!(Receipt::open(&bytes, &key.verifying_key()).unwrap(), r);
        let other = SigningKey::from_bytes(&[4; 32]);
        let e = Receipt::open(&bytes, &other.verifying_key()).unwrap_err();
        assert!(matches!(e, BundleError::Signature(_)), "{e}");
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace("\"to\": 9", "\"to\": 99");
        let e = Receipt::open(text.as_bytes(), &key.verifying_key()).unwrap_err();
        assert!(matches!(e, BundleError::Signature(_)), "{e}");
        assert!(Receipt::open(b"{}", &key.verifying_key()).is_err());
    }
}
