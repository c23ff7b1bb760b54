//! The manifest: what a bundle holds, signed by the device. It hashes every other part, so the one
//! signature covers the whole bundle. JSON Schema: `schemas/bundle-manifest.schema.json`.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BundleError, FORMAT, FORMAT_VERSION, OLDEST_FORMAT_VERSION, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `pendata-bundle`.
    pub format: String,
    pub format_version: u32,
    /// A fresh UUIDv7 per bundle file (a re-export of the same range gets a new one).
    pub bundle_id: Uuid,
    pub created_at: DateTime<FixedOffset>,
    pub device: DeviceRef,
    /// The positions of the device change sequence this bundle covers, both ends included. Drafts and
    /// autosaves in the range stay on the tablet; the range still counts as covered.
    pub sequence: SeqRange,
    pub kind: ExportKind,
    /// Codes of the petugas who made the revisions inside.
    pub petugas: Vec<String>,
    /// Form ids and versions of the revisions inside.
    pub forms: Vec<FormRef>,
    pub counts: Counts,
    /// Every other member of the archive, in archive order, with its size and SHA-256.
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRef {
    pub id: Uuid,
    pub name: String,
    /// Ed25519 public key, hex (64 digits). It verifies `manifest.sig`; the registry decides whether it
    /// trusts it.
    pub public_key: String,
    /// The device's age X25519 recipient (`age1…`): what the registry encrypts work packages to.
    /// Since 2026-12 (absent in bundles of older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_recipient: Option<String>,
    /// Made by a demo tablet (`pendata init --demo`): synthetic families, which only a demo registry
    /// takes. Signed with the rest of the manifest; absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    pub from: u64,
    pub to: u64,
}

/// How the range was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    /// Everything since the previous export.
    Incremental,
    /// The whole history again.
    All,
    /// A range asked for again (a lost stick).
    Range,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FormRef {
    pub id: String,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Distinct families (records).
    pub records: u64,
    /// Lines of `revisions.jsonl.zst`.
    pub revisions: u64,
    pub attachments: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Archive member name.
    pub path: String,
    /// Size in the archive, bytes.
    pub size: u64,
    /// SHA-256 of the member's bytes, hex.
    pub sha256: String,
    /// For compressed members: the size and SHA-256 after decompression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_sha256: Option<String>,
}

impl Manifest {
    /// Format 2 lists `revisions.sha256` before the revisions, 32 bytes per revision; format 1 has none.
    fn check_line_hashes(&self) -> Result<()> {
        let hashes = self
            .parts
            .iter()
            .position(|p| p.path == super::LINE_HASHES_FILE);
        let revisions = self
            .parts
            .iter()
            .position(|p| p.path == super::REVISIONS_FILE);
        match (self.format_version >= 2, hashes, revisions) {
            (false, None, _) => {}
            (true, Some(h), Some(r)) if h < r => {
                let size = self.parts.get(h).map_or(0, |p| p.size);
                if Some(size) != self.counts.revisions.checked_mul(32) {
                    return Err(BundleError::invalid(format!(
                        "{} is {size} bytes for {} revisions (32 bytes each)",
                        super::LINE_HASHES_FILE,
                        self.counts.revisions
                    )));
                }
            }
            _ => {
                return Err(BundleError::invalid(format!(
                    "a manifest of format {} lists {} {}",
                    self.format_version,
                    super::LINE_HASHES_FILE,
                    if self.format_version >= 2 {
                        "not, or not before the revisions"
                    } else {
                        "(only format 2 has it)"
                    }
                )));
            }
        }
        Ok(())
    }

    /// Whether it lists the SHA-256 of each revision line (format 2 on).
    pub fn has_line_hashes(&self) -> bool {
        self.parts.iter().any(|p| p.path == super::LINE_HASHES_FILE)
    }

    /// Parses and checks the manifest's own consistency (format, version, fields that must agree).
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        // Read the version before the rest, so an older or newer layout gets the version message.
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            format_version: Option<u32>,
        }
        let head: Head = serde_json::from_slice(bytes)
            .map_err(|e| BundleError::NotABundle(format!("manifest.json is not JSON: {e}")))?;
        if head.format.as_deref() != Some(FORMAT) {
            return Err(BundleError::NotABundle(format!(
                "manifest format is {:?}, expected {FORMAT:?}",
                head.format.unwrap_or_default()
            )));
        }
        match head.format_version {
            Some(v) if (OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&v) => {}
            Some(v) => {
                return Err(BundleError::Version {
                    found: v,
                    supported: FORMAT_VERSION,
                    hint: if v > FORMAT_VERSION {
                        "update pendata on this computer"
                    } else {
                        "the tablet runs an old pendata: update it and export again"
                    },
                });
            }
            None => {
                return Err(BundleError::NotABundle(
                    "manifest has no format_version".into(),
                ));
            }
        }
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| BundleError::NotABundle(format!("manifest.json: {e}")))?;
        if m.sequence.from == 0 || m.sequence.from > m.sequence.to {
            return Err(BundleError::invalid(format!(
                "manifest sequence range {}..{} is empty or starts at 0",
                m.sequence.from, m.sequence.to
            )));
        }
        if m.counts.revisions < m.counts.records {
            return Err(BundleError::invalid(
                "manifest counts more families than revisions",
            ));
        }
        let attachments = m
            .parts
            .iter()
            .filter(|p| p.path.starts_with(super::ATTACHMENT_DIR))
            .count() as u64;
        if attachments != m.counts.attachments {
            return Err(BundleError::invalid(format!(
                "manifest counts {} attachments but lists {attachments}",
                m.counts.attachments
            )));
        }
        m.check_line_hashes()?;
        // Before format 3 the hash of the decompressed lines is what covers them whole (format 1 has
        // nothing else); from 3 on, the list of the lines' hashes does.
        if m.format_version < 3
            && m.parts
                .iter()
                .any(|p| p.path == super::REVISIONS_FILE && p.plain_sha256.is_none())
        {
            return Err(BundleError::invalid(format!(
                "a manifest of format {} gives no hash of the decompressed {}",
                m.format_version,
                super::REVISIONS_FILE
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &m.parts {
            if !seen.insert(p.path.as_str()) {
                return Err(BundleError::invalid(format!(
                    "manifest lists {} twice",
                    p.path
                )));
            }
            if !super::is_sha256_hex(&p.sha256) {
                return Err(BundleError::invalid(format!(
                    "manifest hash of {} is not a SHA-256",
                    p.path
                )));
            }
        }
        Ok(m)
    }
}
