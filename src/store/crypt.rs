//! The store file encrypted at rest: a length-preserving block cipher under redb, behind its
//! `StorageBackend` trait, as disk encryption does (see docs/security.md).
//!
//! The database is encrypted with AES-256-XTS (IEEE 1619) in data units of 4 KiB, the unit's number as
//! its tweak: block `j` of sector `s` is `C = E_K1(P ⊕ T) ⊕ T` with `T = E_K2(s) · αʲ`. Every 16-byte
//! block is enciphered on its own (its tweak depends only on its position), so a write of any aligned
//! range rewrites exactly those bytes on the disk (redb's torn-write and commit reasoning holds as on a
//! plain file), and a read needs no neighbours. No ciphertext stealing: redb reads and writes whole
//! blocks. redb's own checksums catch a damaged or altered block (it decrypts to noise).
//!
//! A block of sixteen zero bytes on the disk reads as zeros: the file's never-written space (a file grown
//! by `set_len` is zero-filled by the file system) reads as redb expects. A written block is zero only
//! with probability 2⁻¹²⁸.

pub use pendata_xts::BlockCipher;
use redb::{BackendError, StorageBackend};
use std::ops::Bound;
use zeroize::Zeroizing;

/// The cipher's block, and the alignment of what it reads and writes.
const BLOCK: u64 = 16;

/// Test and benchmark support: bytes redb asked the encrypted backends to read (and in how many
/// calls), since the program started, to see what a pass reads and deciphers.
#[cfg(feature = "test-support")]
pub static READ_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// See [`READ_BYTES`].
#[cfg(feature = "test-support")]
pub static READ_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The data key: two AES-256 keys (data and tweak).
pub type DataKey = Zeroizing<[u8; 64]>;

/// A redb storage backend whose bytes are encrypted on `inner`, from byte `base` of it on (the bytes
/// before are the key slots, see `store::keys`).
pub struct Encrypted<B> {
    inner: B,
    cipher: BlockCipher,
    base: u64,
}

impl<B> std::fmt::Debug for Encrypted<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encrypted")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl<B: StorageBackend> Encrypted<B> {
    pub fn new(inner: B, key: &DataKey, base: u64) -> Encrypted<B> {
        Encrypted {
            inner,
            cipher: BlockCipher::new(key),
            base,
        }
    }
}

fn down(x: u64) -> u64 {
    x & !(BLOCK - 1)
}

fn up(x: u64) -> u64 {
    x.div_ceil(BLOCK) * BLOCK
}

fn io_len(x: u64) -> std::io::Result<usize> {
    usize::try_from(x).map_err(std::io::Error::other)
}

impl<B: StorageBackend> StorageBackend for Encrypted<B> {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.inner.len()?.saturating_sub(self.base))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let len = out.len() as u64;
        #[cfg(feature = "test-support")]
        {
            READ_BYTES.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
            READ_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if offset.is_multiple_of(BLOCK) && len.is_multiple_of(BLOCK) {
            self.inner.read(self.base + offset, out)?;
            self.cipher.decrypt(offset, out);
            return Ok(());
        }
        let start = down(offset);
        let mut buf = vec![0u8; io_len(up(offset + len) - start)?];
        self.inner.read(self.base + start, &mut buf)?;
        self.cipher.decrypt(start, &mut buf);
        let from = io_len(offset - start)?;
        let part = buf
            .get(from..from + out.len())
            .ok_or_else(|| std::io::Error::other("read outside the buffer"))?;
        out.copy_from_slice(part);
        Ok(())
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(self.base + up(len))
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let len = data.len() as u64;
        if offset.is_multiple_of(BLOCK) && len.is_multiple_of(BLOCK) {
            let mut buf = data.to_vec();
            self.cipher.encrypt(offset, &mut buf);
            return self.inner.write(self.base + offset, &buf);
        }
        // An unaligned write: the blocks at its edges are read, patched and written whole.
        let start = down(offset);
        let end = up(offset + len);
        let mut buf = vec![0u8; io_len(end - start)?];
        let have = self.len()?;
        if start < have {
            let upto = io_len(end.min(up(have)) - start)?;
            if let Some(existing) = buf.get_mut(..upto) {
                self.inner.read(self.base + start, existing)?;
            }
            self.cipher.decrypt(start, &mut buf);
        }
        let from = io_len(offset - start)?;
        buf.get_mut(from..from + data.len())
            .ok_or_else(|| std::io::Error::other("write outside the buffer"))?
            .copy_from_slice(data);
        self.cipher.encrypt(start, &mut buf);
        self.inner.write(self.base + start, &buf)
    }

    fn close(&self) -> std::io::Result<()> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
/// The cipher is `pendata_xts`'s; its checks run here too, with the store's key type, so the
/// package's tests cover it.
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_depend_on_their_position() {
        let key = Zeroizing::new([7u8; 64]);
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
        let mut key = Zeroizing::new([0u8; 64]);
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
