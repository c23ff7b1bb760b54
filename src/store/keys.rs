//! The key slots at the head of the store file (readable without a PIN: which petugas can sign in, by
//! code and name, and nothing about families).
//!
//! The file's first [`HEADER_LEN`] bytes hold two copies of the key header (each with a checksum and a
//! generation); a change writes the older copy and syncs, so a crash leaves the other one whole. The
//! header holds the data key (which encrypts the database, `store::crypt`) wrapped under a random
//! *master key*, and the master key wrapped once per petugas (under a key derived from the PIN with
//! argon2id), once for the recovery code, and, on a store made by `init` that has no petugas yet, once
//! in the clear (the setup slot, removed from both copies when the first petugas is added). Wrapping is
//! ChaCha20-Poly1305: a wrong PIN fails its tag.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::crypt::DataKey;
use super::{Result, StoreError};

/// Bytes before the database: two copies of the key header.
pub const HEADER_LEN: u64 = 64 * 1024;
const COPY_LEN: usize = 32 * 1024;
const MAGIC: &[u8; 16] = b"PENDATA-KEYS-01\n";
/// What the database's encryption is (a later build may add others).
const CIPHER: &str = "aes-256-xts-4096";

/// The master key the slots wrap.
pub type MasterKey = Zeroizing<[u8; 32]>;

/// argon2id's parameters, kept with each slot (so they can change later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kdf {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Kdf {
    /// The shipped parameters: one try takes about 0.5 s on a tablet-class CPU (BENCHMARKS.md,
    /// "PIN key derivation").
    pub const SHIPPED: Kdf = Kdf {
        m_kib: 64 * 1024,
        t: 10,
        p: 1,
    };

    /// Light parameters for the tests (build with `test-support` only).
    pub const LIGHT: Kdf = Kdf {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    /// The parameters for a new slot: the shipped ones, except in a build with `test-support` (the
    /// tests and benchmarks), which uses [`Kdf::LIGHT`] unless `PENDATA_KDF=shipped`.
    pub fn for_new_slots() -> Kdf {
        #[cfg(feature = "test-support")]
        if std::env::var("PENDATA_KDF").as_deref() != Ok("shipped") {
            return Kdf::LIGHT;
        }
        Kdf::SHIPPED
    }

    /// The key a secret derives under these parameters and `salt`.
    pub fn derive(&self, secret: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| StoreError::Storage(format!("key derivation parameters: {e}")))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(secret.as_bytes(), salt, out.as_mut())
            .map_err(|e| StoreError::Storage(format!("key derivation: {e}")))?;
        Ok(out)
    }
}

/// Who a slot is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    Petugas {
        code: String,
        name: String,
    },
    Recovery,
    /// A store made by `init` with no petugas yet: its master key in the clear.
    Setup,
}

impl Holder {
    fn aad(&self) -> Vec<u8> {
        match self {
            Holder::Petugas { code, .. } => format!("pendata slot petugas {code}").into_bytes(),
            Holder::Recovery => b"pendata slot recovery".to_vec(),
            Holder::Setup => b"pendata slot setup".to_vec(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Slot {
    #[serde(flatten)]
    pub holder: Holder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<Kdf>,
    #[serde(default)]
    salt: String,
    #[serde(default)]
    nonce: String,
    /// The master key wrapped (hex); the setup slot's in the clear.
    wrapped: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wrapped {
    nonce: String,
    ct: String,
}

/// The key header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    generation: u64,
    cipher: String,
    data_key: Wrapped,
    pub slots: Vec<Slot>,
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::fill(b.as_mut()).map_err(|e| StoreError::Storage(format!("no randomness: {e}")))?;
    Ok(b)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn seal(key: &[u8; 32], plain: &[u8], aad: &[u8]) -> Result<Wrapped> {
    let nonce = random::<12>()?;
    let ct = ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key))
        .encrypt(
            chacha20poly1305::Nonce::from_slice(nonce.as_ref()),
            Payload { msg: plain, aad },
        )
        .map_err(|_| StoreError::Storage("cannot wrap a key".into()))?;
    Ok(Wrapped {
        nonce: super::hex(nonce.as_ref()),
        ct: super::hex(&ct),
    })
}

fn open(key: &[u8; 32], w: &Wrapped, aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let nonce: [u8; 12] = unhex(&w.nonce)?.try_into().ok()?;
    let ct = unhex(&w.ct)?;
    ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key))
        .decrypt(
            chacha20poly1305::Nonce::from_slice(&nonce),
            Payload { msg: &ct, aad },
        )
        .ok()
        .map(Zeroizing::new)
}

/// A new recovery code: 120 random bits as 24 letters and digits in six groups of four (no 0, 1, I, O).
pub fn new_recovery_code() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes = random::<24>()?;
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(*ALPHABET.get(usize::from(b % 32)).unwrap_or(&b'2')))
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// A recovery code as typed: upper case, without spaces and dashes.
fn normal_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether a secret is shaped like a recovery code rather than a PIN.
pub fn is_recovery_code(secret: &str) -> bool {
    normal_code(secret).len() == 24 && !secret.trim().chars().all(|c| c.is_ascii_digit())
}

impl Header {
    /// A new header: a new data key under a new master key, with no slot yet.
    pub fn new() -> Result<(Header, MasterKey, DataKey)> {
        let master = random::<32>()?;
        let data = random::<64>()?;
        let header = Header {
            generation: 0,
            cipher: CIPHER.into(),
            data_key: seal(&master, data.as_ref(), b"pendata data key")?,
            slots: Vec::new(),
        };
        Ok((header, master, data))
    }

    /// The data key, with the master key.
    pub fn data_key(&self, master: &MasterKey) -> Option<DataKey> {
        let plain = open(master, &self.data_key, b"pendata data key")?;
        let key: [u8; 64] = plain.as_slice().try_into().ok()?;
        Some(Zeroizing::new(key))
    }

    /// A new data key under the same master key (purge: the old one is gone with the old header).
    pub fn new_data_key(&mut self, master: &MasterKey) -> Result<DataKey> {
        let data = random::<64>()?;
        self.data_key = seal(master, data.as_ref(), b"pendata data key")?;
        Ok(data)
    }

    /// Adds (or replaces) the slot of `holder`, wrapping `master` under `secret`.
    pub fn add_slot(&mut self, holder: Holder, secret: &str, master: &MasterKey) -> Result<()> {
        self.slots.retain(|s| s.holder != holder);
        if holder == Holder::Setup {
            self.slots.push(Slot {
                holder,
                kdf: None,
                salt: String::new(),
                nonce: String::new(),
                wrapped: super::hex(master.as_ref()),
            });
            return Ok(());
        }
        let kdf = Kdf::for_new_slots();
        let salt = random::<16>()?;
        let secret = match holder {
            Holder::Recovery => normal_code(secret),
            _ => secret.to_string(),
        };
        let kek = kdf.derive(&secret, salt.as_ref())?;
        let w = seal(&kek, master.as_ref(), &holder.aad())?;
        self.slots.push(Slot {
            holder,
            kdf: Some(kdf),
            salt: super::hex(salt.as_ref()),
            nonce: w.nonce,
            wrapped: w.ct,
        });
        Ok(())
    }

    pub fn remove(&mut self, holder: &Holder) {
        self.slots.retain(|s| &s.holder != holder);
    }

    pub fn has(&self, holder: &Holder) -> bool {
        self.slots.iter().any(|s| &s.holder == holder)
    }

    /// The petugas who can sign in: code and name.
    pub fn petugas(&self) -> Vec<(String, String)> {
        self.slots
            .iter()
            .filter_map(|s| match &s.holder {
                Holder::Petugas { code, name } => Some((code.clone(), name.clone())),
                _ => None,
            })
            .collect()
    }

    /// The master key from the setup slot, if the store still has one.
    pub fn setup_master(&self) -> Option<MasterKey> {
        let slot = self.slots.iter().find(|s| s.holder == Holder::Setup)?;
        let key: [u8; 32] = unhex(&slot.wrapped)?.try_into().ok()?;
        Some(Zeroizing::new(key))
    }

    /// The master key, if `secret` opens the slot of `holder` (one key derivation).
    pub fn try_slot(&self, holder: &Holder, secret: &str) -> Result<Option<MasterKey>> {
        let Some(slot) = self.slots.iter().find(|s| &s.holder == holder) else {
            return Ok(None);
        };
        let (Some(kdf), Some(salt)) = (slot.kdf, unhex(&slot.salt)) else {
            return Ok(None);
        };
        let secret = match holder {
            Holder::Recovery => normal_code(secret),
            _ => secret.to_string(),
        };
        let kek = kdf.derive(&secret, &salt)?;
        let w = Wrapped {
            nonce: slot.nonce.clone(),
            ct: slot.wrapped.clone(),
        };
        Ok(open(&kek, &w, &holder.aad()).and_then(|m| {
            let key: [u8; 32] = m.as_slice().try_into().ok()?;
            Some(Zeroizing::new(key))
        }))
    }

    /// The header's bytes as one copy (magic, length, JSON, SHA-256 of the JSON).
    fn copy_bytes(&self) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(self)?;
        let mut out = Vec::with_capacity(COPY_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&u32::try_from(json.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&Sha256::digest(&json));
        if out.len() > COPY_LEN {
            return Err(StoreError::Invalid(crate::model::Localized::new(
                "terlalu banyak petugas di tablet ini",
                "too many petugas on this tablet",
            )));
        }
        out.resize(COPY_LEN, 0);
        Ok(out)
    }

    fn parse_copy(bytes: &[u8]) -> Option<Header> {
        if bytes.get(..16)? != MAGIC {
            return None;
        }
        let len = u32::from_le_bytes(bytes.get(16..20)?.try_into().ok()?) as usize;
        let json = bytes.get(20..20 + len)?;
        let sum = bytes.get(20 + len..20 + len + 32)?;
        if Sha256::digest(json).as_slice() != sum {
            return None;
        }
        serde_json::from_slice(json).ok()
    }

    /// Writes the header into `file`: the copy a crash may lose is the older one (or both copies, when
    /// the other must not keep what this one drops: a setup slot, an old data key). Synced.
    pub fn write(&mut self, file: &std::fs::File, both: bool) -> Result<()> {
        self.generation += 1;
        let bytes = self.copy_bytes()?;
        let mut f = file;
        let slots: &[u64] = if both {
            &[0, 1]
        } else if self.generation.is_multiple_of(2) {
            &[0]
        } else {
            &[1]
        };
        for slot in slots {
            f.seek(SeekFrom::Start(slot * COPY_LEN as u64))?;
            f.write_all(&bytes)?;
            f.sync_data()?;
        }
        Ok(())
    }

    /// The header of a store file: `None` for a file with none (a plaintext store of an earlier build).
    pub fn read(path: &Path) -> Result<Option<Header>> {
        let mut f = std::fs::File::open(path)?;
        Header::read_from(&mut f, path)
    }

    pub fn read_from(f: &mut std::fs::File, path: &Path) -> Result<Option<Header>> {
        let mut buf = vec![0u8; HEADER_LEN as usize];
        f.seek(SeekFrom::Start(0))?;
        let mut got = 0;
        while got < buf.len() {
            let Some(rest) = buf.get_mut(got..) else {
                break;
            };
            match f.read(rest)? {
                0 => break,
                n => got += n,
            }
        }
        if buf.get(..16) != Some(MAGIC.as_slice())
            && buf.get(COPY_LEN..COPY_LEN + 16) != Some(MAGIC)
        {
            return Ok(None);
        }
        let a = buf.get(..COPY_LEN).and_then(Header::parse_copy);
        let b = buf.get(COPY_LEN..).and_then(Header::parse_copy);
        let header = match (a, b) {
            (Some(a), Some(b)) => Some(if a.generation >= b.generation { a } else { b }),
            (a, b) => a.or(b),
        };
        match header {
            Some(h) if h.cipher == CIPHER => Ok(Some(h)),
            Some(h) => Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("unknown store cipher {}", h.cipher),
            }),
            None => Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: "both copies of the key header are damaged".into(),
            }),
        }
    }
}

/// Wrong tries, kept beside the store (`pendata.redb.tries`) so that restarting does not reset them:
/// after three wrong PINs in a row, each try waits longer (30 s, 1 min, 2 min, … up to an hour).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Tries {
    #[serde(default)]
    by: std::collections::BTreeMap<String, Wrong>,
}

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct Wrong {
    failures: u32,
    /// Unix seconds of the latest wrong try.
    last: u64,
}

/// The tries file's name, beside the store.
pub const TRIES_FILE: &str = "pendata.redb.tries";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The wait after `failures` wrong tries in a row, in seconds.
pub fn delay_after(failures: u32) -> u64 {
    match failures {
        0..=2 => 0,
        n => (30u64 << (n - 3).min(7)).min(3600),
    }
}

fn read_tries(dir: &Path) -> Tries {
    std::fs::read(dir.join(TRIES_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_tries(dir: &Path, tries: &Tries) {
    let Ok(bytes) = serde_json::to_vec(tries) else {
        return;
    };
    let options = crate::durable::Options::replace().private();
    if let Err(e) = crate::durable::write_bytes(&dir.join(TRIES_FILE), &bytes, &options) {
        tracing::warn!(error = %e, "the count of wrong PINs was not written");
    }
}

/// Refuses a try for `who` while its wait after wrong tries runs.
pub fn check_wait(dir: &Path, who: &str) -> Result<()> {
    let wrong = read_tries(dir).by.get(who).copied().unwrap_or_default();
    let until = wrong.last + delay_after(wrong.failures);
    let now = unix_now();
    if until > now {
        return Err(StoreError::TooManyTries {
            wait_secs: until - now,
        });
    }
    Ok(())
}

/// Counts a try of `who`: a wrong one adds to its count, a right one clears it.
pub fn record_try(dir: &Path, who: &str, right: bool) {
    let mut tries = read_tries(dir);
    if right {
        if tries.by.remove(who).is_some() {
            write_tries(dir, &tries);
        }
        return;
    }
    let entry = tries.by.entry(who.to_string()).or_default();
    entry.failures = entry.failures.saturating_add(1);
    entry.last = unix_now();
    write_tries(dir, &tries);
}
