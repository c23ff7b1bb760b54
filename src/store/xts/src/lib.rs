//! AES-256-XTS (IEEE 1619) in data units of 4 KiB, the unit's number as its tweak: block `j` of unit
//! `s` is `C = E_K1(P ⊕ T) ⊕ T` with `T = E_K2(s) · αʲ`. Every 16-byte block is enciphered on its own
//! (its tweak depends only on its position), so any block-aligned range can be enciphered or deciphered
//! without its neighbours. No ciphertext stealing: callers work in whole blocks. A block of sixteen
//! zero bytes deciphers to zeros (never-written space of a file reads as zeros).
//!
//! Its own crate so that it is compiled at opt-level 3 while the tablet's program is built for size
//! (`[profile.release.package.pendata-xts]` in Pendata's Cargo.toml): at opt-level "s" the AES-NI
//! pipeline runs at about half the speed (BENCHMARKS.md, "The encrypted store beside a plaintext
//! one"). The round keys are the `aes` crate's (0.9: VAES where the CPU has it); the caller keeps the
//! 64-byte key zeroized.

use aes::Aes256;
use aes::Block;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

/// The cipher's block, and the alignment of what it reads and writes.
const BLOCK: u64 = 16;

/// AES-256-XEX per 16-byte block.
#[derive(Clone)]
pub struct BlockCipher {
    data: Aes256,
    tweak: Aes256,
}

impl std::fmt::Debug for BlockCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockCipher")
    }
}

/// The XTS data unit: the tweak is the sector's number; blocks within it follow by multiplication.
const SECTOR: u64 = 4096;

/// The blocks of one data unit: a unit's blocks are enciphered in one call, so the `aes` crate's
/// parallel blocks (VAES or AES-NI, detected at run time) stay full and the tweaks follow by
/// multiplication without a branch per block.
const UNIT_BLOCKS: usize = (SECTOR / BLOCK) as usize;

/// The working space of one `apply`: a unit's tweaks, as bytes (4 KiB, on the stack).
struct Work {
    tweaks: [u8; SECTOR as usize],
}

/// Multiplies a tweak by α in GF(2¹²⁸) (IEEE 1619's little-endian convention).
fn times_alpha(t: u128) -> u128 {
    let carry = t >> 127;
    (t << 1) ^ (carry * 0x87)
}

impl BlockCipher {
    /// The cipher of a 64-byte key: the data key, then the tweak key (IEEE 1619's `Key1 || Key2`).
    pub fn new(key: &[u8; 64]) -> BlockCipher {
        let (k1, k2) = key.split_at(32);
        let half = |k: &[u8]| match Aes256::new_from_slice(k) {
            Ok(c) => c,
            Err(_) => unreachable!("half of a 64-byte key is 32 bytes"),
        };
        BlockCipher {
            data: half(k1),
            tweak: half(k2),
        }
    }

    /// The tweak of the block at byte `offset` (block-aligned).
    fn tweak_at(&self, offset: u64) -> u128 {
        let mut t = Block::from(u128::from(offset / SECTOR).to_le_bytes());
        self.tweak.encrypt_block(&mut t);
        let mut t = u128::from_le_bytes(t.into());
        for _ in 0..(offset % SECTOR) / BLOCK {
            t = times_alpha(t);
        }
        t
    }

    /// Encrypts `buf` (whole blocks) found at byte `offset` (block-aligned) of the database.
    pub fn encrypt(&self, offset: u64, buf: &mut [u8]) {
        self.apply(offset, buf, true);
    }

    /// Decrypts `buf` (whole blocks) read at byte `offset` (block-aligned) of the database.
    pub fn decrypt(&self, offset: u64, buf: &mut [u8]) {
        self.apply(offset, buf, false);
    }

    fn apply(&self, offset: u64, buf: &mut [u8], encrypt: bool) {
        let mut work = Work {
            tweaks: [0; SECTOR as usize],
        };
        let mut at = offset;
        let mut rest = buf;
        while !rest.is_empty() {
            // Up to the end of the data unit `at` is in.
            let room = usize::try_from(SECTOR - at % SECTOR).unwrap_or(usize::MAX);
            let (unit, tail) = rest.split_at_mut(room.min(rest.len()));
            self.apply_unit(at, unit, encrypt, &mut work);
            at += unit.len() as u64;
            rest = tail;
        }
    }

    /// Enciphers or deciphers `unit`: whole blocks at `offset`, all within one data unit, in place.
    /// The tweaks are laid out as bytes beside the unit, so that XORing them in and out is one
    /// pass over 4 KiB each way.
    fn apply_unit(&self, offset: u64, unit: &mut [u8], encrypt: bool, work: &mut Work) {
        let tweaks = work.tweaks.get_mut(..unit.len()).unwrap_or_default();
        let mut tweak = self.tweak_at(offset);
        for t in tweaks.chunks_exact_mut(16) {
            t.copy_from_slice(&tweak.to_le_bytes());
            tweak = times_alpha(tweak);
        }
        // Never-written space (zeros on the disk) reads as zeros: such blocks (rare: the file's
        // unused space) are noted, one bit each, and left as they are.
        let mut zeros = [0u64; UNIT_BLOCKS / 64];
        // (A fold without an early exit, so the compiler checks many blocks at once.)
        let any_zero = !encrypt
            && unit.chunks_exact(16).fold(false, |acc, b| {
                acc | (u128::from_le_bytes(b.try_into().unwrap_or([1; 16])) == 0)
            });
        if any_zero {
            for (i, b) in unit.chunks_exact(16).enumerate() {
                if b.iter().all(|&x| x == 0)
                    && let Some(w) = zeros.get_mut(i / 64)
                {
                    *w |= 1 << (i % 64);
                }
            }
        }
        xor(unit, tweaks);
        let (blocks, _) = Block::slice_as_chunks_mut(unit);
        if encrypt {
            self.data.encrypt_blocks(blocks);
        } else {
            self.data.decrypt_blocks(blocks);
        }
        xor(unit, tweaks);
        if any_zero {
            for (i, b) in unit.chunks_exact_mut(16).enumerate() {
                if zeros.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0) {
                    b.fill(0);
                }
            }
        }
    }
}

/// `data ^= mask`, 16 bytes at a time over the whole blocks of the shorter of the two. (Written wide
/// by hand: under the release build's link-time optimisation a byte loop stays a byte loop.)
fn xor(data: &mut [u8], mask: &[u8]) {
    for (d, m) in data.chunks_exact_mut(16).zip(mask.chunks_exact(16)) {
        let x = u128::from_le_bytes(d.try_into().unwrap_or_default())
            ^ u128::from_le_bytes(m.try_into().unwrap_or_default());
        d.copy_from_slice(&x.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_depend_on_their_position() {
        let key = [7u8; 64];
        let c = BlockCipher::new(&key);
        let plain = vec![42u8; 64];
        let mut a = plain.clone();
        c.encrypt(4096, &mut a);
        assert_ne!(a, plain);
        // The same plaintext at another position enciphers differently, block by block too.
        assert_ne!(a.get(..16), a.get(16..32));
        let mut b = plain.clone();
        c.encrypt(8192, &mut b);
        assert_ne!(a, b);
        c.decrypt(4096, &mut a);
        assert_eq!(a, plain);
        // A part decrypts on its own.
        let mut part = b.get(16..48).map(<[u8]>::to_vec).unwrap_or_default();
        c.decrypt(8192 + 16, &mut part);
        assert_eq!(part, vec![42u8; 32]);
        let mut zeros = vec![0u8; 32];
        c.decrypt(0, &mut zeros);
        assert_eq!(zeros, vec![0u8; 32]);
    }

    #[test]
    fn a_never_written_block_beside_written_ones_reads_as_zeros() {
        let c = BlockCipher::new(&[9u8; 64]);
        let plain: Vec<u8> = (0..8192).map(|i| (i % 251) as u8 | 1).collect();
        let mut disk = plain.clone();
        c.encrypt(3 * 4096, &mut disk);
        // Blocks 5 and 300 (the second unit) were never written: zeros on the disk.
        for b in [5, 300] {
            if let Some(x) = disk.get_mut(b * 16..b * 16 + 16) {
                x.fill(0);
            }
        }
        c.decrypt(3 * 4096, &mut disk);
        for (i, (got, want)) in disk.chunks(16).zip(plain.chunks(16)).enumerate() {
            if i == 5 || i == 300 {
                assert_eq!(got, [0u8; 16].as_slice(), "block {i}");
            } else {
                assert_eq!(got, want, "block {i}");
            }
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_default())
            .collect()
    }

    /// IEEE 1619-2007 XTS-AES-256 test vector 10 (data unit 0xff; its 512-byte unit is the first 512
    /// bytes of our 4 KiB sector 0xff).
    #[test]
    fn it_is_xts_aes_256() {
        let mut key = [0u8; 64];
        key.copy_from_slice(&unhex(concat!(
            "2718281828459045235360287471352662497757247093699959574966967627",
            "3141592653589793238462643383279502884197169399375105820974944592"
        )));
        let c = BlockCipher::new(&key);
        let mut data: Vec<u8> = (0..512).map(|i| (i % 256) as u8).collect();
        c.encrypt(0xff * 4096, &mut data);
        assert_eq!(
            &data[..16],
            unhex("1c3b3a102f770386e4836c99e370cf9b").as_slice()
        );
        // Any part of it decrypts on its own, at its place.
        let mut part = data[48..80].to_vec();
        c.decrypt(0xff * 4096 + 48, &mut part);
        assert_eq!(part, (48..80).map(|i| i as u8).collect::<Vec<_>>());
    }
}
