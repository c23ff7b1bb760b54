//! What a person reads of a [`StoreError`]: both languages. The English is the error's `Display` (logs and
//! the CLI show that); the Indonesian says the same without the technical detail a petugas cannot use.

use super::{Status, StoreError};
use crate::model::Localized;

/// A status as the petugas reads it in Indonesian (the app's own labels).
fn status_id(s: Status) -> &'static str {
    match s {
        Status::Draft => "draf",
        Status::Final => "final",
        Status::Exported => "diekspor",
        Status::Accepted => "diterima",
        Status::Rejected => "ditolak",
    }
}

impl StoreError {
    /// The error in both languages, for the app's screens.
    pub fn text(&self) -> Localized {
        let id = match self {
            StoreError::Invalid(text) => return text.clone(),
            StoreError::NotInitialized(dir) => {
                format!("belum ada data Pendata di {}", dir.display())
            }
            StoreError::AlreadyInitialized(dir) => format!(
                "data Pendata sudah ada di {}; data itu tidak diubah",
                dir.display()
            ),
            StoreError::TooNew {
                path,
                found,
                supported,
                needed,
            } => format!(
                "data di {} berformat {found}, lebih baru dari yang dipahami program ini ({supported}): pasang pendata {needed} atau yang lebih baru",
                path.display()
            ),
            StoreError::Corrupt { path, .. } => format!(
                "berkas data {} rusak; berkas itu dibiarkan apa adanya. Jangan hapus berkas itu dan jangan membuat data baru: salin seluruh folder data ke tempat aman dan serahkan kepada petugas dukungan. Keluarga yang sudah diekspor aman di registri",
                path.display()
            ),
            StoreError::ReadOnlyFile(path) => format!(
                "berkas data {} hanya bisa dibaca (read-only), jadi Pendata tidak dapat menyimpan; tidak ada yang hilang: jadikan berkas itu dapat ditulis lagi (`chmod u+w`, atau properti berkas) lalu coba lagi",
                path.display()
            ),
            StoreError::NoPermission(path) => format!(
                "tidak ada izin membuka {}: datanya mungkin masih ada; minta pemilik atau administrator memberi akses lagi — jangan jalankan `pendata init`, itu akan membuat data kedua",
                path.display()
            ),
            StoreError::Busy => {
                "data sedang dibuka oleh program Pendata lain; tutup program itu lalu coba lagi"
                    .to_string()
            }
            StoreError::Storage(_) => {
                "penyimpanan tablet gagal; jawaban yang sudah tersimpan tetap aman — coba lagi"
                    .to_string()
            }
            StoreError::UnknownRecord(id) => format!("tidak ada data keluarga {id}"),
            StoreError::UnknownPetugas(code) => format!("tidak ada petugas dengan kode `{code}`"),
            StoreError::PetugasExists(code) => format!("petugas `{code}` sudah ada"),
            StoreError::WrongPin(code) => format!("PIN salah untuk petugas `{code}`"),
            StoreError::PinNeeded => "data terkunci: masukkan PIN petugas (atau kode pemulihan) dengan --pin-stdin atau PENDATA_PIN".into(),
            StoreError::WrongSecret => "PIN (atau kode pemulihan) salah: tidak ada petugas tablet ini dengan PIN itu".into(),
            StoreError::WrongRecoveryCode => "kode pemulihan salah: tidak ada yang diubah (kode itu disimpan supervisor sejak tablet disiapkan)".into(),
            StoreError::TooManyTries { wait_secs } => format!("terlalu banyak PIN salah: tunggu {wait_secs} detik sebelum mencoba lagi"),
            StoreError::IllegalTransition { id, from, to } => format!(
                "data {id} berstatus {}; tidak dapat menjadi {}",
                status_id(*from),
                status_id(*to)
            ),
            StoreError::ReasonRequired(id) => {
                format!("data {id} sudah final: beri alasan untuk mengoreksinya")
            }
            StoreError::Stale { id, now } => {
                format!("data {id} berubah sejak diperiksa (kini revisi {now}); periksa lagi")
            }
        };
        Localized::new(id, self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_reads_in_both_languages() {
        let e = StoreError::Invalid(Localized::new(
            "nama perangkat belum diisi",
            "the device name is empty",
        ));
        assert_eq!(e.to_string(), "the device name is empty");
        assert_eq!(e.text().id, "nama perangkat belum diisi");
        let e = StoreError::Storage("I/O error: disk on fire".into());
        assert!(
            e.text().en.contains("disk on fire"),
            "English keeps the detail"
        );
        assert!(
            !e.text().id.contains("disk"),
            "Indonesian has no English in it"
        );
    }
}
