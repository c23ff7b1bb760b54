//! A new petugas's first hour, played on the tablet app as a person would (headless through
//! egui_kittest, every step a tap or typing found by its label and role): first-run setup, sign-in, one
//! complete family of three members typed and tapped in (nothing put into the answers behind the
//! screen), review, finalize, export to a stick, the registry's receipt (made by a real registry here:
//! init, import, device approval, receipt) applied, and the family shown as accepted. The taps and the
//! typed answers are counted and printed (README.md, "The first hour"); the test asserts the outcome.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::path::Path;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use pendata::app::Device;
use pendata::registry::{self, FileOutcome, Registry};
use pendata::store::Status;
use pendata::ui::{PendataApp, Screen};

/// The petugas at the tablet: the app, and what they did to it.
struct Petugas {
    h: Harness<'static, PendataApp>,
    taps: usize,
    typed: usize,
    /// Taps and typed answers at the end of each part of the hour.
    parts: Vec<(&'static str, usize, usize)>,
}

const TEXT_ROLES: [Role; 3] = [
    Role::TextInput,
    Role::MultilineTextInput,
    Role::PasswordInput,
];

impl Petugas {
    fn new(dir: &Path) -> Petugas {
        let h = Harness::builder()
            .with_size([1280.0, 800.0]) // the tablet in landscape, as it is held at a table
            .with_max_steps(32)
            .build_ui_state(|ui, app: &mut PendataApp| app.ui(ui), PendataApp::new(dir));
        let mut p = Petugas {
            h,
            taps: 0,
            typed: 0,
            parts: Vec::new(),
        };
        p.h.run();
        p
    }

    /// Taps the one widget labelled `label` (scrolled to first, as a finger would).
    fn tap(&mut self, label: &str) {
        self.h.get_by_label(label).scroll_to_me();
        self.h.run();
        self.h.get_by_label(label).click();
        self.h.run();
        self.taps += 1;
    }

    /// Taps the last of the widgets labelled `label` (the page's own button at its foot, where a page tab
    /// at the top says the same).
    fn tap_last(&mut self, label: &str) {
        self.h
            .get_all_by_label(label)
            .last()
            .unwrap()
            .scroll_to_me();
        self.h.run();
        self.h.get_all_by_label(label).last().unwrap().click();
        self.h.run();
        self.taps += 1;
    }

    /// Taps the first widget whose label holds `part` (a button naming a file or a person).
    fn tap_containing(&mut self, part: &str) {
        self.h
            .get_all_by_label_contains(part)
            .next()
            .unwrap()
            .scroll_to_me();
        self.h.run();
        self.h
            .get_all_by_label_contains(part)
            .next()
            .unwrap()
            .click();
        self.h.run();
        self.taps += 1;
    }

    /// Taps the answer `choice` of the question `field` (its title as shown, `*` included).
    fn answer(&mut self, field: &str, choice: &str) {
        self.h
            .get_by_role_and_label(Role::Group, field)
            .get_by_label(choice)
            .scroll_to_me();
        self.h.run();
        self.h
            .get_by_role_and_label(Role::Group, field)
            .get_by_label(choice)
            .click();
        self.h.run();
        self.taps += 1;
    }

    /// Taps into the text field labelled `label` and types `text`: one typed answer.
    fn type_in(&mut self, label: &str, text: &str) {
        let role = TEXT_ROLES
            .into_iter()
            .find(|r| self.h.query_by_role_and_label(*r, label).is_some())
            .unwrap_or_else(|| panic!("no text field labelled {label:?}"));
        self.h.get_by_role_and_label(role, label).scroll_to_me();
        self.h.run();
        self.h.get_by_role_and_label(role, label).focus();
        self.h.run();
        self.h.get_by_role_and_label(role, label).type_text(text);
        self.h.run();
        self.typed += 1;
    }

    /// A long choice list: types a few letters into its search, then taps the answer.
    fn search(&mut self, field: &str, letters: &str, choice: &str) {
        self.type_in(field, letters);
        self.answer(field, choice);
    }

    /// Ends a part of the hour: what it took is what was done since the last part ended.
    fn part(&mut self, name: &'static str) {
        let (taps, typed) = self
            .parts
            .iter()
            .fold((0, 0), |(a, b), (_, t, y)| (a + t, b + y));
        self.parts
            .push((name, self.taps - taps, self.typed - typed));
    }

    fn sees(&self, text: &str) -> bool {
        self.h.query_all_by_label_contains(text).next().is_some()
    }

    /// Frames until `text` shows (work on another thread: the export, the home figures).
    fn wait_for(&mut self, text: &str) {
        for _ in 0..500 {
            self.h.run();
            if self.sees(text) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("{text:?} never appeared");
    }
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Local::now().fixed_offset()
}

/// Blok I to III and the programmes and assets: what a petugas answers for the family as a whole.
fn household(p: &mut Petugas) {
    // Blok I: where, and which family.
    p.search("Kabupaten/kota *", "balikpapan", "Kota Balikpapan");
    p.search("Kecamatan *", "timur", "Balikpapan Timur");
    p.search("Desa/kelurahan *", "mangg", "Manggar");
    p.type_in("RT", "014");
    p.type_in("RW", "004");
    p.type_in(
        "Alamat (nama jalan/gang, nomor rumah) *",
        "Jl. Mulawarman Gg. Nelayan No. 7",
    );
    p.type_in("Nama kepala keluarga *", "Ahmad Fauzi");
    p.type_in("Nomor Kartu Keluarga *", "6471012003150007");
    p.answer(
        "Kode Kartu Keluarga *",
        "Kartu Keluarga sesuai (satu keluarga)",
    );
    p.type_in("Jumlah anggota keluarga *", "3");
    p.tap("Lanjut");

    // Blok II: the interview.
    p.answer("201. Tanggal pendataan *", "Hari ini");
    p.type_in("Nama petugas pendata *", "Dewi Lestari");
    p.type_in("Kode petugas pendata", "P001");
    p.answer("205. Hasil pendataan keluarga *", "Terisi lengkap");
    p.type_in("Nama responden *", "Nurhayati");
    p.type_in("Nomor HP responden", "085246781234");
    p.answer(
        "Responden sudah diberi tahu tujuan pendataan, data yang dikumpulkan, dan penggunaannya *",
        "Ya",
    );
    p.tap("Lanjut");

    // Blok III: the house.
    for (field, choice) in [
        (
            "301a. Status kepemilikan bangunan tempat tinggal *",
            "Milik sendiri",
        ),
        (
            "301b. Bukti kepemilikan tanah bangunan tempat tinggal *",
            "SHM atas nama anggota keluarga",
        ),
    ] {
        p.answer(field, choice);
    }
    p.type_in("302. Luas lantai bangunan tempat tinggal (m²) *", "42");
    for (field, choice) in [
        ("303. Jenis lantai terluas *", "Semen/bata merah"),
        (
            "304. Jenis dinding terluas *",
            "Kayu/papan/gypsum/GRC/calciboard",
        ),
        ("305. Jenis atap terluas *", "Seng"),
        ("306a. Sumber air minum utama *", "Air isi ulang"),
        (
            "307a. Sumber penerangan utama *",
            "Listrik PLN dengan meteran",
        ),
        ("307b. Daya terpasang meteran listrik 1 *", "450 watt"),
    ] {
        p.answer(field, choice);
    }
    p.search(
        "308. Bahan bakar/energi utama untuk memasak *",
        "elpiji",
        "Elpiji 3 kg",
    );
    for (field, choice) in [
        (
            "309a. Kepemilikan dan penggunaan fasilitas tempat buang air besar *",
            "Ada, digunakan hanya oleh anggota keluarga sendiri",
        ),
        ("309b. Jenis kloset *", "Leher angsa"),
        ("310. Tempat pembuangan akhir tinja *", "Tangki septik"),
    ] {
        p.answer(field, choice);
    }
    p.tap("Lanjut");
}

/// One member of the family, entered on their card.
struct Member<'a> {
    name: &'a str,
    nik: &'a str,
    sex: &'a str,
    born: &'a str,
    married: &'a str,
    relation: &'a str,
    id_card: &'a str,
    school: &'a str,
    level: (&'a str, &'a str),
    diploma: (&'a str, &'a str),
    /// Hours worked last week and the line of work, or not working.
    work: Option<(&'a str, (&'a str, &'a str), &'a str)>,
    pip: Option<&'a str>,
}

fn member(p: &mut Petugas, m: &Member<'_>) {
    p.tap("Tambah anggota keluarga");
    p.type_in("Nama anggota keluarga *", m.name);
    p.type_in("NIK (Nomor Induk Kependudukan) *", m.nik);
    p.answer(
        "404. Keberadaan anggota keluarga *",
        "Tinggal bersama keluarga",
    );
    p.answer("405. Jenis kelamin *", m.sex);
    p.type_in("Tanggal lahir *", m.born);
    p.answer("408. Status perkawinan *", m.married);
    p.answer("409. Hubungan dengan kepala keluarga *", m.relation);
    p.answer("411. Kartu identitas yang dimiliki *", m.id_card);
    p.answer("412. Partisipasi sekolah *", m.school);
    p.search(
        "413. Jenjang pendidikan yang sedang/terakhir diikuti *",
        m.level.0,
        m.level.1,
    );
    p.search(
        "415. Ijazah tertinggi yang dimiliki *",
        m.diploma.0,
        m.diploma.1,
    );
    let works = "416a. Apakah bekerja paling sedikit 1 jam selama seminggu yang lalu? *";
    match m.work {
        Some((hours, trade, position)) => {
            p.answer(works, "Ya");
            p.type_in(
                "416b. Jumlah jam kerja seluruhnya selama seminggu yang lalu *",
                hours,
            );
            p.search(
                "417. Lapangan usaha dari pekerjaan utama *",
                trade.0,
                trade.1,
            );
            p.answer("418. Kedudukan dalam pekerjaan utama *", position);
        }
        None => p.answer(works, "Tidak"),
    }
    for field in [
        "428a. Kesulitan melihat, walaupun memakai kacamata *",
        "428b. Kesulitan mendengar, walaupun memakai alat bantu dengar *",
        "428c. Kesulitan berjalan atau naik tangga *",
        "428d. Kesulitan menggunakan atau menggerakkan tangan/jari *",
        "428e. Kesulitan belajar atau dalam kemampuan intelektual *",
        "428f. Kesulitan mengendalikan perilaku atau emosi *",
        "428g. Kesulitan berbicara atau berkomunikasi *",
        "428h. Kesulitan mengurus diri sendiri (mandi, makan, berpakaian, ke toilet) *",
        "428i. Kesulitan mengingat atau berkonsentrasi *",
    ] {
        p.answer(field, "Tidak mengalami kesulitan");
    }
    p.search(
        "430. Penyakit kronis/menahun yang diderita *",
        "tidak",
        "Tidak ada",
    );
    p.answer(
        "431a. Jaminan kesehatan yang dimiliki *",
        "JKN/BPJS Kesehatan PBI (iuran dibayar pemerintah)",
    );
    if let Some(pip) = m.pip {
        p.answer("Apakah menerima Program Indonesia Pintar (PIP)? *", pip);
    }
    p.tap("Selesai, kembali ke daftar anggota");
}

fn members(p: &mut Petugas) {
    member(
        p,
        &Member {
            name: "Ahmad Fauzi",
            nik: "6471011408790001",
            sex: "Laki-laki",
            born: "14-08-1979",
            married: "Kawin/nikah",
            relation: "Kepala keluarga",
            id_card: "KTP",
            school: "Tidak bersekolah lagi",
            level: ("sma", "SMA"),
            diploma: ("sma", "SMA"),
            work: Some(("48", ("ikan", "Perikanan"), "Berusaha sendiri")),
            pip: None,
        },
    );
    member(
        p,
        &Member {
            name: "Nurhayati",
            nik: "6471014302830002",
            sex: "Perempuan",
            born: "03-02-1983",
            married: "Kawin/nikah",
            relation: "Istri/suami",
            id_card: "KTP",
            school: "Tidak bersekolah lagi",
            level: ("smp", "SMP"),
            diploma: ("smp", "SMP"),
            work: None,
            pip: None,
        },
    );
    member(
        p,
        &Member {
            name: "Muhammad Rizky",
            nik: "6471012709140003",
            sex: "Laki-laki",
            born: "27-09-2014",
            married: "Belum kawin",
            relation: "Anak",
            id_card: "Akta kelahiran",
            school: "Masih sekolah",
            level: ("sd", "SD"),
            diploma: ("ijazah sd", "Tidak punya ijazah SD"),
            work: None,
            pip: Some("Ya"),
        },
    );
    assert!(p.sees("3. Muhammad Rizky"), "three members on the roster");
    p.tap("Lanjut");
}

/// Blok V.A and V.B: programmes, assets, livestock, internet, bank account; Blok VI left as it is.
fn programmes_and_assets(p: &mut Petugas) {
    p.answer(
        "501a. Menerima Program Sembako/BPNT dalam setahun terakhir? *",
        "Ya",
    );
    p.type_in(
        "501a. Bulan/tahun terakhir menerima Program Sembako/BPNT *",
        "10/2026",
    );
    for field in [
        "501b. Menerima Program Keluarga Harapan (PKH) dalam setahun terakhir? *",
        "501c. Menerima BLT Dana Desa dalam setahun terakhir? *",
        "501d. Menerima subsidi listrik dalam setahun terakhir? *",
        "501e. Menerima bantuan pemerintah daerah dalam setahun terakhir? *",
        "501f. Menerima subsidi pupuk dalam setahun terakhir? *",
        "501g. Menerima bantuan/subsidi LPG dalam setahun terakhir? *",
    ] {
        p.answer(field, "Tidak");
    }
    p.tap("Lanjut");
    for (field, n) in [
        ("502a. Tabung gas 5,5 kg atau lebih *", "0"),
        ("502b. Lemari es/kulkas *", "0"),
        ("502c. Air conditioner (AC) *", "0"),
        ("502d. Pemanas air (water heater) *", "0"),
        ("502e. Telepon rumah (PSTN) *", "0"),
        ("502f. Televisi layar datar minimal 30 inci *", "0"),
        ("502g. Emas/perhiasan minimal 10 gram *", "0"),
        ("502h. Komputer/laptop/tablet *", "0"),
        ("502i. Sepeda motor *", "1"),
        ("502j. Sepeda *", "0"),
        ("502k. Mobil *", "0"),
        ("502l. Perahu *", "0"),
        ("502m. Kapal/perahu motor *", "0"),
        ("502n. Smartphone *", "2"),
    ] {
        p.type_in(field, n);
    }
    for field in [
        "503a. Apakah keluarga memiliki lahan selain yang ditempati rumah ini? *",
        "503b. Apakah keluarga memiliki rumah/bangunan di tempat lain? *",
    ] {
        p.answer(field, "Tidak");
    }
    for field in [
        "504a. Sapi *",
        "504b. Kerbau *",
        "504c. Kuda *",
        "504d. Babi *",
        "504e. Kambing/domba *",
    ] {
        p.type_in(field, "0");
    }
    p.answer(
        "505. Akses internet utama keluarga *",
        "Internet handphone (paket data)",
    );
    p.answer(
        "506. Apakah ada anggota keluarga yang memiliki rekening aktif atau dompet digital? *",
        "Tidak",
    );
    p.tap("Lanjut");
    p.type_in(
        "Catatan petugas",
        "Rumah kayu di pesisir Manggar; kepala keluarga nelayan.",
    );
}

#[expect(
    clippy::too_many_lines,
    reason = "the first hour, step by step, as a petugas goes through it"
)]
#[test]
fn a_new_petugas_sets_up_enters_a_family_of_three_exports_it_and_sees_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let tablet = dir.path().join("tablet");
    let office = dir.path().join("registry");
    let stick = dir.path().join("KINGSTON");
    std::fs::create_dir(&stick).unwrap();
    // The office gave the petugas a stick with its registry's key on it.
    registry::init(&office, "Dinas Sosial Kaltim", now()).unwrap();
    std::fs::copy(office.join("registry.pub"), stick.join("registry.pub")).unwrap();
    pendata::app::drives::pretend_mounted(vec![stick.clone()]);

    let mut p = Petugas::new(&tablet);
    // First-run setup, then sign-in.
    p.type_in("Nama perangkat", "Tablet Manggar 01");
    p.type_in("Kode petugas", "P001");
    p.type_in("Nama petugas", "Dewi Lestari");
    p.type_in("PIN (6–12 angka)", "246810");
    p.type_in("Ulangi PIN", "246810");
    p.tap("Mulai");
    assert!(p.sees("Perangkat siap. Silakan masuk."));
    // The recovery code, shown once, written down for the supervisor.
    assert!(p.sees("Kode pemulihan"));
    p.tap("Sudah saya tulis");
    p.tap("Dewi Lestari · P001");
    p.type_in("PIN", "246810");
    p.tap("Masuk");
    assert!(p.sees("Ringkasan pendataan"), "signed in, on Home");
    p.part("setup and sign-in");

    // One family, page by page.
    p.tap("Keluarga baru");
    household(&mut p);
    members(&mut p);
    programmes_and_assets(&mut p);
    p.tap_last("Periksa & finalisasi");
    assert!(
        p.sees("0 kesalahan, 0 peringatan"),
        "every question answered by hand, nothing to fix"
    );
    p.tap("Finalisasi");
    assert!(p.sees("Keluarga sudah final dan terkunci"));
    p.part("the family, review and finalize");

    // Export to the stick: the key from the stick, the stick chosen by itself.
    p.tap("Beranda");
    p.tap("Ekspor ke USB");
    p.tap_containing("Pasang kunci dari");
    p.wait_for("Akan diekspor: 1 keluarga");
    p.tap("Ekspor sekarang");
    p.wait_for("Aman untuk dicabut");
    let bundle = std::fs::read_dir(&stick)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|e| e == "age"))
        .expect("a bundle on the stick");
    p.part("export");

    // At the office: import (the tablet is new: held), approve the device, write the receipt.
    let reg = Registry::open(&office).unwrap();
    let FileOutcome::Held { device, .. } = reg.import_path(&bundle, now()).unwrap() else {
        panic!("a new tablet's bundle waits for the operator")
    };
    assert_eq!(device.name, "Tablet Manggar 01");
    let (_, merged) = reg.approve(&device.id.to_string(), now()).unwrap();
    assert!(matches!(merged.as_slice(), [(_, FileOutcome::Merged(_))]));
    reg.write_receipt(&device.id.to_string(), &stick, now())
        .unwrap();
    drop(reg);

    // Back on the tablet: the receipt from the stick, and the family accepted.
    p.tap("Beranda");
    p.tap("Kuitansi");
    p.tap_containing("Terapkan ");
    assert!(p.sees("1 keluarga diterima, 0 ditolak"));
    p.tap("Beranda");
    p.tap("Daftar keluarga");
    if let Screen::List(list) = &mut p.h.state_mut().screen {
        list.wait(); // the list is read on a worker thread
    }
    p.h.run();
    let row =
        p.h.get_by_label_contains("Ahmad Fauzi")
            .accesskit_node()
            .label()
            .unwrap_or_default();
    assert!(
        row.contains("Diterima"),
        "the family shows as accepted: {row}"
    );

    println!(
        "first hour: {} taps and {} typed answers (setup, sign-in, a family of three members, \
         export, receipt)",
        p.taps, p.typed
    );
    for (part, taps, typed) in &p.parts {
        println!("  {part}: {taps} taps, {typed} typed");
    }
    drop(p);
    let device = Device::open(&tablet, pendata::store::Unlock::Secret("246810")).unwrap();
    let accepted = device.list(Some(Status::Accepted)).unwrap();
    assert_eq!(accepted.len(), 1, "the family is accepted in the store");
    let (_, answers) = device.record(accepted[0].id).unwrap();
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("docs/examples/keluarga-lengkap.json").unwrap(),
    )
    .unwrap();
    // The answers typed and tapped are the example family's (a few optional ones left out, the
    // interview dated today).
    for key in [
        "wilayah_desa",
        "no_kk",
        "jumlah_anggota",
        "fasilitas_bab",
        "aset_smartphone",
    ] {
        assert_eq!(answers[key], example[key], "{key}");
    }
    assert_eq!(answers["anggota"], example["anggota"]);
}
