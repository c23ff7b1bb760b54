//! Upward bundles: what a kabupaten/kota registry forwards to its province — the families it endorsed
//! (pengesahan), each with its revisions **as the tablets signed them**, the kabupaten's decisions and
//! the device keys it approved. The format only; the kabupaten writes them (`registry::forward`), the
//! province reads them. Documented in `docs/bundle-format.md` ("Upward bundles").
//!
//! Modelled on the work package: an age file (X25519) encrypted to the province's recipients, whose
//! plaintext is zstd-compressed JSON `{"signature": "<hex Ed25519 over the exact payload bytes>",
//! "payload": {…}}`, signed by the kabupaten registry's signing key (the one in its `registry.pub`,
//! which the province enrols). Each revision line travels with the signed manifest, signature and line
//! hashes of the device bundle it came in (format 2 on): the province verifies every line back to its
//! device, whatever the kabupaten signed.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

use chrono::{DateTime, FixedOffset, NaiveDate};
use ed25519_dalek::{Signer, SigningKey, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::keys::parse_verifying_key;
use super::manifest::{ExportKind, Manifest, SeqRange};
use super::{BundleError, LINE_HASHES_FILE, Result, hex, unhex};
use crate::model::record::Revision;

pub const UPWARD_FORMAT: &str = "pendata-upward";
/// 2: withdrawals (`Upward::withdrawn`) and every revision not forwarded before. 3: the signature
/// covers the payload's SHA-256 ([`statement`]) instead of the payload. Versions 1 and 2 are read.
pub const UPWARD_FORMAT_VERSION: u32 = 3;
/// zstd level of the payload: level 1 is faster than 3 and, on these JSON lines, about as small
/// (BENCHMARKS.md, "Kabupaten → provinsi").
const UPWARD_ZSTD_LEVEL: i32 = 1;
/// An upward bundle's plaintext may not grow beyond this (a hostile file cannot exhaust memory).
pub const MAX_UPWARD_BYTES: u64 = 4 << 30;
/// The start of every upward bundle's file name.
pub const UPWARD_PREFIX: &str = "pendata-usulan-";

/// What an upward bundle carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upward {
    pub format: String,
    pub format_version: u32,
    /// A fresh UUIDv7 per file.
    pub bundle_id: Uuid,
    pub created_at: DateTime<FixedOffset>,
    pub registry: Sender,
    /// The positions of the kabupaten's upward sequence it covers (each endorsement has one).
    pub sequence: SeqRange,
    pub kind: ExportKind,
    /// The devices whose revisions it carries, as the kabupaten approved them.
    pub devices: Vec<ApprovedDevice>,
    /// The device bundles the revisions came in: their signed manifests and line hashes.
    pub custody: Vec<SignedBundle>,
    /// The families endorsed at the positions covered, with their revisions.
    pub families: Vec<Forwarded>,
    /// The families forwarded before and held back since, at the positions covered (format 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<Withdrawn>,
}

/// A family the kabupaten forwarded before and has held back since: the province no longer evaluates
/// it (until it is endorsed and forwarded again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawn {
    /// The hold's position in the kabupaten's upward sequence.
    pub position: u64,
    pub record: Uuid,
    pub reason: String,
    /// The minutes of the meeting that decided it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Who held it back at the kabupaten, and when.
    pub decided_by: String,
    pub decided_at: DateTime<FixedOffset>,
}

/// The kabupaten/kota registry that sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sender {
    pub name: String,
    /// Its region (`64.72`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wilayah: Option<String>,
    /// Its Ed25519 signing key, hex: it verifies the envelope; the province decides whether it trusts it.
    pub signing_key: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedDevice {
    pub id: Uuid,
    pub name: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
}

/// A device bundle's signature, as the tablet made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBundle {
    pub bundle_id: Uuid,
    /// `manifest.json`'s exact bytes (UTF-8 JSON, as text).
    pub manifest: String,
    /// `manifest.sig`: 128 hex digits.
    pub signature: String,
    /// `revisions.sha256`, hex (64 digits per line).
    pub line_hashes: String,
}

/// One endorsed family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forwarded {
    /// Its endorsement's position in the kabupaten's upward sequence.
    pub position: u64,
    pub record: Uuid,
    /// The reference and date of the musyawarah desa/kelurahan minutes.
    pub minutes: String,
    pub date: NaiveDate,
    /// Who endorsed it at the kabupaten, and when.
    pub decided_by: String,
    pub decided_at: DateTime<FixedOffset>,
    /// Its revisions, oldest first; the last is the one endorsed.
    pub revisions: Vec<ForwardedRevision>,
}

/// `Upward`, its families unparsed.
#[derive(Deserialize)]
struct Lazy<'a> {
    format: String,
    format_version: u32,
    bundle_id: Uuid,
    created_at: DateTime<FixedOffset>,
    registry: Sender,
    sequence: SeqRange,
    kind: ExportKind,
    devices: Vec<ApprovedDevice>,
    custody: Vec<SignedBundle>,
    #[serde(borrow)]
    families: Vec<&'a serde_json::value::RawValue>,
    #[serde(default)]
    withdrawn: Vec<Withdrawn>,
}

impl<'a> Lazy<'a> {
    fn into_raw(self, payload_sha256: String) -> RawUpward<'a> {
        RawUpward {
            head: Upward {
                format: self.format,
                format_version: self.format_version,
                bundle_id: self.bundle_id,
                created_at: self.created_at,
                registry: self.registry,
                sequence: self.sequence,
                kind: self.kind,
                devices: self.devices,
                custody: self.custody,
                families: Vec::new(),
                withdrawn: self.withdrawn,
            },
            families: self.families,
            payload_sha256,
        }
    }
}

impl Forwarded {
    /// One family of [`RawUpward::families`].
    pub fn parse(raw: &serde_json::value::RawValue) -> Result<Forwarded> {
        serde_json::from_str(raw.get()).map_err(|e| {
            BundleError::NotABundle(format!("not a Pendata upward bundle: a family: {e}"))
        })
    }
}

/// An upward bundle whose envelope, format and signature were checked ([`Upward::open_decrypted`]),
/// its families not yet parsed.
pub struct RawUpward<'a> {
    /// Everything but the families (its `families` is empty).
    pub head: Upward,
    /// Each family's JSON, in order, borrowed from the plaintext.
    pub families: Vec<&'a serde_json::value::RawValue>,
    /// The payload's SHA-256, hex.
    pub payload_sha256: String,
}

/// A revision line exactly as its tablet signed it, and the device bundle that carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedRevision {
    pub bundle: Uuid,
    pub line: String,
}

/// A device bundle's signature, checked: its manifest parsed, signed by the device it names, its line
/// hash list the one the manifest hashes.
#[derive(Debug, Clone)]
pub struct CheckedBundle {
    pub manifest: Manifest,
    pub line_hashes: Vec<u8>,
    /// The same hashes, to find a line's among thousands in one step.
    listed: HashSet<[u8; 32]>,
}

impl SignedBundle {
    /// Checks the device's signature and that the line hash list is the one signed.
    pub fn check(&self) -> Result<CheckedBundle> {
        let bytes = self.manifest.as_bytes();
        let manifest = Manifest::parse(bytes)?;
        if manifest.bundle_id != self.bundle_id {
            return Err(BundleError::Tampered(format!(
                "the signed manifest of device bundle {} names bundle {}",
                self.bundle_id, manifest.bundle_id
            )));
        }
        let key = parse_verifying_key(&manifest.device.public_key)
            .map_err(|e| BundleError::Signature(format!("the device key {e}")))?;
        let sig: [u8; 64] = unhex(&self.signature)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                BundleError::Signature("a device signature is not 128 hex digits".into())
            })?;
        key.verify(bytes, &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| {
                BundleError::Signature(format!(
                    "the manifest of device bundle {} was not signed by its device {}",
                    self.bundle_id, manifest.device.id
                ))
            })?;
        let list = unhex(&self.line_hashes).ok_or_else(|| {
            BundleError::Tampered(format!(
                "the line hashes of device bundle {} are not hex",
                self.bundle_id
            ))
        })?;
        let signed = manifest
            .parts
            .iter()
            .find(|p| p.path == LINE_HASHES_FILE)
            .ok_or_else(|| {
                BundleError::invalid(format!(
                    "device bundle {} is of format {}, without line hashes",
                    self.bundle_id, manifest.format_version
                ))
            })?;
        if hex(&Sha256::digest(&list)) != signed.sha256 {
            return Err(BundleError::Tampered(format!(
                "the line hashes of device bundle {} are not the ones its device signed",
                self.bundle_id
            )));
        }
        let listed = list
            .chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .collect();
        Ok(CheckedBundle {
            manifest,
            line_hashes: list,
            listed,
        })
    }
}

impl CheckedBundle {
    /// Whether `line` is one of the lines its device signed.
    pub fn lists(&self, line: &[u8]) -> bool {
        let h = Sha256::digest(line);
        <[u8; 32]>::try_from(h.as_slice()).is_ok_and(|h| self.listed.contains(&h))
    }
}

/// A revision of an upward bundle, verified back to its device.
#[derive(Debug, Clone)]
pub struct VerifiedRevision<'a> {
    pub record: Uuid,
    pub line: &'a str,
    pub revision: Revision,
    /// The device bundle it came in.
    pub bundle: Uuid,
}

impl Upward {
    /// Signs the payload with the kabupaten's key and encrypts it to the province's recipients. From
    /// format 3 the payload is compressed on another thread while it is written out, and hashed on a
    /// third; the signature covers its SHA-256 ([`statement`]) and comes after it.
    pub fn seal(&self, key: &SigningKey, province: &[age::x25519::Recipient]) -> Result<Vec<u8>> {
        let cannot = |e: serde_json::Error| {
            BundleError::invalid(format!("cannot write the upward bundle: {e}"))
        };
        let plain = if self.format_version >= 3 {
            let mut payload = super::write::Compressing::start(UPWARD_ZSTD_LEVEL);
            serde_json::to_writer(&mut payload, self).map_err(cannot)?;
            let c = payload.finish()?;
            let sig = key.sign(&statement(c.plain_sha()));
            // zstd frames one after the other read as one stream: the envelope's start, the payload,
            // its end with the signature.
            let mut plain = zstd::bulk::compress(b"{\"payload\":", UPWARD_ZSTD_LEVEL)?;
            plain.extend_from_slice(&c.zst);
            plain.extend_from_slice(&zstd::bulk::compress(
                format!(",\"signature\":\"{}\"}}\n", hex(&sig.to_bytes())).as_bytes(),
                UPWARD_ZSTD_LEVEL,
            )?);
            plain
        } else {
            // Formats 1 and 2 (written for tests of older files): the signature over the payload.
            let payload = serde_json::to_string(self).map_err(cannot)?;
            let sig = key.sign(payload.as_bytes());
            let envelope = format!(
                "{{\"signature\":\"{}\",\"payload\":{payload}}}\n",
                hex(&sig.to_bytes())
            );
            zstd::bulk::compress(envelope.as_bytes(), 3)?
        };
        let encryptor =
            age::Encryptor::with_recipients(province.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| BundleError::invalid(format!("cannot encrypt: {e}")))?;
        let mut out = Vec::with_capacity(plain.len() + 1024);
        let mut w = encryptor.wrap_output(&mut out)?;
        w.write_all(&plain)?;
        w.finish()?;
        Ok(out)
    }

    /// Decrypts, checks the envelope's signature by the key the payload names (the reader's caller
    /// decides whether that kabupaten is trusted), and the format. Returns the bundle and the SHA-256
    /// of its signed payload.
    pub fn open(bytes: &[u8], identities: &[age::x25519::Identity]) -> Result<(Upward, String)> {
        let json = Upward::decrypt(bytes, identities)?;
        let raw = Upward::open_decrypted(&json)?;
        let mut up = raw.head;
        up.families = raw
            .families
            .iter()
            .map(|f| Forwarded::parse(f))
            .collect::<Result<_>>()?;
        Ok((up, raw.payload_sha256))
    }

    /// The plaintext of an upward bundle file (decrypted and decompressed), for
    /// [`Upward::open_decrypted`].
    pub fn decrypt(bytes: &[u8], identities: &[age::x25519::Identity]) -> Result<Vec<u8>> {
        decrypt(bytes, identities)
    }

    /// [`Upward::open`] on the plaintext, with each family left as its raw JSON (borrowed from
    /// `json`): the province parses them on its preparing threads ([`Forwarded::parse`]), so that the
    /// one pass here only finds where each family begins and ends. The envelope, the format and the
    /// kabupaten's signature are checked as by `open`; a family that is not one is found when it is
    /// parsed.
    pub fn open_decrypted(json: &[u8]) -> Result<RawUpward<'_>> {
        #[derive(Deserialize)]
        struct Envelope<'a> {
            signature: String,
            #[serde(borrow)]
            payload: &'a serde_json::value::RawValue,
        }
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            format_version: Option<u32>,
        }
        let not_upward = |e: serde_json::Error| {
            BundleError::NotABundle(format!("not a Pendata upward bundle: {e}"))
        };
        // The envelope as format 3 writes it is cut at its known ends; any other, parsed.
        let (payload, signature) = match split_envelope(json) {
            Some(split) => split,
            None => {
                let envelope: Envelope<'_> = serde_json::from_slice(json).map_err(not_upward)?;
                (envelope.payload.get(), envelope.signature)
            }
        };
        // The payload is parsed while a second thread hashes it: its SHA-256 is what format 3 signs,
        // and what the province keeps to know the bundle again.
        let (sha, parsed) = std::thread::scope(|s| {
            let hashing = s.spawn(|| Sha256::digest(payload.as_bytes()));
            let parsed = serde_json::from_str::<Lazy<'_>>(payload);
            (hashing.join(), parsed)
        });
        let sha = hex(&sha.map_err(|_| BundleError::invalid("the hashing thread failed"))?);
        // Its format first: a file this program cannot parse may be of a newer one.
        let head: Head = match &parsed {
            Ok(up) => Head {
                format: Some(up.format.clone()),
                format_version: Some(up.format_version),
            },
            Err(_) => serde_json::from_str(payload).map_err(not_upward)?,
        };
        if head.format.as_deref() != Some(UPWARD_FORMAT) {
            return Err(BundleError::NotABundle(format!(
                "upward bundle format is {:?}",
                head.format.unwrap_or_default()
            )));
        }
        let version = head.format_version.unwrap_or(0);
        if !(1..=UPWARD_FORMAT_VERSION).contains(&version) {
            return Err(BundleError::Version {
                found: version,
                supported: UPWARD_FORMAT_VERSION,
                hint: if version > UPWARD_FORMAT_VERSION {
                    "update pendata on this computer"
                } else {
                    "the kabupaten/kota runs an old pendata: update it and forward again"
                },
            });
        }
        let lazy = parsed.map_err(not_upward)?;
        let key = parse_verifying_key(&lazy.registry.signing_key)
            .map_err(|e| BundleError::Signature(format!("the kabupaten's key {e}")))?;
        let sig: [u8; 64] = unhex(&signature)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| BundleError::Signature("the signature is not 128 hex digits".into()))?;
        let signed = if version >= 3 {
            statement(&sha)
        } else {
            payload.as_bytes().to_vec()
        };
        key.verify(&signed, &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| {
                BundleError::Signature(
                    "the upward bundle was not signed by the kabupaten/kota registry it names (or was altered)".into(),
                )
            })?;
        Ok(lazy.into_raw(sha))
    }

    /// Every revision verified back to its device: the device bundle it names is in `custody`, signed
    /// by a device the kabupaten listed with that key, its line hashes signed, the line among them, and
    /// the line a revision of that device within that bundle's range, of the family it is filed under.
    /// The first that fails refuses the whole bundle.
    pub fn verified(&self) -> Result<Vec<VerifiedRevision<'_>>> {
        let custody = self.checked_custody()?;
        let mut out = Vec::new();
        for f in &self.families {
            for r in &f.revisions {
                out.push(VerifiedRevision {
                    record: f.record,
                    line: &r.line,
                    revision: verify_revision(&custody, f.record, r)?,
                    bundle: r.bundle,
                });
            }
        }
        Ok(out)
    }

    /// The device bundles it carries, each checked ([`SignedBundle::check`]) and signed by a device
    /// the kabupaten listed with that key: what [`verify_revision`] verifies each line against.
    pub fn checked_custody(&self) -> Result<BTreeMap<Uuid, CheckedBundle>> {
        let devices: BTreeMap<Uuid, &ApprovedDevice> =
            self.devices.iter().map(|d| (d.id, d)).collect();
        let mut bundles = BTreeMap::new();
        for c in &self.custody {
            let checked = c.check()?;
            let listed = devices.get(&checked.manifest.device.id).is_some_and(|d| {
                d.public_key
                    .eq_ignore_ascii_case(&checked.manifest.device.public_key)
            });
            if !listed {
                return Err(BundleError::Tampered(format!(
                    "device bundle {} is signed by device {}, which the kabupaten did not list with that key",
                    c.bundle_id, checked.manifest.device.id
                )));
            }
            bundles.insert(c.bundle_id, checked);
        }
        Ok(bundles)
    }

    /// `pendata-usulan-<wilayah digits>-<from>-<to>-<YYYYMMDD-HHMMSS>-<bundle>.age` (`<bundle>`: the
    /// last 8 hex digits of its id, so a range forwarded twice in a second gets two names).
    pub fn file_name(&self) -> String {
        let region: String = self
            .registry
            .wilayah
            .as_deref()
            .unwrap_or("kab")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        format!(
            "{UPWARD_PREFIX}{region}-{:06}-{:06}-{}-{}.{}",
            self.sequence.from,
            self.sequence.to,
            self.created_at.format("%Y%m%d-%H%M%S"),
            super::short(self.bundle_id),
            super::EXTENSION
        )
    }
}

/// Whether a file name is an upward bundle's.
/// One revision of family `record` verified back to its device: the device bundle it names is in
/// `custody` ([`Upward::checked_custody`]), its line one of those signed, and the line a revision of
/// that device within that bundle's range, of the family it is filed under. Returns it parsed.
pub fn verify_revision(
    custody: &BTreeMap<Uuid, CheckedBundle>,
    record: Uuid,
    r: &ForwardedRevision,
) -> Result<Revision> {
    let refused = |why: &str| {
        BundleError::Tampered(format!(
            "a revision of family {record} fails its device signature: {why}"
        ))
    };
    let b = custody
        .get(&r.bundle)
        .ok_or_else(|| refused("the device bundle it names is not carried"))?;
    if !b.lists(r.line.as_bytes()) {
        return Err(refused("its line is not one its device signed"));
    }
    let revision: Revision =
        serde_json::from_str(&r.line).map_err(|e| refused(&format!("not a revision: {e}")))?;
    let s = b.manifest.sequence;
    if revision.device != b.manifest.device.id
        || revision.seq < s.from
        || revision.seq > s.to
        || revision.record != record
    {
        return Err(refused(
            "it is not of the device, range or family it is filed under",
        ));
    }
    Ok(revision)
}

/// The payload and the signature of an envelope exactly as format 3 writes it (`{"payload":…,
/// "signature":"<128 hex>"}` and a line break): the payload is then parsed as one JSON value and its
/// hash checked against the signature, as when the envelope is parsed. `None`: another shape.
fn split_envelope(json: &[u8]) -> Option<(&str, String)> {
    const HEAD: &[u8] = b"{\"payload\":";
    const SIG: &[u8] = b",\"signature\":\"";
    const END: &[u8] = b"\"}\n";
    let rest = json.strip_prefix(HEAD)?.strip_suffix(END)?;
    let (payload, signature) = rest.split_at_checked(rest.len().checked_sub(128)?)?;
    let payload = payload.strip_suffix(SIG)?;
    if !signature.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    Some((
        std::str::from_utf8(payload).ok()?,
        String::from_utf8(signature.to_vec()).ok()?,
    ))
}

/// What a format 3 upward bundle's signature signs: its payload's SHA-256 (hex) under a fixed label.
/// Ed25519 hashes what it signs twice with SHA-512; over hundreds of MB of payload that took seconds at
/// both ends, where the SHA-256 is computed anyway (the province keeps it to know the bundle again).
fn statement(payload_sha256_hex: &str) -> Vec<u8> {
    format!("pendata-upward-3 payload sha256 {payload_sha256_hex}").into_bytes()
}

/// What a format 3 signature signs for these payload bytes (for tools that sign a payload of their
/// own, like the fuzz targets).
pub fn signed_statement(payload: &[u8]) -> Vec<u8> {
    statement(&hex(&Sha256::digest(payload)))
}

pub fn is_upward_name(name: &str) -> bool {
    name.starts_with(UPWARD_PREFIX) && name.ends_with(".age")
}

fn decrypt(bytes: &[u8], identities: &[age::x25519::Identity]) -> Result<Vec<u8>> {
    use age::DecryptError as D;
    let decrypt_error = |e: D| match e {
        D::NoMatchingKeys => BundleError::Decrypt(
            "the upward bundle is not encrypted to this registry (it is for another province)"
                .into(),
        ),
        D::InvalidHeader | D::UnknownFormat => BundleError::NotABundle(
            "it is not an age-encrypted file, or its header is damaged".into(),
        ),
        D::InvalidMac => BundleError::Tampered("the header was altered (MAC mismatch)".into()),
        D::DecryptionFailed => {
            BundleError::Tampered("the encrypted data does not authenticate".into())
        }
        D::Io(io) => read_error(io),
        other => BundleError::Decrypt(other.to_string()),
    };
    let decryptor = age::Decryptor::new_buffered(bytes).map_err(decrypt_error)?;
    let plain = decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(decrypt_error)?;
    // Decompressed as it is deciphered, through a buffer of 1 MB, into room for the JSON reserved
    // at once: zstd makes these files about 15 times smaller. (`read_to_end` zero-filled the room
    // first and, at its end, copied hundreds of MB into a buffer twice the size.)
    let room = (bytes.len() as u64)
        .saturating_mul(20)
        .min(MAX_UPWARD_BYTES)
        .try_into()
        .unwrap_or(0usize);
    let mut json = Vec::with_capacity(room);
    let mut decoder = zstd::stream::read::Decoder::new(plain.take(MAX_UPWARD_BYTES))
        .and_then(|mut d| d.window_log_max(super::MAX_WINDOW_LOG).map(|()| d))
        .map_err(read_error)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut limited = (&mut decoder).take(MAX_UPWARD_BYTES);
    loop {
        let n = limited.read(&mut buf).map_err(read_error)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        json.extend_from_slice(chunk);
    }
    Ok(json)
}

fn read_error(e: std::io::Error) -> BundleError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            BundleError::Truncated("the upward bundle ends before its data does".into())
        }
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other => BundleError::Tampered(
            format!("the upward bundle's data does not authenticate or is damaged: {e}"),
        ),
        _ => BundleError::Io(e),
    }
}

pub const UPWARD_RECEIPT_FORMAT: &str = "pendata-upward-receipt";
pub const UPWARD_RECEIPT_FORMAT_VERSION: u32 = 1;

/// The province's answer to a kabupaten/kota: its evaluation of each family forwarded (accepted, or
/// returned with the reason), signed with the province's key (the one in the `upstream.pub` the
/// kabupaten keeps). Plain signed JSON like a tablet's receipt: ids and reasons, no answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpwardReceipt {
    pub format: String,
    pub format_version: u32,
    pub receipt_id: Uuid,
    pub created_at: DateTime<FixedOffset>,
    /// The province's name.
    pub province: String,
    /// The kabupaten/kota registry it is for (its id at the province).
    pub kabupaten: Uuid,
    pub decisions: Vec<ProvinceDecision>,
}

/// The province's decision on one forwarded family's revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvinceDecision {
    pub record: Uuid,
    /// The revision evaluated: its device and sequence position.
    pub device: Uuid,
    pub seq: u64,
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl UpwardReceipt {
    /// The file's bytes, signed with the province's key.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        let payload = serde_json::to_string_pretty(self).unwrap_or_default();
        let sig = key.sign(payload.as_bytes());
        format!(
            "{{\n\"signature\": \"{}\",\n\"payload\": {payload}\n}}\n",
            hex(&sig.to_bytes())
        )
        .into_bytes()
    }

    /// Parses a receipt file and checks the province's signature.
    pub fn open(bytes: &[u8], province: &ed25519_dalek::VerifyingKey) -> Result<UpwardReceipt> {
        let payload = super::signed_payload(
            bytes,
            province,
            |e| BundleError::NotAReceipt(format!("it is not a signed receipt (JSON): {e}")),
            "the province's receipt",
        )
        .map_err(|e| match e {
            BundleError::Signature(_) => BundleError::Signature(
                "the receipt was not signed by the province this registry forwards to (or was altered)".into(),
            ),
            other => other,
        })?;
        let r: UpwardReceipt = serde_json::from_str(payload)
            .map_err(|e| BundleError::NotAReceipt(format!("its contents: {e}")))?;
        if r.format != UPWARD_RECEIPT_FORMAT || r.format_version != UPWARD_RECEIPT_FORMAT_VERSION {
            return Err(BundleError::NotAReceipt(format!(
                "its format is {:?} version {}",
                r.format, r.format_version
            )));
        }
        Ok(r)
    }

    /// `pendata-kuitansi-provinsi-<kabupaten>-<YYYYMMDD-HHMMSS>.json`.
    pub fn file_name(&self) -> String {
        format!(
            "pendata-kuitansi-provinsi-{}-{}.json",
            super::short(self.kabupaten),
            self.created_at.format("%Y%m%d-%H%M%S")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(version: u32, key: &SigningKey) -> Upward {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00+08:00").unwrap();
        Upward {
            format: UPWARD_FORMAT.into(),
            format_version: version,
            bundle_id: Uuid::now_v7(),
            created_at: at,
            registry: Sender {
                name: "Kutai Kartanegara".into(),
                wilayah: Some("64.02".into()),
                signing_key: hex(key.verifying_key().as_bytes()),
                demo: false,
            },
            sequence: SeqRange { from: 1, to: 1 },
            kind: ExportKind::Incremental,
            devices: Vec::new(),
            custody: Vec::new(),
            families: Vec::new(),
            withdrawn: Vec::new(),
        }
    }

    /// A format 1 file (before withdrawals) and a format 2 one (signed over the payload) still open; a newer one than this program is refused
    /// with the hint to update; format 1's JSON has no `withdrawn` and reads as none.
    #[test]
    fn formats_1_to_3_open_and_a_newer_format_is_refused() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let province = age::x25519::Identity::generate();
        let seal = |u: &Upward| u.seal(&key, &[province.to_public()]).unwrap();
        let old = bundle(1, &key);
        assert!(!serde_json::to_string(&old).unwrap().contains("withdrawn"));
        let (got, _) = Upward::open(&seal(&old), std::slice::from_ref(&province)).unwrap();
        assert_eq!(got, old);
        // Format 2 (the signature over the payload itself) and 3 (over its SHA-256) both open, and
        // both give the payload's SHA-256.
        for version in [2, 3] {
            let up = bundle(version, &key);
            let (got, sha) = Upward::open(&seal(&up), std::slice::from_ref(&province)).unwrap();
            assert_eq!(got, up);
            assert_eq!(sha, hex(&Sha256::digest(serde_json::to_vec(&up).unwrap())));
        }
        // A format 3 file whose signature is of another payload is refused.
        let mut other = bundle(3, &key);
        let sealed = seal(&other);
        other.bundle_id = Uuid::now_v7();
        let json = decrypt(&sealed, std::slice::from_ref(&province)).unwrap();
        let (_, signature) = split_envelope(&json).expect("format 3's envelope");
        let forged = format!(
            "{{\"payload\":{},\"signature\":\"{signature}\"}}\n",
            serde_json::to_string(&other).unwrap()
        );
        let mut file = Vec::new();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&province.to_public() as _)).unwrap();
        let mut w = encryptor.wrap_output(&mut file).unwrap();
        w.write_all(&zstd::bulk::compress(forged.as_bytes(), 1).unwrap())
            .unwrap();
        w.finish().unwrap();
        let refused = Upward::open(&file, std::slice::from_ref(&province)).unwrap_err();
        assert!(matches!(refused, BundleError::Signature(_)), "{refused}");
        let newer = bundle(UPWARD_FORMAT_VERSION + 1, &key);
        let refused = Upward::open(&seal(&newer), std::slice::from_ref(&province)).unwrap_err();
        assert!(refused.to_string().contains("update pendata"), "{refused}");
    }
}
