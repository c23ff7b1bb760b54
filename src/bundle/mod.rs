//! Sync bundles: how finalized revisions travel from a tablet to the registry on a USB stick, and how
//! receipts come back. This module is the format only — it reads and writes bytes and knows no store;
//! `app` joins it to the device store, the registry to its own. The format is documented in
//! `docs/bundle-format.md`; the manifest's JSON Schema is `schemas/bundle-manifest.schema.json`.
//!
//! A bundle file is an age file (X25519, to every recipient in the registry's `registry.pub`) whose
//! plaintext is a ustar archive:
//!
//! ```text
//! manifest.json          what is inside, with the SHA-256 of every other part
//! manifest.sig           hex Ed25519 signature of manifest.json's exact bytes by the device key
//! revisions.sha256       since format 2: the SHA-256 of each revision line, 32 bytes each
//! revisions.jsonl.zst    one revision per line, exactly the JSON the tablet stored, zstd-compressed
//! attachments/<sha256>   photos, named by the SHA-256 of their bytes
//! ```
//!
//! `age -d -i registry-age.key FILE | tar -x` gives the plain files; `zstd -d` the JSON lines.

pub mod keys;
pub mod manifest;
pub mod package;
pub mod read;
pub mod receipt;
pub mod upward;
pub mod write;

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

pub use manifest::Manifest;

/// The `format` field of every manifest.
pub const FORMAT: &str = "pendata-bundle";
/// The manifest format this build writes. 2: `revisions.sha256`, the SHA-256 of each revision line,
/// so one revision can be verified back to its device without the others (the chain of custody of a
/// forwarded revision). 3: the same list, still listed (size and SHA-256) in the signed manifest, but
/// not carried in the archive: the reader derives it from the lines it decompresses, and the lines'
/// own hash (`plain_sha256`) goes, since the list covers every line in order. The bundle is 32 bytes
/// per revision smaller and the export hashes the lines once instead of twice.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest manifest format this build reads (1: no line hashes).
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// Archive member names.
pub const MANIFEST_FILE: &str = "manifest.json";
pub const SIGNATURE_FILE: &str = "manifest.sig";
pub const REVISIONS_FILE: &str = "revisions.jsonl.zst";
/// Since format 2: the SHA-256 of each line of `revisions.jsonl.zst` (without its newline), 32 bytes
/// each, in line order. Listed before the revisions; in the archive (before them) in format 2 only.
pub const LINE_HASHES_FILE: &str = "revisions.sha256";
pub const ATTACHMENT_DIR: &str = "attachments/";
/// The file name extension of bundles: an age file.
pub const EXTENSION: &str = "age";

/// Limits the reader enforces so that a hostile file cannot exhaust memory.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
pub const MAX_LINE_BYTES: usize = 16 << 20;
pub const MAX_ATTACHMENT_BYTES: u64 = 64 << 20;
/// The most `revisions.jsonl.zst` may decompress to (whatever its manifest declares).
pub const MAX_PLAIN_BYTES: u64 = 2 << 30;
/// The most revision lines one bundle may hold (whatever its manifest declares).
pub const MAX_REVISIONS: u64 = 1_000_000;
/// The largest bundle file the registry reads (a full export with photos stays far below).
pub const MAX_FILE_BYTES: u64 = 8 << 30;
/// zstd's window the reader accepts (2^24 = 16 MiB; the writer's level 1 uses 2^19): a frame asking
/// for more is refused before the decoder allocates it.
pub const MAX_WINDOW_LOG: u32 = 24;

/// What a reader accepts of a bundle's contents. The manifest's own figures bound the work first (a
/// bundle never decompresses past its declared plain size, nor holds more lines than it counts); these
/// fixed limits bound what a manifest may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file read as a bundle (checked by whoever opens the file).
    pub max_file_bytes: u64,
    pub max_plain_bytes: u64,
    pub max_revisions: u64,
    pub max_line_bytes: usize,
    pub max_attachment_bytes: u64,
    /// A line that is too long or is not a revision, but names its family: handed on as
    /// [`read::Item::Unreadable`] (the registry quarantines that family) instead of refusing the bundle.
    pub report_bad_lines: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: MAX_FILE_BYTES,
            max_plain_bytes: MAX_PLAIN_BYTES,
            max_revisions: MAX_REVISIONS,
            max_line_bytes: MAX_LINE_BYTES,
            max_attachment_bytes: MAX_ATTACHMENT_BYTES,
            report_bad_lines: false,
        }
    }
}

/// Why a bundle (or receipt, or key file) was refused. Each message names the problem precisely.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a Pendata bundle: {0}")]
    NotABundle(String),
    /// A receipt file that cannot be read as one.
    #[error("not a valid Pendata receipt: {0}")]
    NotAReceipt(String),
    #[error("the file is truncated: {0}")]
    Truncated(String),
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    /// Past a limit of the reader ([`Limits`]): refused before the work (or the memory) it would take.
    #[error("over a limit of the reader: {0}")]
    Limit(String),
    #[error("the signature does not verify: {0}")]
    Signature(String),
    #[error("the contents do not match the manifest: {0}")]
    Tampered(String),
    #[error(
        "bundle format version {found} is not supported (this program reads version {supported}): {hint}"
    )]
    Version {
        found: u32,
        supported: u32,
        hint: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl BundleError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        BundleError::Invalid(msg.into())
    }
}

pub type Result<T, E = BundleError> = std::result::Result<T, E>;

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The registry's signed JSON documents (receipts, work packages) are an envelope
/// `{"signature": "<hex Ed25519>", "payload": {…}}`, the signature over the payload's exact text. Returns
/// that text once `key`'s signature over it checks. `not_json` says what the bytes are not when they are
/// no envelope; `what` names the document in the signature's refusal ("the receipt", "the package").
pub(crate) fn signed_payload<'a>(
    bytes: &'a [u8],
    key: &ed25519_dalek::VerifyingKey,
    not_json: impl FnOnce(serde_json::Error) -> BundleError,
    what: &str,
) -> Result<&'a str> {
    use ed25519_dalek::Verifier as _;
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        signature: String,
        #[serde(borrow)]
        payload: &'a serde_json::value::RawValue,
    }
    let env: Envelope<'a> = serde_json::from_slice(bytes).map_err(not_json)?;
    let sig: [u8; 64] = unhex(&env.signature)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| BundleError::Signature("the signature is not 128 hex digits".into()))?;
    key.verify(
        env.payload.get().as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .map_err(|_| {
        BundleError::Signature(format!(
            "{what} was not signed by this tablet's registry (or was altered)"
        ))
    })?;
    Ok(env.payload.get())
}

/// Bytes from lowercase or uppercase hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

/// Whether `s` looks like a SHA-256 in hex (how answers name attachments).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The file name of a bundle: device, date and sequence range readable by a person, e.g.
/// `pendata-9c4e7d21-20261128-153000-000101-000250.age` (last 8 hex digits of the device id, the
/// export's local date and time, the first and last position of the device change sequence it covers).
pub fn file_name(device: Uuid, created_at: DateTime<FixedOffset>, from: u64, to: u64) -> String {
    format!(
        "pendata-{}-{}-{from:06}-{to:06}.{EXTENSION}",
        short(device),
        created_at.format("%Y%m%d-%H%M%S")
    )
}

/// How file names, screens and listings show an id (device, package, bundle): its last 8 hex digits.
/// In a UUIDv7 they are random, where the first 8 are the time and so the same for tablets set up
/// within a minute (whose bundles, exported in the same second, would also get the same file name).
/// The registry accepts either end of an id as its short form (`registry::query::find_id`): files
/// written before 2026-12 show the first 8.
pub fn short(id: Uuid) -> String {
    let s = id.simple().to_string();
    s.get(s.len().saturating_sub(8)..).unwrap_or(&s).to_string()
}

/// What a bundle's file name says, if it is one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameInfo {
    pub device: String,
    pub date: String,
    pub time: String,
    pub from: u64,
    pub to: u64,
}

pub fn parse_file_name(name: &str) -> Option<NameInfo> {
    let stem = name.strip_prefix("pendata-")?.strip_suffix(".age")?;
    let mut parts = stem.split('-');
    let device = parts.next()?;
    let date = parts.next()?;
    let time = parts.next()?;
    let from = parts.next()?.parse().ok()?;
    let to = parts.next()?.parse().ok()?;
    if parts.next().is_some() || device.len() != 8 || date.len() != 8 || time.len() != 6 {
        return None;
    }
    Some(NameInfo {
        device: device.into(),
        date: date.into(),
        time: time.into(),
        from,
        to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap();
        let id = Uuid::parse_str("0193a1b2-0000-7000-8000-00000193a1b2").unwrap();
        let name = file_name(id, at, 101, 250);
        assert_eq!(name, "pendata-0193a1b2-20261128-100000-000101-000250.age");
        let info = parse_file_name(&name).unwrap();
        assert_eq!(
            (info.device.as_str(), info.date.as_str()),
            ("0193a1b2", "20261128")
        );
        assert_eq!((info.from, info.to), (101, 250));
        assert_eq!(parse_file_name("pendata-x.age"), None);
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert!(is_sha256_hex(&"ab".repeat(32)));
        assert!(!is_sha256_hex(&"AB".repeat(32)));
    }
}
