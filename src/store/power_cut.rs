//! Test support (feature `test-support`): an in-memory disk whose power can be cut at any sync point, to
//! check that the store survives power loss at every moment (the way redb's own crash-consistency tests
//! do). Not built into the program.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, FixedOffset};
use redb::{Database, StorageBackend};

use super::{DeviceInfo, Result, Store, StoreError, corrupt};

#[derive(Debug, Default)]
struct Disk {
    /// What the program sees (every write applied at once).
    live: Vec<u8>,
    /// What a completed sync made durable.
    durable: Vec<u8>,
    /// The latest header write before the power cut, which may reach the platter without a sync.
    last_header: Vec<u8>,
    syncs: u64,
    /// From this sync on, syncs no longer make anything durable: the power cut.
    freeze_from: Option<u64>,
}

/// A simulated disk shared between the store writing to it and the test inspecting it.
#[derive(Debug, Clone, Default)]
pub struct PowerCutDisk(Arc<Mutex<Disk>>);

impl PowerCutDisk {
    fn disk(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of completed syncs so far.
    pub fn syncs(&self) -> u64 {
        self.disk().syncs
    }

    /// The power is cut at the given sync: it and every later one make nothing durable.
    pub fn cut_at(&self, sync: u64) {
        self.disk().freeze_from = Some(sync);
    }

    /// The bytes found on the disk after the power cut: what was durable, with the last header write on top.
    pub fn image_after_cut(&self) -> Vec<u8> {
        let disk = self.disk();
        let mut image = disk.durable.clone();
        if let Some(head) = image.get_mut(..disk.last_header.len()) {
            head.copy_from_slice(&disk.last_header);
        }
        image
    }

    /// A fresh disk holding `image`.
    pub fn from_image(image: Vec<u8>) -> PowerCutDisk {
        PowerCutDisk(Arc::new(Mutex::new(Disk {
            live: image.clone(),
            durable: image,
            ..Disk::default()
        })))
    }
}

fn range(offset: u64, len: usize) -> std::io::Result<std::ops::Range<usize>> {
    let start = usize::try_from(offset).map_err(std::io::Error::other)?;
    Ok(start..start + len)
}

impl StorageBackend for PowerCutDisk {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.disk().live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let disk = self.disk();
        let src = disk
            .live
            .get(range(offset, out.len())?)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        self.disk().live.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> std::io::Result<()> {
        let mut disk = self.disk();
        disk.syncs += 1;
        if disk.freeze_from.is_none_or(|f| disk.syncs < f) {
            disk.durable = disk.live.clone();
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let mut disk = self.disk();
        let r = range(offset, data.len())?;
        if r.end > disk.live.len() {
            disk.live.resize(r.end, 0);
        }
        if let Some(dst) = disk.live.get_mut(r) {
            dst.copy_from_slice(data);
        }
        // Only a header written before the power cut can reach the disk; after it, the machine is off.
        if offset == 0 && disk.freeze_from.is_none_or(|f| disk.syncs < f) {
            disk.last_header = data.to_vec();
        }
        Ok(())
    }
}

/// The simulated disk's data key (test support only: the store on it is encrypted as on a real disk).
fn sim_key() -> super::crypt::DataKey {
    zeroize::Zeroizing::new([0x5a; 64])
}

impl Store {
    /// A new store on a simulated disk (encrypted as the store file is).
    pub fn create_on(
        disk: PowerCutDisk,
        device_name: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<(Store, DeviceInfo)> {
        let path = std::path::PathBuf::from("<simulated disk>");
        let db = Database::builder()
            .create_with_backend(super::crypt::Encrypted::new(disk, &sim_key(), 0))
            .map_err(|e| corrupt(&path, e))?;
        Store::init(db, path, device_name, now, false)
    }

    /// Opens the store left on a simulated disk.
    pub fn open_on(disk: PowerCutDisk) -> Result<Store> {
        let path = std::path::PathBuf::from("<simulated disk>");
        let db = Database::builder()
            .create_with_backend(super::crypt::Encrypted::new(disk, &sim_key(), 0))
            .map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        Store::opened_on(db, path)
    }
}
