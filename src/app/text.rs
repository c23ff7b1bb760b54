//! What a person reads of an [`AppError`] (and of the photo, bundle and writing errors inside it): both
//! languages, so the app never shows English inside Indonesian text. The English is the `Display` text
//! (or close to it) that logs and the CLI show; the Indonesian leaves out the technical detail in English
//! (a system's error message) that a petugas cannot use.

use super::AppError;
use super::photos::PhotoError;
use crate::bundle::BundleError;
use crate::bundle::write::WriteError;
use crate::model::Localized;

impl AppError {
    /// The error in both languages, for the app's screens.
    pub fn text(&self) -> Localized {
        let plain = |id: String| Localized::new(id, self.to_string());
        match self {
            AppError::Store(e) => e.text(),
            AppError::TooLong { path, message } => Localized::new(
                format!("{path}: {}; tidak ada yang disimpan", message.id),
                self.to_string(),
            ),
            AppError::Photo { file, error } => {
                let t = error.text();
                Localized::new(format!("{} ({file})", t.id), format!("{} ({file})", t.en))
            }
            AppError::Bundle(e) => bundle_text(e),
            AppError::Write(e) => write_text(e),
            AppError::UnknownForm(form) => plain(format!("formulir `{form}` tidak dikenal")),
            AppError::UnknownFormVersion(form, version) => plain(format!(
                "formulir {form} versi {version} tidak ada di program ini: perbarui pendata"
            )),
            AppError::Forms(_) => {
                plain("formulir bawaan program ini rusak: pasang ulang pendata".into())
            }
            AppError::NotReady { errors, warnings } => plain(format!(
                "{} kesalahan dan {} peringatan yang belum disetujui menghalangi finalisasi",
                errors.len(),
                warnings.len()
            )),
            AppError::NoRegistryKey => Localized::new(
                "Belum ada kunci registri. Salin registry.pub dari kantor Dinas Sosial ke flashdisk, lalu pasang di sini.",
                self.to_string(),
            ),
            AppError::NoFolder(dir) => Localized::new(
                format!("Folder tujuan tidak ada ({dir})."),
                format!("The target folder does not exist. ({self})"),
            ),
            AppError::UnknownWilayah(code) => Localized::new(
                format!(
                    "Tidak ada desa dalam daftar formulir keluarga di wilayah `{code}`: berikan kode provinsi (64), kabupaten/kota (64.72), kecamatan (64.72.01) atau desa di Kalimantan Timur."
                ),
                self.to_string(),
            ),
            AppError::Unreadable(file) => plain(format!("{file} tidak dapat dibaca")),
            AppError::BadRange { a, b, last } => plain(format!(
                "rentang {a}..{b} tidak ada dalam urutan perubahan tablet ini 1..{last}"
            )),
            AppError::WrongDevice { receipt, this } => plain(format!(
                "kuitansi ini untuk perangkat {receipt}, padahal tablet ini {this}"
            )),
            AppError::UnknownFields { form, unknown } => plain(format!(
                "jawaban untuk pertanyaan yang tidak ada di formulir {form}: {}; tidak ada yang disimpan",
                unknown
                    .iter()
                    .map(|i| i.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            AppError::NotAPhotoField { form, field } => plain(format!(
                "formulir {form} tidak punya pertanyaan foto `{field}`"
            )),
            AppError::PackageRefused(text) => text.clone(),
            AppError::DemoMismatch { tablet_demo: true } => plain(
                "ini tablet demo dan itu kunci registri sungguhan: registri sungguhan menolak berkas demo; pasang kunci registri demo (`pendata registry init DIR --demo`)".into(),
            ),
            AppError::DemoMismatch { tablet_demo: false } => plain(
                "itu kunci registri demo dan ini tablet sungguhan: registri demo menolak berkas sungguhan; pasang kunci registri yang sebenarnya".into(),
            ),
            AppError::RegistryKeyPinned {
                current,
                new,
                same_signer,
            } => plain(if *same_signer {
                format!(
                    "berkas itu memiliki kunci tanda tangan yang sama ({current}) tetapi kunci enkripsi yang lain dari kunci registri yang dipercaya tablet ini. Tidak ada yang diubah. Bandingkan sidik kedua kunci dengan kantor registri; hanya jika kantor membenarkan kunci baru, jalankan `pendata registry-key set BERKAS --replace`"
                )
            } else {
                format!(
                    "itu kunci registri lain (sidik {new}); tablet ini mempercayai kunci registri dengan sidik {current}. Tidak ada yang diubah. Bandingkan sidik kedua kunci dengan kantor registri; hanya jika kantor membenarkan kunci baru, jalankan `pendata registry-key set BERKAS --replace`"
                )
            }),
            AppError::NotDemo => plain(
                "tablet ini bukan tablet demo: keluarga buatan hanya masuk ke penyimpanan yang dibuat untuknya, di folder datanya sendiri (`pendata --data-dir DIR init --demo --device-name NAMA`)".into(),
            ),
            AppError::Stopped(_) => {
                plain("pekerjaan di latar belakang berhenti sebelum selesai; coba lagi".into())
            }
        }
    }
}

impl PhotoError {
    /// Why a photo cannot be stored or shown, in both languages (the English keeps the system's detail).
    pub fn text(&self) -> Localized {
        match self {
            PhotoError::NotAPhoto => {
                Localized::new("bukan foto JPEG atau PNG", "not a JPEG or PNG photo")
            }
            PhotoError::TooBig => {
                Localized::new("berkas lebih dari 20 MB", "the file is larger than 20 MB")
            }
            PhotoError::TooManyPixels { width, height } => Localized::new(
                format!("gambar terlalu besar ({width}×{height} piksel)"),
                format!("the picture is too large ({width}×{height} pixels)"),
            ),
            PhotoError::Unreadable(detail) => Localized::new(
                "berkas tidak dapat dibaca",
                format!("the file cannot be read: {detail}"),
            ),
            PhotoError::Damaged(detail) => Localized::new(
                "foto rusak atau tidak lengkap",
                format!("the photo is damaged or incomplete: {detail}"),
            ),
            PhotoError::Missing => Localized::new(
                "foto tidak ada di tablet ini",
                "the photo is not on this tablet",
            ),
        }
    }
}

/// A bundle or receipt file that was refused, in both languages.
fn bundle_text(e: &BundleError) -> Localized {
    let id = match e {
        BundleError::NotABundle(_) => "bukan berkas Pendata".to_string(),
        BundleError::NotAReceipt(_) => "bukan tanda terima Pendata yang sah".to_string(),
        BundleError::Truncated(_) => "berkas terpotong (tidak lengkap)".to_string(),
        BundleError::Decrypt(_) => "berkas tidak dapat dibuka dengan kunci ini".to_string(),
        BundleError::Signature(_) => "tanda tangan berkas tidak cocok".to_string(),
        BundleError::Tampered(_) => "isi berkas tidak sesuai dengan daftarnya".to_string(),
        BundleError::Limit(_) => "berkas melebihi batas yang dapat dibaca".to_string(),
        BundleError::Version {
            found, supported, ..
        } => format!(
            "berkas berformat versi {found}, program ini membaca versi {supported}: perbarui pendata"
        ),
        BundleError::Invalid(_) => "isi berkas tidak sah".to_string(),
        BundleError::Io(_) => "berkas tidak dapat dibaca".to_string(),
    };
    Localized::new(id, e.to_string())
}

/// Writing a bundle to the stick failed, in both languages: what to do first; the English keeps the
/// detail.
fn write_text(e: &WriteError) -> Localized {
    let (id, en) = if e.is_full() {
        (
            "Flashdisk penuh. Kosongkan ruang atau pakai flashdisk lain.".to_string(),
            "The stick is full. Free some space or use another stick.",
        )
    } else {
        match e {
            WriteError::Exists(name) => (
                format!("Sudah ada berkas bernama {name} di sana; tidak ada yang ditulis."),
                "A file of that name is already there.",
            ),
            WriteError::Verify { .. } => (
                "Berkas yang dibaca ulang dari flashdisk tidak sama dengan yang ditulis; berkas itu dihapus. Coba lagi atau pakai flashdisk lain.".to_string(),
                "The file read back from the stick does not match what was written.",
            ),
            WriteError::Content(b) => return bundle_text(b),
            _ => (
                "Gagal menulis ke flashdisk (dicabut?). Tidak ada file yang tertinggal.".to_string(),
                "Writing to the stick failed (pulled out?). No file was left behind.",
            ),
        }
    };
    Localized::new(id, format!("{en} ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn app_errors_read_in_both_languages_without_english_in_the_indonesian() {
        let cases = [
            AppError::Store(StoreError::Storage("I/O error: Input/output error".into())),
            AppError::Photo {
                file: "rumah.jpg".into(),
                error: PhotoError::Unreadable("Permission denied (os error 13)".into()),
            },
            AppError::Write(WriteError::Failed {
                dir: "/media/stick".into(),
                step: "writing",
                detail: "Input/output error".into(),
            }),
            AppError::Bundle(BundleError::Signature(
                "verification equation failed".into(),
            )),
            AppError::Stopped(crate::app::task::Stopped("home")),
        ];
        for e in cases {
            let t = e.text();
            for english in ["error", "denied", "verification", "stopped", "writing"] {
                assert!(!t.id.contains(english), "{:?} has English in it", t.id);
            }
            assert!(!t.en.is_empty() && t.en != t.id, "{t:?}");
        }
    }
}
