//! The inside of a bundle made from fuzzer bytes, so that `bundle_inner` gets past the two locks a fuzzer
//! cannot pick: age (the target encrypts to its own identity) and the manifest's signature (the target
//! signs with its own device key and names that key in the manifest). Shared with `tests/fuzz_seeds.rs`,
//! which makes the seeds in this layout from real bundles.
//!
//! Layout of an input:
//!
//! ```text
//! byte 0     flags: RAW_TAR, FIX_PARTS, FIX_COUNTS, RAW_ZSTD
//! RAW_TAR:   the rest is the decrypted archive itself, encrypted as it is
//! otherwise: manifest.json bytes, SEP_REVISIONS, the revision lines (plain, or the compressed part
//!            with RAW_ZSTD), then SEP_ATTACHMENT before each attachment's bytes
//! ```
//!
//! A structured input whose manifest is of format 2 or later (or lists the part) gets `revisions.sha256`
//! (the SHA-256 of each line, in line order) made from its lines: with FIX_PARTS the manifest lists it
//! with its true size and hash, and a manifest of format 2 (or before) has it carried in the archive
//! where that format's tablet placed it; format 3 on, the reader derives it, and FIX_PARTS gives the
//! decompressed lines no hash of their own.

use std::io::Write;

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::keys::DEVICE_KEY_SEED;
use pendata::bundle::{
    ATTACHMENT_DIR, LINE_HASHES_FILE, MANIFEST_FILE, REVISIONS_FILE, SIGNATURE_FILE, hex,
};

/// The rest of the input is a decrypted archive.
pub const RAW_TAR: u8 = 0x01;
/// The manifest's parts get the sizes and hashes of what follows.
pub const FIX_PARTS: u8 = 0x02;
/// The manifest's counts get what the lines hold.
pub const FIX_COUNTS: u8 = 0x04;
/// The revisions section is the compressed part, as it is.
pub const RAW_ZSTD: u8 = 0x08;

pub const SEP_REVISIONS: &[u8] = b"\n==revisions==\n";
pub const SEP_ATTACHMENT: &[u8] = b"\n==attachment==\n";

/// The sections of a structured input.
pub struct Sections<'a> {
    pub flags: u8,
    pub manifest: &'a [u8],
    pub revisions: &'a [u8],
    pub attachments: Vec<&'a [u8]>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits on the first occurrence of `sep`: before, after (empty when absent).
fn split_once<'a>(bytes: &'a [u8], sep: &[u8]) -> (&'a [u8], Option<&'a [u8]>) {
    match find(bytes, sep) {
        Some(at) => (
            bytes.get(..at).unwrap_or_default(),
            bytes.get(at + sep.len()..),
        ),
        None => (bytes, None),
    }
}

pub fn split(input: &[u8]) -> Option<Sections<'_>> {
    let (&flags, rest) = input.split_first()?;
    let (manifest, rest) = split_once(rest, SEP_REVISIONS);
    let mut sections = Sections {
        flags,
        manifest,
        revisions: &[],
        attachments: Vec::new(),
    };
    let Some(rest) = rest else {
        return Some(sections);
    };
    let (revisions, mut rest) = split_once(rest, SEP_ATTACHMENT);
    sections.revisions = revisions;
    while let Some(r) = rest {
        let (one, next) = split_once(r, SEP_ATTACHMENT);
        sections.attachments.push(one);
        rest = next;
    }
    Some(sections)
}

/// The input bytes of `sections` (for the seeds).
pub fn join(sections: &Sections<'_>) -> Vec<u8> {
    let mut out = vec![sections.flags];
    out.extend_from_slice(sections.manifest);
    out.extend_from_slice(SEP_REVISIONS);
    out.extend_from_slice(sections.revisions);
    for a in &sections.attachments {
        out.extend_from_slice(SEP_ATTACHMENT);
        out.extend_from_slice(a);
    }
    out
}

pub fn device_key() -> SigningKey {
    SigningKey::from_bytes(&DEVICE_KEY_SEED)
}

/// The decrypted archive an input stands for.
pub fn archive(input: &[u8]) -> Option<Vec<u8>> {
    let s = split(input)?;
    if s.flags & RAW_TAR != 0 {
        return input.get(1..).map(<[u8]>::to_vec);
    }
    let zst = if s.flags & RAW_ZSTD != 0 {
        s.revisions.to_vec()
    } else {
        zstd::bulk::compress(s.revisions, 1).ok()?
    };
    let hashes = line_hashes(&s, &zst);
    let manifest = manifest(&s, &zst, &hashes);
    let key = device_key();
    let signature = format!("{}\n", hex(&key.sign(&manifest).to_bytes()));
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, MANIFEST_FILE, &manifest)?;
    append(&mut tar, SIGNATURE_FILE, signature.as_bytes())?;
    if carries_line_hashes(&manifest) {
        append(&mut tar, LINE_HASHES_FILE, &hashes)?;
    }
    append(&mut tar, REVISIONS_FILE, &zst)?;
    for a in &s.attachments {
        let name = format!("{ATTACHMENT_DIR}{}", hex(&Sha256::digest(a)));
        append(&mut tar, &name, a)?;
    }
    tar.into_inner().ok()
}

/// The revision lines as the reader sees them: the plain part (decompressed with RAW_ZSTD).
fn plain_lines(s: &Sections<'_>, zst: &[u8]) -> Vec<u8> {
    if s.flags & RAW_ZSTD != 0 {
        zstd::bulk::decompress(zst, 1 << 20).unwrap_or_default()
    } else {
        s.revisions.to_vec()
    }
}

/// Format 2's `revisions.sha256` of the lines: 32 bytes per line (without its newline), in order.
fn line_hashes(s: &Sections<'_>, zst: &[u8]) -> Vec<u8> {
    let plain = plain_lines(s, zst);
    let body = plain.strip_suffix(b"\n").unwrap_or(&plain);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == b'\n')
        .flat_map(|l| Sha256::digest(l).to_vec())
        .collect()
}

/// Whether a manifest is of format 2 or later, or lists the line hashes part.
fn wants_line_hashes(m: &serde_json::Map<String, Value>) -> bool {
    format_version(m) >= 2
        || m.get("parts")
            .and_then(Value::as_array)
            .is_some_and(|parts| {
                parts
                    .iter()
                    .any(|p| p.get("path").and_then(Value::as_str) == Some(LINE_HASHES_FILE))
            })
}

/// The manifest's format version (0 when it has none).
fn format_version(m: &serde_json::Map<String, Value>) -> u64 {
    m.get("format_version").and_then(Value::as_u64).unwrap_or(0)
}

/// Whether the archive carries the list: format 2 (or an older version listing it); format 3 on, the
/// reader derives it.
fn carries_line_hashes(manifest: &[u8]) -> bool {
    matches!(serde_json::from_slice::<Value>(manifest),
        Ok(Value::Object(m)) if wants_line_hashes(&m) && format_version(&m) <= 2)
}

/// The manifest's bytes: as given, with this target's device key and (by the flags) the true sizes,
/// hashes and counts when they are a JSON object.
fn manifest(s: &Sections<'_>, zst: &[u8], hashes: &[u8]) -> Vec<u8> {
    let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(s.manifest) else {
        return s.manifest.to_vec();
    };
    if let Some(Value::Object(device)) = m.get_mut("device") {
        device.insert(
            "public_key".into(),
            json!(hex(device_key().verifying_key().as_bytes())),
        );
    }
    if s.flags & FIX_PARTS != 0 {
        let plain = plain_lines(s, zst);
        let mut parts = Vec::new();
        if wants_line_hashes(&m) {
            parts.push(json!({
                "path": LINE_HASHES_FILE,
                "size": hashes.len(),
                "sha256": hex(&Sha256::digest(hashes)),
            }));
        }
        let mut revisions = json!({
            "path": REVISIONS_FILE,
            "size": zst.len(),
            "sha256": hex(&Sha256::digest(zst)),
            "plain_size": plain.len(),
        });
        if format_version(&m) <= 2
            && let Some(r) = revisions.as_object_mut()
        {
            r.insert("plain_sha256".into(), json!(hex(&Sha256::digest(&plain))));
        }
        parts.push(revisions);
        for a in &s.attachments {
            let sha = hex(&Sha256::digest(a));
            parts.push(
                json!({"path": format!("{ATTACHMENT_DIR}{sha}"), "size": a.len(), "sha256": sha}),
            );
        }
        m.insert("parts".into(), Value::Array(parts));
    }
    if s.flags & FIX_COUNTS != 0 && s.flags & RAW_ZSTD == 0 {
        let lines: Vec<&[u8]> = s
            .revisions
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let records: std::collections::BTreeSet<String> = lines
            .iter()
            .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
            .filter_map(|v| v.get("record").map(ToString::to_string))
            .collect();
        m.insert(
            "counts".into(),
            json!({"records": records.len(), "revisions": lines.len(), "attachments": s.attachments.len()}),
        );
    }
    let mut bytes = serde_json::to_vec_pretty(&m).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn append(tar: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8]) -> Option<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, bytes).ok()
}

/// `plain` encrypted with age to `recipient`, as a bundle file is.
pub fn encrypt(plain: &[u8], recipient: &age::x25519::Recipient) -> Option<Vec<u8>> {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient)).ok()?;
    let mut w = encryptor.wrap_output(Vec::new()).ok()?;
    w.write_all(plain).ok()?;
    w.finish().ok()
}
