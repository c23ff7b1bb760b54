//! A work package made from fuzzer bytes, so that the `package` target reaches the payload's parsing past
//! the two locks a fuzzer cannot pick: age (the target encrypts to its own identity, as the tablet's) and
//! the registry's signature (the target signs with its own registry key). Shared with
//! `tests/fuzz_seeds.rs`, which checks the seeds in this layout.
//!
//! Layout of an input: byte 0 is [`RAW_FILE`] (the rest is the package file as it is) or anything else
//! (the rest is the signed payload's JSON, which the target signs, compresses and encrypts as the registry
//! does).

use std::io::Write;

use ed25519_dalek::{Signer, SigningKey};
use pendata::bundle::hex;

use crate::keys::RECEIPT_KEY_SEED;

/// The rest of the input is a package file, as it is.
pub const RAW_FILE: u8 = 0x00;

/// The registry's key the target signs with (the receipt key, as the registry does).
pub fn registry_key() -> SigningKey {
    SigningKey::from_bytes(&RECEIPT_KEY_SEED)
}

/// The package file an input stands for.
pub fn file(input: &[u8], device: &age::x25519::Recipient) -> Option<Vec<u8>> {
    sealed(input, device, |payload| payload.to_vec())
}

/// The upward bundle file an input stands for: a payload is signed as format 3 signs it (its
/// SHA-256 under a label, `signed_statement`).
pub fn upward_file(input: &[u8], province: &age::x25519::Recipient) -> Option<Vec<u8>> {
    sealed(input, province, pendata::bundle::upward::signed_statement)
}

fn sealed(
    input: &[u8],
    device: &age::x25519::Recipient,
    signed: impl Fn(&[u8]) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let (&flag, rest) = input.split_first()?;
    if flag == RAW_FILE {
        return Some(rest.to_vec());
    }
    let payload = std::str::from_utf8(rest).ok()?;
    let signature = hex(&registry_key().sign(&signed(payload.as_bytes())).to_bytes());
    let envelope = format!("{{\"signature\":\"{signature}\",\"payload\":{payload}}}\n");
    let plain = zstd::bulk::compress(envelope.as_bytes(), 1).ok()?;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(device as _)).ok()?;
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).ok()?;
    w.write_all(&plain).ok()?;
    w.finish().ok()?;
    Some(out)
}
