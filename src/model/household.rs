//! The household form's well-known fields: the one place that names the fields of `schemas/keluarga.json`
//! the program reads or fills by name (the store's summary and search words, the registry's facts, the
//! demo families). Only names here: `form::household` holds each one to its kind and place, and refuses a
//! household form that lacks one, so renaming a field in the form file fails loudly instead of emptying
//! the family list.

/// The id of the household form.
pub const FORM_ID: &str = "keluarga";

/// Region: kabupaten/kota, kecamatan, desa (select_one, dotted codes `64.72.01.1001`).
pub const KABKOTA: &str = "wilayah_kabkota";
pub const KECAMATAN: &str = "wilayah_kecamatan";
pub const DESA: &str = "wilayah_desa";
pub const RT: &str = "rt";
pub const RW: &str = "rw";
pub const ADDRESS: &str = "alamat";
/// The head of the family's name as written on the cover (the roster's head wins when there is one).
pub const HEAD_NAME: &str = "nama_kepala_keluarga";
/// The family card's number (kk).
pub const NO_KK: &str = "no_kk";
/// Whether the card matches the family (`kode_kk`).
pub const KK_CODE: &str = "kode_kk";
pub const MEMBER_COUNT: &str = "jumlah_anggota";
pub const LOCATION: &str = "lokasi";
pub const INTERVIEW_DATE: &str = "tanggal_pendataan";
pub const PETUGAS_NAME: &str = "nama_petugas";
/// The result of the enumeration (`hasil_pendataan`).
pub const RESULT: &str = "hasil_pendataan";
pub const RESPONDENT_NAME: &str = "nama_responden";
pub const CONSENT: &str = "persetujuan";
pub const FLOOR_AREA: &str = "luas_lantai";
pub const FLOOR: &str = "jenis_lantai";
pub const LIGHTING: &str = "sumber_penerangan";
pub const TOILET: &str = "fasilitas_bab";
pub const PKH: &str = "terima_pkh";
pub const SEMBAKO: &str = "terima_sembako";
/// A family from a work package: the registry's family id (read-only; set when the package is
/// applied). The visit's own questions are relevant only when it is set.
pub const LISTED_FAMILY: &str = "id_keluarga_daftar";
/// The outcome of a visit of a listed family (`status_kunjungan`): [`visit`] codes.
pub const VISIT_STATUS: &str = "status_kunjungan";
/// The fields of a visit's outcome: cleared when a package brings the family again.
pub const VISIT_FIELDS: &[&str] = &[
    VISIT_STATUS,
    "tanggal_kunjungan",
    "pindah_ke",
    "keterangan_kunjungan",
    "duplikat_dari",
];

/// The codes of [`VISIT_STATUS`] (fixed: other tools and tests depend on them).
pub mod visit {
    pub const FOUND: &str = "1";
    pub const MOVED: &str = "2";
    pub const ALL_DECEASED: &str = "3";
    pub const NOT_FOUND: &str = "4";
    pub const REFUSED: &str = "5";
    pub const DUPLICATE: &str = "6";
}

/// Housing and amenities the demo answers with published shares (`app::demo::SHARES`).
pub const BUILDING_STATUS: &str = "status_bangunan";
pub const WALL: &str = "jenis_dinding";
pub const ROOF: &str = "jenis_atap";
pub const WATER: &str = "sumber_air";
pub const POWER: &str = "daya_listrik_1";
pub const COOKING_FUEL: &str = "bahan_bakar";
pub const TOILET_TYPE: &str = "jenis_kloset";
pub const SEWAGE: &str = "pembuangan_tinja";
pub const INTERNET: &str = "internet";
pub const BANK_ACCOUNT: &str = "rekening";
/// The roster: a repeat, one instance per member (fields in [`member`]).
pub const MEMBERS: &str = "anggota";

/// Fields of one member of the [`MEMBERS`] roster.
pub mod member {
    pub const NAME: &str = "nama";
    pub const NIK: &str = "nik";
    pub const PRESENCE: &str = "keberadaan";
    pub const SEX: &str = "jenis_kelamin";
    pub const BIRTH_DATE: &str = "tanggal_lahir";
    pub const MARITAL_STATUS: &str = "status_kawin";
    /// Relation to the head of the family (`hubungan`); [`super::HEAD_OF_FAMILY`] is the head.
    pub const RELATION: &str = "hubungan";
    pub const SCHOOL: &str = "partisipasi_sekolah";
    pub const WORK_HOURS: &str = "jam_kerja";
    pub const CHRONIC_ILLNESS: &str = "penyakit_kronis";
    pub const NUTRITION: &str = "gizi";
}

/// The code of [`member::RELATION`] that marks the head of the family.
pub const HEAD_OF_FAMILY: &str = "1";
