//! Putting a new store file in place of the old one, safely: built under a temporary name beside it,
//! synced, renamed over it, the folder synced. A crash (or SIGKILL) at any moment leaves the old file
//! or the new one under the real name, never neither; a leftover temporary file is removed by the next
//! try.
//!
//! Two uses: **purge erases** (the live data copied table by table into a file under a new data key:
//! freed pages, which keep old bytes, are not copied, and the old data key is in no header of the new
//! file), and **upgrading** a plaintext store of an earlier build (its bytes encrypted block by block
//! into a new file with a key header).

use std::io::{Read, Write};
use std::path::Path;

use redb::{
    MultimapTableDefinition, MultimapTableHandle, ReadableMultimapTable, ReadableTable,
    TableDefinition, TableError, TableHandle,
};

use super::crypt::BlockCipher;
use super::keys::{HEADER_LEN, Header, Holder};
use super::open::{self, Keys};
use super::tables::{
    ATTACHMENTS, EXPORTED, EXPORTS, FRAMES, LIST, META, MILESTONES, OUTBOX, PACKAGES, PETUGAS,
    PURGED, RECEIPTS, RECORDS, REVISIONS, SEARCH, SEQUENCE,
};
use super::{Result, STORE_FILE, Store, StoreError, make_private};

/// The temporary file's name while a new store file is built.
pub const REWRITING: &str = "pendata.redb.rewriting";

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    src: &redb::ReadTransaction,
    dst: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<()> {
    let from = match src.open_table(def) {
        Ok(t) => t,
        // Tables made on first use (exports, receipts, purged) stay absent.
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut to = dst.open_table(def)?;
    for row in from.iter()? {
        let (k, v) = row?;
        to.insert(k.value(), v.value())?;
    }
    Ok(())
}

fn copy_multimap<K: redb::Key + 'static, V: redb::Key + 'static>(
    src: &redb::ReadTransaction,
    dst: &redb::WriteTransaction,
    def: MultimapTableDefinition<K, V>,
) -> Result<()> {
    let from = match src.open_multimap_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut to = dst.open_multimap_table(def)?;
    for row in from.iter()? {
        let (k, values) = row?;
        for v in values {
            to.insert(k.value(), v?.value())?;
        }
    }
    Ok(())
}

/// The tables this build knows; a store holding any other is not rewritten (nothing may be lost).
const KNOWN: [&str; 16] = [
    "meta",
    "records",
    "list",
    "revisions",
    "milestones",
    "sequence",
    "petugas",
    "attachments",
    "search",
    "exports",
    "receipts",
    "purged",
    "exported",
    "packages",
    "outbox",
    "frames",
];

/// Copies every table of `src` into `dst`.
fn copy_all(src: &redb::ReadTransaction, dst: &redb::WriteTransaction) -> Result<()> {
    let names: Vec<String> = src
        .list_tables()?
        .map(|t| t.name().to_string())
        .chain(src.list_multimap_tables()?.map(|t| t.name().to_string()))
        .collect();
    if let Some(unknown) = names.iter().find(|n| !KNOWN.contains(&n.as_str())) {
        return Err(StoreError::Storage(format!(
            "the store has a table this build does not know ({unknown}): it is left as it is"
        )));
    }
    copy_table(src, dst, META)?;
    copy_table(src, dst, RECORDS)?;
    copy_table(src, dst, LIST)?;
    copy_table(src, dst, REVISIONS)?;
    copy_table(src, dst, MILESTONES)?;
    copy_table(src, dst, OUTBOX)?;
    copy_table(src, dst, FRAMES)?;
    copy_table(src, dst, SEQUENCE)?;
    copy_table(src, dst, PETUGAS)?;
    copy_table(src, dst, ATTACHMENTS)?;
    copy_table(src, dst, EXPORTS)?;
    copy_table(src, dst, RECEIPTS)?;
    copy_table(src, dst, PURGED)?;
    copy_table(src, dst, EXPORTED)?;
    copy_table(src, dst, PACKAGES)?;
    copy_multimap(src, dst, SEARCH)?;
    Ok(())
}

/// A new, private file at `tmp` (a leftover of an earlier try is removed) holding `header`.
fn start_file(tmp: &Path, header: &mut Header) -> Result<std::fs::File> {
    match std::fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp)?;
    make_private(tmp, 0o600)?;
    header.write(&file, true)?;
    Ok(file)
}

/// Renames the finished `tmp` over the store file of `dir` and syncs the folder.
fn put_in_place(dir: &Path, tmp: &Path) -> Result<()> {
    std::fs::File::open(tmp)?.sync_all()?;
    #[cfg(feature = "test-support")]
    crash_point("before-rename");
    std::fs::rename(tmp, dir.join(STORE_FILE))?;
    crate::durable::sync_dir(dir)?;
    // The new file was closed cleanly (a redb close, or a copy of a closed file): stamped as such, so
    // the next open need not check every page.
    open::stamp(dir);
    Ok(())
}

/// Test support: `PENDATA_CRASH_AT=NAME` stops the process at that point (the kill test's SIGKILL at a
/// known moment, as well as at random ones).
#[cfg(feature = "test-support")]
fn crash_point(name: &str) {
    if std::env::var("PENDATA_CRASH_AT").as_deref() == Ok(name) {
        std::process::exit(86);
    }
}

impl Store {
    /// Rewrites the live data into a new file under a new data key, renamed over the old one: what was
    /// deleted (purge) is in no page of the new file, and the old data key is in no header of it. The
    /// store is opened again on the new file.
    pub fn rewrite(self) -> Result<Store> {
        let dir = self
            .dir
            .clone()
            .ok_or_else(|| StoreError::Storage("a store with no folder is not rewritten".into()))?;
        let (mut header, master, signed_in) = {
            let keys = self
                .keys
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let k = keys.as_ref().ok_or_else(|| {
                StoreError::Storage("a plaintext store is upgraded, not rewritten".into())
            })?;
            (k.header.clone(), k.master.clone(), k.signed_in.clone())
        };
        let data = header.new_data_key(&master)?;
        let tmp = dir.join(REWRITING);
        drop(start_file(&tmp, &mut header)?);
        {
            let db = open::encrypted_db(&tmp, &data, false, true)?;
            let src = self.db.begin_read()?;
            let dst = db.begin_write()?;
            copy_all(&src, &dst)?;
            dst.commit()?;
            drop(src);
            db.close().map_err(|e| StoreError::Storage(e.to_string()))?;
        }
        drop(self);
        put_in_place(&dir, &tmp)?;
        tracing::info!("store rewritten under a new data key");
        Store::open_with_keys(
            &dir,
            Keys {
                header,
                master,
                data,
                signed_in,
            },
        )
    }
}

/// Encrypts the plaintext store file of `dir` (a store of an earlier build, closed) into a new file
/// with a key header whose slots are `petugas` (code, name, PIN) and a new recovery code, and renames
/// it over the old one. Returns the recovery code.
pub(super) fn upgrade(dir: &Path, petugas: (&str, &str, &str)) -> Result<String> {
    let path = dir.join(STORE_FILE);
    let (mut header, master, data) = Header::new()?;
    let recovery = super::keys::new_recovery_code()?;
    header.add_slot(Holder::Recovery, &recovery, &master)?;
    let (code, name, pin) = petugas;
    header.add_slot(
        Holder::Petugas {
            code: code.to_string(),
            name: name.to_string(),
        },
        pin,
        &master,
    )?;
    let tmp = dir.join(REWRITING);
    let mut out = start_file(&tmp, &mut header)?;
    let cipher = BlockCipher::new(&data);
    let mut src = std::fs::File::open(&path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let mut n = 0;
        while n < buf.len() {
            let Some(rest) = buf.get_mut(n..) else { break };
            match src.read(rest)? {
                0 => break,
                got => n += got,
            }
        }
        if n == 0 {
            break;
        }
        // A file's tail shorter than a block is padded with zeros (redb's files are whole pages).
        let whole = n.div_ceil(16) * 16;
        let chunk = buf
            .get_mut(..whole)
            .ok_or_else(|| StoreError::Storage("upgrade buffer".into()))?;
        if let Some(pad) = chunk.get_mut(n..) {
            pad.fill(0);
        }
        cipher.encrypt(offset, chunk);
        std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(HEADER_LEN + offset))?;
        out.write_all(chunk)?;
        offset += whole as u64;
        #[cfg(feature = "test-support")]
        crash_point("mid-copy");
    }
    drop(out);
    put_in_place(dir, &tmp)?;
    tracing::info!("plaintext store encrypted");
    Ok(recovery)
}

#[cfg(feature = "test-support")]
impl Store {
    /// Test support: every byte of the store file after its key header, decrypted with the current
    /// data key (free pages included): what someone with a valid PIN could read from the file.
    pub fn decrypted_file(&self) -> Result<Vec<u8>> {
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let k = keys
            .as_ref()
            .ok_or_else(|| StoreError::Storage("a plaintext store".into()))?;
        let raw = std::fs::read(&self.path)?;
        let mut body = raw.get(HEADER_LEN as usize..).unwrap_or_default().to_vec();
        body.truncate(body.len() / 16 * 16);
        BlockCipher::new(&k.data).decrypt(0, &mut body);
        Ok(body)
    }

    /// Test support (benchmarks): the store's database decrypted into `to` (a file), block for block: a
    /// plaintext store of an earlier build holding the same data, to compare the two side by side.
    pub fn write_plaintext_copy(&self, to: &Path) -> Result<()> {
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let k = keys
            .as_ref()
            .ok_or_else(|| StoreError::Storage("a plaintext store".into()))?;
        let cipher = BlockCipher::new(&k.data);
        let mut src = std::fs::File::open(&self.path)?;
        std::io::Seek::seek(&mut src, std::io::SeekFrom::Start(HEADER_LEN))?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(to)?);
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0u64;
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let whole = n / 16 * 16;
            let chunk = buf.get_mut(..n).unwrap_or_default();
            if whole != n {
                // Read on to a whole block.
                let mut rest = vec![0u8; 16 - (n - whole)];
                src.read_exact(&mut rest)?;
                let mut all = chunk.to_vec();
                all.extend_from_slice(&rest);
                cipher.decrypt(offset, &mut all);
                out.write_all(&all)?;
                offset += all.len() as u64;
                continue;
            }
            cipher.decrypt(offset, chunk);
            out.write_all(chunk)?;
            offset += n as u64;
        }
        out.into_inner()
            .map_err(|e| StoreError::Storage(e.to_string()))?
            .sync_all()?;
        Ok(())
    }

    /// Test support: a plaintext store as builds before encryption made them, in `dir`.
    pub fn create_plaintext(
        dir: &Path,
        device_name: &str,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> Result<(Store, super::DeviceInfo)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(STORE_FILE);
        let db = redb::Database::create(&path).map_err(|e| super::corrupt(&path, e))?;
        let (mut store, device) = Store::init(db, path, device_name, now, false)?;
        store.dir = Some(dir.to_path_buf());
        Ok((store, device))
    }
}
