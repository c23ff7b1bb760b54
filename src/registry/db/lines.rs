//! Revision lines as the store keeps them: the exact JSON line from the bundle, zstd-compressed with the
//! line dictionary its frame names. Packing runs in the import's reader threads; unpacking wherever a
//! stored revision is read.

use std::io::Read;

use super::DbError;
use crate::bundle::BundleError;

/// The zstd dictionary stored revision lines are compressed with (`schemas/dict/`, trained on the
/// structure of revision lines — keys, codes — never on anyone's data). A 4 kB line becomes a sixth of
/// it (a third of that of zstd without it), no slower: the store of a province is a third of the size
/// and the merge writes that much less. Frames name their dictionary; a published one never changes, a
/// new one gets the next number and the old ones stay here to read what they compressed.
const LINE_DICT_ID: u32 = 1;
const LINE_DICT: &[u8] = include_bytes!("../../../schemas/dict/registry-lines-1.zdict");
/// The level lines are compressed at with the dictionary.
const PACK_LEVEL: i32 = 1;

static PACK_DICT: std::sync::LazyLock<zstd::dict::EncoderDictionary<'static>> =
    std::sync::LazyLock::new(|| zstd::dict::EncoderDictionary::copy(LINE_DICT, PACK_LEVEL));
static UNPACK_DICT: std::sync::LazyLock<zstd::dict::DecoderDictionary<'static>> =
    std::sync::LazyLock::new(|| zstd::dict::DecoderDictionary::copy(LINE_DICT));

/// Compresses a bundle's lines for the store, one after the other.
pub struct Packer {
    z: zstd::bulk::Compressor<'static>,
    /// Room for the largest frame of the line at hand; each frame is copied out at its own size (a frame
    /// returned in a buffer sized for the worst case would hold ~6x its size until the bundle is merged).
    scratch: Vec<u8>,
}

pub(crate) fn packer() -> Result<Packer, BundleError> {
    Ok(Packer {
        z: zstd::bulk::Compressor::with_prepared_dictionary(&PACK_DICT).map_err(BundleError::Io)?,
        scratch: Vec::new(),
    })
}

impl crate::registry::storage::Pack for Packer {
    fn pack(&mut self, line: &[u8]) -> Result<Vec<u8>, BundleError> {
        pack(self, line)
    }
}

/// A revision line as the store keeps it: zstd-compressed with the line dictionary
/// (`zstd -d -D schemas/dict/registry-lines-1.zdict` gives it back byte for byte).
pub(crate) fn pack(p: &mut Packer, line: &[u8]) -> Result<Vec<u8>, BundleError> {
    let bound = zstd::zstd_safe::compress_bound(line.len());
    p.scratch.clear();
    p.scratch.reserve(bound);
    p.z.compress_to_buffer(line, &mut p.scratch)
        .map_err(BundleError::Io)?;
    Ok(p.scratch.as_slice().to_vec())
}

/// The most a stored line may claim to decompress to: a bundle's line limit is far below it, so a
/// larger claim is damage, not a line.
const MAX_LINE_BYTES: u64 = 64 << 20;

thread_local! {
    /// One decompression context a thread, reused from line to line: a context made for each line
    /// (and its window's memory) cost more than decompressing the line itself.
    static UNPACKER: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// A stored revision line, decompressed: with the dictionary its frame names, or none (lines stored
/// before the registry used one).
pub(crate) fn unpack(stored: &[u8]) -> Result<Vec<u8>, DbError> {
    let damaged =
        |e: std::io::Error| DbError::Storage(format!("a stored revision is damaged: {e}"));
    match zstd::zstd_safe::get_dict_id_from_frame(stored).map(|d| d.get()) {
        None => zstd::decode_all(stored).map_err(damaged),
        Some(LINE_DICT_ID) => {
            // Frames made by `pack` say their size; one that does not is read as a stream.
            let size = match zstd::zstd_safe::get_frame_content_size(stored) {
                Ok(Some(n)) if n <= MAX_LINE_BYTES => n as usize,
                _ => {
                    let mut out = Vec::with_capacity(stored.len() * 8);
                    zstd::stream::read::Decoder::with_prepared_dictionary(stored, &UNPACK_DICT)
                        .and_then(|mut d| d.read_to_end(&mut out))
                        .map_err(damaged)?;
                    return Ok(out);
                }
            };
            UNPACKER.with(|cell| {
                let mut cell = cell.borrow_mut();
                let z = match cell.as_mut() {
                    Some(z) => z,
                    None => cell.insert(
                        zstd::bulk::Decompressor::with_prepared_dictionary(&UNPACK_DICT)
                            .map_err(damaged)?,
                    ),
                };
                z.decompress(stored, size).map_err(damaged)
            })
        }
        Some(other) => Err(DbError::Storage(format!(
            "a stored revision is compressed with line dictionary {other}, which this version of pendata does not have: update pendata"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::catalog::Catalog;

    /// A revision line as a tablet writes it.
    fn line() -> Vec<u8> {
        let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
        let mut rng = crate::app::demo::Rng::new(5);
        let spec = crate::app::demo::FamilySpec {
            interview: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        };
        let rev = serde_json::json!({
            "record": "0193a1b2-0000-7000-8000-000000000001",
            "number": 1,
            "seq": 17,
            "action": "finalized",
            "status": "final",
            "form_id": "keluarga",
            "form_version": form.version,
            "answers": crate::app::demo::family(form, &mut rng, &spec),
            "petugas": "ANI",
            "device": "0193a1b2-0000-7000-8000-0000000000ff",
            "at": "2026-11-20T09:30:00+08:00",
        });
        serde_json::to_vec(&rev).unwrap()
    }

    #[test]
    fn stored_lines_name_the_dictionary_and_come_back_byte_for_byte() {
        let line = line();
        let mut packer = packer().unwrap();
        let stored = pack(&mut packer, &line).unwrap();
        // A bundle's frames wait in memory for their merge: each holds its own size, not the worst case.
        assert!(stored.capacity() * 2 < line.len(), "{}", stored.capacity());
        // The packer's scratch room is reused from line to line,
        assert_eq!(pack(&mut packer, &line).unwrap(), stored);
        // and a short line after a long one is packed as by a fresh packer: nothing left over.
        assert_eq!(
            pack(&mut packer, b"{}").unwrap(),
            pack(&mut super::packer().unwrap(), b"{}").unwrap()
        );
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_frame(&stored).map(|d| d.get()),
            Some(LINE_DICT_ID)
        );
        assert_eq!(unpack(&stored).unwrap(), line);
        // The dictionary earns its place: without it zstd keeps about 40 % of a line.
        assert!(
            stored.len() * 4 < line.len(),
            "{} of {} bytes",
            stored.len(),
            line.len()
        );
    }

    #[test]
    fn lines_stored_without_a_dictionary_are_read_and_unknown_dictionaries_are_named() {
        let line = line();
        let plain = zstd::encode_all(line.as_slice(), -1).unwrap();
        assert_eq!(unpack(&plain).unwrap(), line);
        // The same frame claiming a dictionary this version does not have (frame header: magic,
        // descriptor, window descriptor, then the one-byte dictionary id).
        let mut stored = pack(&mut packer().unwrap(), &line).unwrap();
        let descriptor = stored[4];
        assert_eq!(descriptor & 0b11, 1, "a one-byte dictionary id");
        let at = if descriptor & 0b10_0000 == 0 { 6 } else { 5 };
        assert_eq!(stored[at], 1);
        stored[at] = 9;
        let e = unpack(&stored).unwrap_err().to_string();
        assert!(
            e.contains("line dictionary 9") && e.contains("update pendata"),
            "{e}"
        );
        assert!(unpack(b"not zstd").is_err());
    }
}
