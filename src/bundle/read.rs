//! Reading and verifying bundles. Without the registry's identity only the outside is visible (the
//! age header and the file name: nothing personal). With it, every part is checked against the signed
//! manifest while it streams past; items handed to the caller are provisional until [`read`] returns
//! `Ok` — a consumer stages them and commits only then.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read};

use ed25519_dalek::{Signature, Verifier};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::keys::parse_verifying_key;
use super::manifest::{FormRef, Manifest, Part};
use super::{
    ATTACHMENT_DIR, BundleError, LINE_HASHES_FILE, Limits, MANIFEST_FILE, MAX_MANIFEST_BYTES,
    MAX_WINDOW_LOG, REVISIONS_FILE, Result, SIGNATURE_FILE, hex, unhex,
};
use crate::model::record::Revision;

/// What anyone can see of a bundle without the key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outside {
    pub size: u64,
    /// `age-encryption.org/v1`.
    pub age_version: String,
    /// The recipient stanza types (`X25519` per recipient, age's random "grease" stanzas left out):
    /// how many keys can open it.
    pub recipients: Vec<String>,
}

/// Reads the age header of a file: is it an age file, and to how many recipients.
pub fn outside(input: impl Read) -> Result<Outside> {
    let mut r = BufReader::new(CountingReader::new(input));
    let mut line = String::new();
    let read_line = |r: &mut BufReader<CountingReader<_>>, line: &mut String| -> Result<bool> {
        line.clear();
        let n = r.by_ref().take(4096).read_line(line)?;
        Ok(n > 0)
    };
    if !read_line(&mut r, &mut line)? {
        return Err(BundleError::Truncated("the file is empty".into()));
    }
    let version = line.trim_end().to_string();
    if !version.starts_with("age-encryption.org/") {
        return Err(BundleError::NotABundle(
            "it is not an age-encrypted file (the first line is not age-encryption.org/v1)".into(),
        ));
    }
    let mut recipients = Vec::new();
    loop {
        if r.get_ref().count > MAX_AGE_HEADER as u64 {
            return Err(BundleError::NotABundle(format!(
                "the age header is longer than {MAX_AGE_HEADER} bytes"
            )));
        }
        if !read_line(&mut r, &mut line)? {
            return Err(BundleError::Truncated(
                "the age header ends before its MAC line".into(),
            ));
        }
        if let Some(stanza) = line.strip_prefix("-> ") {
            let tag = stanza.split_whitespace().next().unwrap_or_default();
            // age adds random "grease" stanzas to keep parsers honest: they open nothing.
            if !tag.ends_with("-grease") {
                recipients.push(tag.to_string());
            }
        } else if line.starts_with("---") {
            break;
        }
        if recipients.len() > 1024 {
            return Err(BundleError::NotABundle("the age header is too long".into()));
        }
    }
    io::copy(&mut r, &mut io::sink())?;
    Ok(Outside {
        size: r.get_ref().count,
        age_version: version,
        recipients,
    })
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R> CountingReader<R> {
    fn new(inner: R) -> Self {
        CountingReader { inner, count: 0 }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that hashes what passes through.
struct HashingReader<R> {
    inner: R,
    /// `None`: counted, not hashed.
    hasher: Option<Sha256>,
    size: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(buf.get(..n).unwrap_or_default());
        }
        self.size += n as u64;
        Ok(n)
    }
}

/// One verified-so-far item of a bundle.
pub enum Item<'a> {
    /// One line of `revisions.jsonl.zst`: the exact bytes (without the newline) and the parsed revision.
    Revision {
        raw: &'a [u8],
        revision: Revision,
    },
    Attachment {
        sha256: &'a str,
        bytes: &'a [u8],
    },
    /// A line the reader could not take as a revision (too long, or not a revision) but which names its
    /// family, handed on only when [`Limits::report_bad_lines`] asks for it. Its bytes were hashed with
    /// the rest, so it is the device's own.
    Unreadable {
        /// Its line number, from 1.
        line: u64,
        head: Head,
        why: BadLine,
    },
}

/// What a line that cannot be read still says of itself: the fields before its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct Head {
    pub record: Uuid,
    pub number: u32,
    pub seq: u64,
}

impl Head {
    /// The head of a revision line, from the fields written before `"answers"` (the store writes
    /// compact JSON in `Revision`'s field order), read within its first 4 KiB.
    pub fn of(line: &[u8]) -> Option<Head> {
        const NEEDLE: &[u8] = br#","answers":"#;
        let start = line.get(..line.len().min(4096))?;
        let end = start.windows(NEEDLE.len()).position(|w| w == NEEDLE)?;
        let mut head = start.get(..end)?.to_vec();
        head.push(b'}');
        serde_json::from_slice(&head).ok()
    }
}

/// Why a line was not read as a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadLine {
    /// Longer than the limit (bytes).
    TooLong { limit: usize },
    /// Not a revision: the parser's message.
    NotARevision(String),
}

/// A bundle that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    /// `manifest.sig`, verified: the device's Ed25519 signature of `manifest_bytes`.
    pub signature: [u8; 64],
    /// Distinct records seen.
    pub records: u64,
    /// `revisions.sha256` (format 2 on): the SHA-256 of each line, 32 bytes each, each checked
    /// against its line.
    pub line_hashes: Option<Vec<u8>>,
}

/// How a chunk that fails age's authentication is said (and recognised as a possible truncation).
const NOT_AUTHENTIC: &str = "the encrypted data does not authenticate";

fn io_to_bundle(e: io::Error, what: &str) -> BundleError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => BundleError::Truncated(format!("{what} ends early")),
        io::ErrorKind::InvalidData => {
            BundleError::Tampered(format!("{what}: {NOT_AUTHENTIC} ({e})"))
        }
        _ => BundleError::Io(e),
    }
}

/// Decrypts with `identities`, verifies the signature and every hash and count, and hands each revision
/// and attachment to `on_item` as it streams past, within the default [`Limits`]. Any error means:
/// discard what `on_item` received.
pub fn read(
    input: impl Read,
    identities: &[age::x25519::Identity],
    on_item: impl FnMut(Item<'_>) -> Result<()>,
) -> Result<Verified> {
    read_within(input, identities, &Limits::default(), on_item)
}

/// The signed manifest alone (and its exact bytes): decrypts the start of the file and verifies
/// `manifest.sig` with the key the manifest names; nothing after it is read or decompressed. Whether
/// that key is trusted is the caller's question, to ask before any further work.
pub fn manifest(
    input: impl Read,
    identities: &[age::x25519::Identity],
) -> Result<(Manifest, Vec<u8>)> {
    let eof = std::cell::Cell::new(false);
    let watched = Watch {
        inner: input,
        eof: &eof,
    };
    let found = (|| {
        let mut archive = tar::Archive::new(decrypt(watched, identities)?);
        let mut entries = archive
            .entries()
            .map_err(|e| io_to_bundle(e, "the archive"))?;
        signed_manifest(&mut entries).map(|(m, bytes, _)| (m, bytes))
    })();
    truncation_is_truncation(found, &eof)
}

/// [`read`] within `limits`.
pub fn read_within(
    input: impl Read,
    identities: &[age::x25519::Identity],
    limits: &Limits,
    on_item: impl FnMut(Item<'_>) -> Result<()>,
) -> Result<Verified> {
    let eof = std::cell::Cell::new(false);
    let watched = Watch {
        inner: input,
        eof: &eof,
    };
    let read = read_all(watched, identities, limits, on_item);
    truncation_is_truncation(read, &eof)
}

/// The longest age header the reader accepts: one per registry recipient, a few hundred bytes each.
const MAX_AGE_HEADER: usize = 64 * 1024;

/// The age stream of `input`, opened with `identities`. The header must end within
/// [`MAX_AGE_HEADER`] bytes, checked before age parses it (a file of zeros has no line end, and a
/// parser looking for one would read all of it).
fn decrypt(mut input: impl Read, identities: &[age::x25519::Identity]) -> Result<impl Read> {
    let mut head = Vec::with_capacity(4096);
    input
        .by_ref()
        .take(MAX_AGE_HEADER as u64)
        .read_to_end(&mut head)
        .map_err(|e| io_to_bundle(e, "the file"))?;
    if head.is_empty() {
        return Err(BundleError::Truncated("the file is empty".into()));
    }
    if !head.starts_with(b"age-encryption.org/") {
        return Err(BundleError::NotABundle(
            "it is not an age-encrypted file (the first line is not age-encryption.org/v1)".into(),
        ));
    }
    if !head.windows(4).any(|w| w == b"\n---") {
        return Err(if head.len() < MAX_AGE_HEADER {
            BundleError::Truncated("the age header ends before its MAC line".into())
        } else {
            BundleError::NotABundle(format!(
                "the age header is longer than {MAX_AGE_HEADER} bytes"
            ))
        });
    }
    let input = io::Cursor::new(head).chain(input);
    let decryptor = age::Decryptor::new_buffered(BufReader::new(input)).map_err(decrypt_error)?;
    decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(decrypt_error)
}

/// A chunk that does not authenticate once the file has ended is a file cut short (or altered in its
/// last part, which no reader can tell apart): said as truncation, with what to do.
fn truncation_is_truncation<T>(r: Result<T>, eof: &std::cell::Cell<bool>) -> Result<T> {
    match r {
        Err(BundleError::Tampered(m)) if eof.get() && m.contains(NOT_AUTHENTIC) => {
            Err(BundleError::Truncated(
                "the encrypted data ends before its last part (the file was cut short, or its last part altered): copy it again from the tablet or export it again".into(),
            ))
        }
        other => other,
    }
}

/// Remembers whether the file's end was reached.
struct Watch<'e, R> {
    inner: R,
    eof: &'e std::cell::Cell<bool>,
}

impl<R: Read> Read for Watch<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof.set(true);
        }
        Ok(n)
    }
}

fn read_all(
    input: impl Read,
    identities: &[age::x25519::Identity],
    limits: &Limits,
    mut on_item: impl FnMut(Item<'_>) -> Result<()>,
) -> Result<Verified> {
    let mut archive = tar::Archive::new(decrypt(input, identities)?);
    let mut entries = archive
        .entries()
        .map_err(|e| io_to_bundle(e, "the archive"))?;

    // 1. manifest.json, then its signature.
    let (manifest, manifest_bytes, signature) = signed_manifest(&mut entries)?;
    within_limits(&manifest, limits)?;

    // 2. Every part, in manifest order, hashed as it streams.
    let mut seen = Seen::new(&manifest, limits);
    for part in &manifest.parts {
        if part.path == LINE_HASHES_FILE && manifest.format_version >= 3 {
            // Not in the archive: derived from the lines, then checked against this entry.
            // Its size is 32 per revision counted (`Manifest::parse`), within `max_revisions`.
            seen.derived = Some(Vec::with_capacity(usize::try_from(part.size).unwrap_or(0)));
            continue;
        }
        let mut entry = next_entry(&mut entries, &part.path)?;
        expect_name(&entry, &part.path)?;
        if entry.size() != part.size {
            return Err(BundleError::Tampered(format!(
                "{} is {} bytes, the manifest says {}",
                part.path,
                entry.size(),
                part.size
            )));
        }
        let mut hashing = HashingReader {
            inner: &mut entry,
            hasher: Some(Sha256::new()),
            size: 0,
        };
        if part.path == REVISIONS_FILE {
            read_revisions(&mut hashing, part, &mut seen, &mut on_item)?;
            if let Some(list) = seen.derived.take() {
                check_derived(&manifest, &list)?;
                seen.line_hashes = Some(list);
            }
        } else if part.path == LINE_HASHES_FILE {
            // Its size is 32 per revision counted (`Manifest::parse`), within `max_revisions`.
            let mut list = Vec::with_capacity(usize::try_from(part.size).unwrap_or(0));
            hashing
                .by_ref()
                .take(part.size)
                .read_to_end(&mut list)
                .map_err(|e| io_to_bundle(e, LINE_HASHES_FILE))?;
            seen.line_hashes = Some(list);
        } else if let Some(name) = part.path.strip_prefix(ATTACHMENT_DIR) {
            read_attachment(&mut hashing, part, name, limits, &mut on_item)?;
        } else {
            return Err(BundleError::Tampered(format!(
                "the manifest lists an unknown part {}",
                part.path
            )));
        }
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| io_to_bundle(e, &part.path))?;
        let got = hashing
            .hasher
            .map(|h| hex(&h.finalize()))
            .unwrap_or_default();
        if got != part.sha256 {
            return Err(BundleError::Tampered(format!(
                "{} has SHA-256 {got}, the manifest says {}",
                part.path, part.sha256
            )));
        }
    }
    if let Some(extra) = entries.next() {
        let name = extra
            .ok()
            .and_then(|e| {
                e.path()
                    .ok()
                    .map(|p| crate::model::printable::clean(&p.display().to_string()).into_owned())
            })
            .unwrap_or_else(|| "an unreadable entry".into());
        return Err(BundleError::Tampered(format!(
            "the archive holds {name}, which the manifest does not list"
        )));
    }
    // Read to the very end: age authenticates the last chunk only there (truncation shows here).
    only_zeros_follow(archive.into_inner())?;
    let Seen {
        records,
        revisions,
        line_hashes,
        ..
    } = seen;
    if revisions != manifest.counts.revisions || records.len() as u64 != manifest.counts.records {
        return Err(BundleError::Tampered(format!(
            "{revisions} revisions of {} families inside, the manifest says {} of {}",
            records.len(),
            manifest.counts.revisions,
            manifest.counts.records
        )));
    }
    Ok(Verified {
        manifest,
        manifest_bytes,
        signature,
        records: records.len() as u64,
        line_hashes,
    })
}

/// The next entry of the archive, which must be there (`what` names it in the error).
fn next_entry<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    what: &str,
) -> Result<tar::Entry<'a, R>> {
    match entries.next() {
        Some(e) => e.map_err(|e| io_to_bundle(e, what)),
        None => Err(BundleError::Truncated(format!(
            "the archive ends before {what}"
        ))),
    }
}

/// `manifest.json` and `manifest.sig`, the signature verified with the device key the manifest names.
fn signed_manifest<R: Read>(
    entries: &mut tar::Entries<'_, R>,
) -> Result<(Manifest, Vec<u8>, [u8; 64])> {
    let mut entry = next_entry(entries, MANIFEST_FILE)?;
    expect_name(&entry, MANIFEST_FILE)?;
    if entry.size() > MAX_MANIFEST_BYTES {
        return Err(BundleError::NotABundle("manifest.json is too large".into()));
    }
    let mut manifest_bytes = Vec::new();
    entry
        .read_to_end(&mut manifest_bytes)
        .map_err(|e| io_to_bundle(e, MANIFEST_FILE))?;
    drop(entry);
    let mut entry = next_entry(entries, SIGNATURE_FILE)?;
    expect_name(&entry, SIGNATURE_FILE)?;
    let mut sig = String::new();
    entry
        .by_ref()
        .take(1024)
        .read_to_string(&mut sig)
        .map_err(|e| io_to_bundle(e, SIGNATURE_FILE))?;
    drop(entry);
    let manifest = Manifest::parse(&manifest_bytes)?;
    let key = parse_verifying_key(&manifest.device.public_key)
        .map_err(|e| BundleError::Signature(format!("the device key {e}")))?;
    let sig: [u8; 64] = unhex(sig.trim())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| BundleError::Signature("manifest.sig is not 128 hex digits".into()))?;
    key.verify(&manifest_bytes, &Signature::from_bytes(&sig))
        .map_err(|_| {
            BundleError::Signature(
                "manifest.sig was not made by the device key named in the manifest".into(),
            )
        })?;
    Ok((manifest, manifest_bytes, sig))
}

/// What the revisions seen so far must agree with, and what they add up to.
struct Seen<'m> {
    manifest: &'m Manifest,
    limits: &'m Limits,
    forms: BTreeSet<&'m FormRef>,
    petugas: BTreeSet<&'m str>,
    records: BTreeSet<Uuid>,
    revisions: u64,
    /// Format 2: `revisions.sha256` as the archive holds it, each line checked against it.
    line_hashes: Option<Vec<u8>>,
    /// Format 3: `revisions.sha256` as it is derived from the lines (checked at their end).
    derived: Option<Vec<u8>>,
}

impl<'m> Seen<'m> {
    fn new(manifest: &'m Manifest, limits: &'m Limits) -> Self {
        Seen {
            manifest,
            limits,
            forms: manifest.forms.iter().collect(),
            petugas: manifest.petugas.iter().map(String::as_str).collect(),
            records: BTreeSet::new(),
            revisions: 0,
            line_hashes: None,
            derived: None,
        }
    }
}

impl Seen<'_> {
    /// Line `number` against the list the archive carries (format 2), or added to the one derived
    /// (format 3).
    fn line_hash(&mut self, number: u64, line: &[u8]) -> Result<()> {
        if let Some(list) = &mut self.derived {
            list.extend_from_slice(&Sha256::digest(line));
        } else if let Some(list) = &self.line_hashes {
            let at = usize::try_from(number - 1)
                .unwrap_or(usize::MAX)
                .saturating_mul(32);
            if list.get(at..at.saturating_add(32)) != Some(Sha256::digest(line).as_slice()) {
                return Err(BundleError::Tampered(format!(
                    "{REVISIONS_FILE}: line {number} does not hash to its entry in {LINE_HASHES_FILE}"
                )));
            }
        }
        Ok(())
    }
}

/// What the manifest declares, against the fixed limits: refused before anything is decompressed.
fn within_limits(m: &Manifest, limits: &Limits) -> Result<()> {
    if m.counts.revisions > limits.max_revisions {
        return Err(BundleError::Limit(format!(
            "the manifest counts {} revisions, more than the {} one bundle may hold",
            m.counts.revisions, limits.max_revisions
        )));
    }
    for part in &m.parts {
        if part.path == REVISIONS_FILE {
            let plain = part.plain_size.ok_or_else(|| {
                BundleError::Tampered(format!(
                    "the manifest gives no decompressed size of {REVISIONS_FILE}"
                ))
            })?;
            if plain > limits.max_plain_bytes {
                return Err(BundleError::Limit(format!(
                    "{REVISIONS_FILE} decompresses to {plain} bytes by its manifest, more than the {} allowed",
                    limits.max_plain_bytes
                )));
            }
        } else if part.path != LINE_HASHES_FILE && part.size > limits.max_attachment_bytes {
            return Err(BundleError::Limit(format!(
                "{} is {} bytes, more than the {} an attachment may have",
                part.path, part.size, limits.max_attachment_bytes
            )));
        }
    }
    Ok(())
}

/// `revisions.jsonl.zst`: every line parsed, checked against the manifest and handed to `on_item`; the
/// decompressed size and hash checked at its end. Decompression never goes past the size the manifest
/// declares (plus one byte, to notice more), nor a line past the line limit.
fn read_revisions(
    part_reader: &mut impl Read,
    part: &Part,
    seen: &mut Seen<'_>,
    on_item: &mut impl FnMut(Item<'_>) -> Result<()>,
) -> Result<()> {
    let declared = part.plain_size.unwrap_or(0);
    let mut decoder = zstd::stream::Decoder::new(part_reader)
        .map_err(|e| BundleError::Tampered(format!("{REVISIONS_FILE} is not zstd data: {e}")))?;
    decoder
        .window_log_max(MAX_WINDOW_LOG)
        .map_err(|e| BundleError::Tampered(format!("{REVISIONS_FILE}: {e}")))?;
    let mut plain = HashingReader {
        inner: Bounded {
            inner: decoder,
            left: declared,
            declared,
        },
        // Format 3 has no hash of the whole: its lines' list covers them (`check_derived`).
        hasher: part.plain_sha256.as_ref().map(|_| Sha256::new()),
        size: 0,
    };
    let mut lines = BufReader::with_capacity(256 * 1024, &mut plain);
    let max_line = seen.limits.max_line_bytes;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = lines
            .by_ref()
            .take(max_line as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| damaged(e, REVISIONS_FILE))?;
        if n == 0 {
            break;
        }
        let number = seen.revisions + 1;
        if number > seen.manifest.counts.revisions {
            return Err(BundleError::Tampered(format!(
                "{REVISIONS_FILE} holds more lines than the {} its manifest counts",
                seen.manifest.counts.revisions
            )));
        }
        seen.revisions = number;
        if line.last() != Some(&b'\n') {
            if line.len() <= max_line {
                return Err(BundleError::Tampered(format!(
                    "{REVISIONS_FILE}: line {number} is unterminated"
                )));
            }
            let mut whole = seen.derived.as_ref().map(|_| {
                let mut h = Sha256::new();
                h.update(&line);
                h
            });
            skip_line(&mut lines, whole.as_mut())?;
            if let (Some(list), Some(h)) = (&mut seen.derived, whole) {
                list.extend_from_slice(&h.finalize());
            }
            bad_line(
                &line,
                number,
                BadLine::TooLong { limit: max_line },
                seen,
                on_item,
            )?;
            continue;
        }
        line.pop();
        seen.line_hash(number, &line)?;
        let revision: Revision = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(e) => {
                bad_line(
                    &line,
                    number,
                    BadLine::NotARevision(e.to_string()),
                    seen,
                    on_item,
                )?;
                continue;
            }
        };
        check_revision(seen.manifest, &seen.forms, &seen.petugas, &revision, number)?;
        seen.records.insert(revision.record);
        on_item(Item::Revision {
            raw: &line,
            revision,
        })?;
    }
    drop(lines);
    let (psize, psha) = (plain.size, plain.hasher.map(|h| hex(&h.finalize())));
    if Some(psize) != part.plain_size || psha.as_ref() != part.plain_sha256.as_ref() {
        return Err(BundleError::Tampered(format!(
            "{REVISIONS_FILE} decompresses to {psize} bytes{}, not what the manifest says",
            psha.map(|h| format!(" with SHA-256 {h}"))
                .unwrap_or_default()
        )));
    }
    Ok(())
}

/// The decompressed lines, never more than the manifest declares: one byte more is an error, and
/// nothing past it is decompressed.
struct Bounded<R> {
    inner: R,
    left: u64,
    declared: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one)? {
                0 => Ok(0),
                _ => Err(io::Error::other(format!(
                    "it decompresses to more than the {} bytes its manifest declares",
                    self.declared
                ))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads past the rest of a line (hashed with the rest, never kept).
fn skip_line(lines: &mut impl BufRead, mut hasher: Option<&mut Sha256>) -> Result<()> {
    loop {
        let buf = lines.fill_buf().map_err(|e| damaged(e, REVISIONS_FILE))?;
        if buf.is_empty() {
            return Ok(());
        }
        let end = buf.iter().position(|&b| b == b'\n');
        if let Some(h) = &mut hasher {
            h.update(buf.get(..end.unwrap_or(buf.len())).unwrap_or_default());
        }
        match end {
            Some(i) => {
                lines.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                lines.consume(n);
            }
        }
    }
}

/// Format 3: the list of the lines' hashes, derived while they were read, against the size and hash
/// the signed manifest gives `revisions.sha256`.
fn check_derived(manifest: &Manifest, list: &[u8]) -> Result<()> {
    let Some(part) = manifest.parts.iter().find(|p| p.path == LINE_HASHES_FILE) else {
        return Err(BundleError::Tampered(format!(
            "the manifest does not list {LINE_HASHES_FILE}"
        )));
    };
    if list.len() as u64 != part.size || hex(&Sha256::digest(list)) != part.sha256 {
        return Err(BundleError::Tampered(format!(
            "{REVISIONS_FILE}: its {} lines do not hash to the {LINE_HASHES_FILE} the manifest signs",
            list.len() / 32
        )));
    }
    Ok(())
}

/// A line that is not a revision: handed on if the caller asked and the line names its family within
/// the bundle's range; refused otherwise.
fn bad_line(
    line: &[u8],
    number: u64,
    why: BadLine,
    seen: &mut Seen<'_>,
    on_item: &mut impl FnMut(Item<'_>) -> Result<()>,
) -> Result<()> {
    let said = match &why {
        BadLine::TooLong { limit } => format!("line {number} is longer than {limit} bytes"),
        BadLine::NotARevision(e) => format!("line {number} is not a revision: {e}"),
    };
    let head = Head::of(line).filter(|h| {
        let r = seen.manifest.sequence;
        (r.from..=r.to).contains(&h.seq)
    });
    match head {
        Some(head) if seen.limits.report_bad_lines => {
            seen.records.insert(head.record);
            on_item(Item::Unreadable {
                line: number,
                head,
                why,
            })
        }
        _ => Err(BundleError::Tampered(format!("{REVISIONS_FILE}: {said}"))),
    }
}

/// One attachment, which must hash to its name.
fn read_attachment(
    part_reader: &mut impl Read,
    part: &Part,
    name: &str,
    limits: &Limits,
    on_item: &mut impl FnMut(Item<'_>) -> Result<()>,
) -> Result<()> {
    if part.size > limits.max_attachment_bytes {
        return Err(BundleError::Limit(format!(
            "{} is larger than {} bytes",
            part.path, limits.max_attachment_bytes
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(part.size).unwrap_or(0));
    part_reader
        .read_to_end(&mut bytes)
        .map_err(|e| io_to_bundle(e, &part.path))?;
    let actual = hex(&Sha256::digest(&bytes));
    if actual != name {
        return Err(BundleError::Tampered(format!(
            "{} does not hash to its name",
            part.path
        )));
    }
    on_item(Item::Attachment {
        sha256: name,
        bytes: &bytes,
    })
}

/// Reads the decrypted stream to its end, where age authenticates the last chunk; only the archive's
/// zero padding may follow it.
fn only_zeros_follow(mut rest: impl Read) -> Result<()> {
    let mut tail = [0u8; 8192];
    loop {
        let n = rest
            .read(&mut tail)
            .map_err(|e| io_to_bundle(e, "the encrypted stream"))?;
        if n == 0 {
            return Ok(());
        }
        if tail.get(..n).is_some_and(|t| t.iter().any(|&b| b != 0)) {
            return Err(BundleError::Tampered(
                "data follows the end of the archive".into(),
            ));
        }
    }
}

fn damaged(e: io::Error, what: &str) -> BundleError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => BundleError::Truncated(format!("{what} ends early")),
        // age's own failure to authenticate a chunk, passed up through the decompressor.
        io::ErrorKind::InvalidData => {
            BundleError::Tampered(format!("{what}: {NOT_AUTHENTIC} ({e})"))
        }
        io::ErrorKind::Other => BundleError::Tampered(format!("{what} is damaged: {e}")),
        _ => BundleError::Io(e),
    }
}

fn expect_name<R: Read>(entry: &tar::Entry<'_, R>, want: &str) -> Result<()> {
    let path = entry
        .path_bytes()
        .into_owned()
        .into_iter()
        .collect::<Vec<u8>>();
    if path != want.as_bytes() {
        return Err(BundleError::Tampered(format!(
            "expected {want} in the archive, found {}",
            crate::model::printable::clean(&String::from_utf8_lossy(&path))
        )));
    }
    Ok(())
}

fn check_revision(
    m: &Manifest,
    forms: &BTreeSet<&FormRef>,
    petugas: &BTreeSet<&str>,
    r: &Revision,
    line: u64,
) -> Result<()> {
    let bad = |what: String| {
        Err(BundleError::Tampered(format!(
            "{REVISIONS_FILE} line {line}: {what}"
        )))
    };
    if r.device != m.device.id {
        return bad(format!("made on device {}, not {}", r.device, m.device.id));
    }
    if r.seq > m.sequence.to || r.seq < m.sequence.from {
        return bad(format!(
            "sequence {} is outside the bundle's range {}..{}",
            r.seq, m.sequence.from, m.sequence.to
        ));
    }
    let form = FormRef {
        id: r.form_id.clone(),
        version: r.form_version,
    };
    if !forms.contains(&form) {
        return bad(format!(
            "form {} version {} is not in the manifest",
            r.form_id, r.form_version
        ));
    }
    if !petugas.contains(r.petugas.as_str()) {
        return bad(format!("petugas {} is not in the manifest", r.petugas));
    }
    Ok(())
}

fn decrypt_error(e: age::DecryptError) -> BundleError {
    use age::DecryptError as D;
    match e {
        D::NoMatchingKeys => BundleError::Decrypt(
            "the bundle is not encrypted to this registry's key (wrong recipient)".into(),
        ),
        D::InvalidHeader | D::UnknownFormat => BundleError::NotABundle(
            "it is not an age-encrypted file, or its header is damaged".into(),
        ),
        D::InvalidMac => BundleError::Tampered("the age header was altered (MAC mismatch)".into()),
        D::DecryptionFailed => BundleError::Tampered(NOT_AUTHENTIC.into()),
        D::Io(io) => io_to_bundle(io, "the file"),
        other => BundleError::Decrypt(other.to_string()),
    }
}
