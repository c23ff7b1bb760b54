//! The tablet app driven as a petugas would, headless through egui_kittest: queries by label and role
//! (AccessKit), clicks and typing. First-run setup, sign-in, a family from entry to final, reopening,
//! switching language.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests: a failed unwrap is a failed test"
)]

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pendata::ui::{Command, PendataApp, Screen};
use serde_json::{Value, json};

fn harness(dir: &std::path::Path) -> Harness<'static, PendataApp> {
    let app = PendataApp::new(dir);
    Harness::builder()
        .with_size([800.0, 1280.0]) // a tablet in portrait: a long page fits without scrolling
        // Background work (GPS, export) asks for repaints until it reports; let a frame settle later.
        .with_max_steps(32)
        .with_accessibility_check(std::env::var_os("DEBUG_UI").is_none())
        .build_ui_state(|ui, app: &mut PendataApp| app.ui(ui), app)
}

fn type_into(h: &mut Harness<'static, PendataApp>, label: &str, text: &str) {
    if std::env::var_os("DEBUG_UI").is_some() {
        for n in h.query_all_by_role(Role::TextInput) {
            use egui_kittest::kittest::NodeT;
            eprintln!("input {:?} {:?}", n.accesskit_node().label(), n.rect());
        }
    }
    // PIN fields are password inputs: their text is never exposed.
    let role = [
        Role::TextInput,
        Role::MultilineTextInput,
        Role::PasswordInput,
    ]
    .into_iter()
    .find(|r| h.query_by_role_and_label(*r, label).is_some())
    .unwrap_or_else(|| panic!("no text field labelled {label:?}"));
    h.get_by_role_and_label(role, label).focus();
    h.run();
    h.get_by_role_and_label(role, label).type_text(text);
    h.run();
}

fn click(h: &mut Harness<'static, PendataApp>, label: &str) {
    h.get_by_label(label).scroll_to_me();
    h.run();
    if std::env::var_os("DEBUG_UI").is_some() {
        eprintln!("{label}: {:?}", h.get_by_label(label).rect());
    }
    h.get_by_label(label).click();
    h.run();
}

fn click_contains(h: &mut Harness<'static, PendataApp>, label: &str) {
    h.get_by_label_contains(label).click();
    h.run();
}

fn setup_and_sign_in(h: &mut Harness<'static, PendataApp>) {
    h.run();
    type_into(h, "Nama perangkat", "Tablet Palaran 01");
    type_into(h, "Kode petugas", "P001");
    type_into(h, "Nama petugas", "Dewi Lestari");
    type_into(h, "PIN (6–12 angka)", "246810");
    type_into(h, "Ulangi PIN", "246810");
    click(h, "Mulai");
    assert!(h.query_by_label("Perangkat siap. Silakan masuk.").is_some());
    // The recovery code is shown once; signing in waits until the petugas says it is written down.
    assert!(h.query_by_label("Kode pemulihan").is_some());
    assert!(h.query_by_label("Masuk").is_none());
    click(h, "Sudah saya tulis");
    sign_in(h, "111111");
    assert!(
        h.query_by_label("PIN salah").is_some(),
        "a wrong PIN is refused"
    );
    sign_in(h, "246810");
}

fn sign_in(h: &mut Harness<'static, PendataApp>, pin: &str) {
    click(h, "Dewi Lestari · P001");
    type_into(h, "PIN", pin);
    click(h, "Masuk");
}

fn editor_answers(h: &Harness<'static, PendataApp>) -> serde_json::Map<String, Value> {
    match &h.state().screen {
        Screen::Edit(e) => e.answers.clone(),
        _ => panic!("not on the form"),
    }
}

/// The long tail of the questionnaire (housing, programmes, assets and the members' other questions),
/// answered as on the fixture family, so the test can walk the parts that matter by hand.
fn answer_the_rest(h: &mut Harness<'static, PendataApp>) {
    let fixture: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/family_valid.json").unwrap())
            .unwrap();
    let Screen::Edit(e) = &mut h.state_mut().screen else {
        panic!("not on the form")
    };
    for (k, v) in &fixture {
        if !e.answers.contains_key(k) && k != "anggota" && k != "jumlah_anggota" {
            e.answers.insert(k.clone(), v.clone());
        }
    }
    e.answers.insert("jumlah_anggota".into(), json!(2));
    let template = fixture["anggota"][0].as_object().unwrap();
    let template2 = fixture["anggota"][1].as_object().unwrap();
    if let Some(Value::Array(members)) = e.answers.get_mut("anggota") {
        for (i, m) in members.iter_mut().enumerate() {
            let t = if i == 0 { template } else { template2 };
            let m = m.as_object_mut().unwrap();
            for (k, v) in t {
                m.entry(k.clone()).or_insert(v.clone());
            }
        }
    }
    e.dirty_since = Some(std::time::Instant::now());
}

#[test]
fn a_petugas_sets_up_signs_in_and_finalizes_a_family() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    setup_and_sign_in(&mut h);
    assert!(h.query_by_label("Ringkasan pendataan").is_some());

    click(&mut h, "Keluarga baru");
    // Block I by touch: the region cascade with search, RT, address, KK number.
    type_into(&mut h, "Kabupaten/kota *", "samarinda");
    click(&mut h, "Kota Samarinda");
    type_into(&mut h, "Kecamatan *", "palaran");
    click(&mut h, "Palaran");
    type_into(&mut h, "Desa/kelurahan *", "rawa");
    click(&mut h, "Rawa Makmur");
    let a = editor_answers(&h);
    assert_eq!(a["wilayah_desa"], "64.72.01.1001");
    type_into(
        &mut h,
        "Alamat (nama jalan/gang, nomor rumah) *",
        "Jl. Pahlawan No. 12",
    );
    type_into(&mut h, "Nomor Kartu Keluarga *", "6472011503190003");
    assert_eq!(editor_answers(&h)["no_kk"], "6472011503190003");

    // Block IV: two members by touch, the second with a wrong NIK first.
    // Block II: the interview was completed; then jump to block IV with the page tabs.
    click_contains(&mut h, "Blok II.");
    click(&mut h, "Terisi lengkap");
    click_contains(&mut h, "Blok IV.");
    click(&mut h, "Tambah anggota keluarga");
    type_into(&mut h, "Nama anggota keluarga *", "Budi Santoso");
    type_into(
        &mut h,
        "NIK (Nomor Induk Kependudukan) *",
        "6472011203850001",
    );
    click(&mut h, "Kembali ke daftar anggota");
    click(&mut h, "Tambah anggota keluarga");
    type_into(&mut h, "Nama anggota keluarga *", "Siti Aminah");
    type_into(
        &mut h,
        "NIK (Nomor Induk Kependudukan) *",
        "6472016107880000",
    );
    answer_the_rest(&mut h);
    h.run();
    if std::env::var_os("DEBUG_UI").is_some() {
        use egui_kittest::kittest::NodeT;
        for n in h.query_all_by_role(Role::TextInput) {
            eprintln!("after {:?} {:?}", n.accesskit_node().label(), n.rect());
        }
    }
    assert!(
        h.query_by_label_contains("nomor urut 0000").is_some(),
        "the NIK error shows next to the field"
    );
    // Fix it: clear and type the right NIK.
    {
        let Screen::Edit(e) = &mut h.state_mut().screen else {
            panic!()
        };
        e.answers["anggota"][1]["nik"] = json!("");
    }
    h.run();
    type_into(
        &mut h,
        "NIK (Nomor Induk Kependudukan) *",
        "6472016107880002",
    );
    assert!(h.query_by_label_contains("nomor urut 0000").is_none());

    click(&mut h, "Periksa & finalisasi");
    assert!(
        h.query_by_label("0 kesalahan, 0 peringatan").is_some(),
        "no errors left"
    );
    click(&mut h, "Finalisasi");
    assert!(
        h.query_by_label("Keluarga sudah final dan terkunci")
            .is_some()
    );
    drop(h);

    // Reopen on the same store: sign in and the app returns to the family, now final.
    let mut h = harness(dir.path());
    h.run();
    sign_in(&mut h, "246810");
    assert!(
        h.query_by_label("Final").is_some(),
        "the family opens again, final (its status chip)"
    );
    let answers = editor_answers(&h);
    assert_eq!(answers["anggota"][1]["nik"], "6472016107880002");

    // Switch to English.
    click(&mut h, "English");
    assert!(h.query_by_label("Review & finalize").is_some());
    assert!(h.query_by_label("Sign out").is_some());
    assert!(h.query_by_label("Keluar").is_none());
}

#[test]
fn every_ui_text_key_exists_in_both_languages() {
    use pendata::model::Lang;
    use pendata::ui::i18n::keys;
    let id: Vec<&str> = keys(Lang::Id).collect();
    let en: Vec<&str> = keys(Lang::En).collect();
    assert_eq!(id, en, "id.json and en.json hold the same keys");
    let mut missing = Vec::new();
    for file in [
        "src/ui/mod.rs",
        "src/ui/form_view.rs",
        "src/ui/sync_view.rs",
        "src/ui/photo_view.rs",
    ] {
        let src = std::fs::read_to_string(file).unwrap();
        for part in src.split('"').skip(1).step_by(2) {
            let looks_like_key = part.contains('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                && [
                    "action.",
                    "app.",
                    "crash.",
                    "drives.",
                    "export.",
                    "receipts.",
                    "error.",
                    "form.",
                    "home.",
                    "list.",
                    "nav.",
                    "photo.",
                    "review.",
                    "save.",
                    "settings.",
                    "setup.",
                    "signin.",
                    "status.",
                ]
                .iter()
                .any(|p| part.starts_with(p));
            if looks_like_key && !id.contains(&part) {
                missing.push(format!("{file}: {part}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys used in code but not translated: {missing:?}"
    );
}

#[test]
fn a_setup_error_is_said_in_the_language_of_the_moment() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.run();
    // No device name: the store refuses, and the petugas reads why in Indonesian only.
    type_into(&mut h, "Kode petugas", "P001");
    type_into(&mut h, "Nama petugas", "Dewi Lestari");
    type_into(&mut h, "PIN (6–12 angka)", "246810");
    type_into(&mut h, "Ulangi PIN", "246810");
    click(&mut h, "Mulai");
    assert!(
        h.query_by_label("Kesalahan: nama perangkat belum diisi")
            .is_some()
    );
    assert!(h.query_by_label_contains("device name").is_none());
    // The message follows a switch of language.
    click(&mut h, "English");
    assert!(
        h.query_by_label("Error: the device name is empty")
            .is_some()
    );
    assert!(h.query_by_label_contains("nama perangkat").is_none());

    // In English from the start: said in English only.
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.state_mut().prefs.lang = pendata::model::Lang::En;
    h.run();
    type_into(&mut h, "Petugas code", "P001");
    type_into(&mut h, "Petugas name", "Dewi Lestari");
    type_into(&mut h, "PIN (6–12 digits)", "246810");
    type_into(&mut h, "Repeat PIN", "246810");
    click(&mut h, "Start");
    assert!(
        h.query_by_label("Error: the device name is empty")
            .is_some()
    );
    assert!(h.query_by_label_contains("Kesalahan").is_none());
    assert!(
        !dir.path().join("pendata.redb").exists(),
        "nothing was made"
    );
}

#[test]
fn answers_are_saved_within_a_second_and_the_app_reopens_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    setup_and_sign_in(&mut h);
    click(&mut h, "Keluarga baru");
    assert_eq!(progress(&h), 0.0, "a new, empty family is at 0 %");
    click_contains(&mut h, "Blok II.");
    assert_eq!(progress(&h), 0.0, "turning a page answers nothing");
    type_into(&mut h, "Nama petugas pendata *", "Dewi Lestari");
    assert!(progress(&h) > 0.0, "an answer moves the progress");
    assert!(
        h.query_by_label("Menyimpan…").is_some(),
        "the indicator shows the save is pending"
    );
    // The autosave runs on the next frame after the delay, without any further input.
    std::thread::sleep(std::time::Duration::from_millis(700));
    h.run();
    assert!(
        h.query_by_label("Tersimpan").is_some(),
        "saved within a second"
    );
    // Killed: the exit hook that would flush never runs (dropping the app saves nothing). Reopened.
    drop(h);
    let mut h = harness(dir.path());
    h.run();
    sign_in(&mut h, "246810");
    let answers = editor_answers(&h);
    assert_eq!(answers["nama_petugas"], "Dewi Lestari");
    let Screen::Edit(e) = &h.state().screen else {
        panic!()
    };
    assert_eq!(e.form.pages[e.page].name, "blok_2", "back on the same page");
}

/// The form's progress bar, in percent.
fn progress(h: &Harness<'static, PendataApp>) -> f64 {
    use egui_kittest::kittest::NodeT;
    h.get_by_role(Role::ProgressIndicator)
        .accesskit_node()
        .numeric_value()
        .unwrap()
}

/// Writes a JPEG (`w`×`h`, a colour gradient) changed `secs_ago` seconds ago; returns its bytes.
fn write_photo(path: &std::path::Path, w: u32, h: u32, secs_ago: u64) -> Vec<u8> {
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 120])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, &bytes).unwrap();
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs frames until `label` is gone (work on a worker thread), for at most ten seconds.
fn wait_until_gone(h: &mut Harness<'static, PendataApp>, label: &str) {
    for _ in 0..500 {
        h.run();
        if h.query_all_by_label_contains(label).next().is_none() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{label:?} never went away");
}

#[test]
fn a_photo_is_chosen_by_touch_from_the_camera_folder() {
    let dir = tempfile::tempdir().unwrap();
    let camera = dir.path().join("DCIM").join("100MEDIA");
    write_photo(&camera.join("IMG_0001.JPG"), 640, 480, 600);
    let newest = write_photo(&camera.join("IMG_0002.JPG"), 480, 640, 60);
    let data = dir.path().join("data");
    let mut h = harness(&data);
    // The camera folder of this test only: not the machine's Pictures or a stick that happens to be in.
    h.state_mut().photo_folders = Some(vec![dir.path().join("DCIM")]);
    setup_and_sign_in(&mut h);
    click(&mut h, "Keluarga baru");
    click_contains(&mut h, "Blok VI.");
    h.get_all_by_label("Pilih foto").next().unwrap().click();
    h.run();
    assert!(
        h.query_by_label("Pilih foto untuk: Foto rumah tampak depan")
            .is_some()
    );
    wait_for(&mut h, "2 foto terbaru dari");
    wait_until_gone(&mut h, "Memuat…");
    // Newest first: the photo taken a minute ago is the first tile.
    let first = h.get_by_label_contains("IMG_0002.JPG").rect();
    let second = h.get_by_label_contains("IMG_0001.JPG").rect();
    assert!(first.min.x < second.min.x && first.min.y == second.min.y);
    assert!(
        first.width() >= 48.0 && first.height() >= 48.0,
        "a touch target"
    );
    click_contains(&mut h, "IMG_0002.JPG");

    let hash = sha256_hex(&newest);
    assert_eq!(editor_answers(&h)["foto_depan"], json!(hash));
    assert!(
        h.query_by_label("Pilih foto untuk: Foto rumah tampak depan")
            .is_none(),
        "the picker closed"
    );
    // The field shows the stored photo's thumbnail, decoded in the background.
    let preview = format!("Foto {}…", &hash[..12]);
    wait_until_gone(&mut h, "Memuat…");
    assert!(h.query_by_role_and_label(Role::Image, &preview).is_some());
    assert!(
        h.query_by_label_contains("tidak dapat ditampilkan")
            .is_none()
    );
    assert!(
        h.query_by_label(&format!("Foto tersimpan ({}…)", &hash[..12]))
            .is_some()
    );

    // Another field's picker, cancelled: nothing changes.
    h.get_all_by_label("Pilih foto").next().unwrap().click();
    h.run();
    assert!(h.query_by_label("Pilih foto untuk: Foto lantai").is_some());
    click(&mut h, "Batal");
    assert!(h.query_by_label_contains("Pilih foto untuk").is_none());
    assert!(!editor_answers(&h).contains_key("foto_lantai"));

    // Saved, and the store holds the file's bytes under that hash.
    std::thread::sleep(std::time::Duration::from_millis(700));
    h.run();
    drop(h);
    let device =
        pendata::app::Device::open(&data, pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(device.attachment_size(&hash).unwrap(), Some(newest.len()));
    let id = device.list(None).unwrap()[0].id;
    assert_eq!(device.record(id).unwrap().1["foto_depan"], json!(hash));
    let thumb = device.photo_thumbnail(&hash, 160).unwrap();
    assert_eq!((thumb.width, thumb.height), (120, 160));
}

#[test]
fn a_photo_is_attached_from_another_folder_and_a_non_photo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty_camera = dir.path().join("camera");
    std::fs::create_dir(&empty_camera).unwrap();
    let other = dir.path().join("kiriman");
    let photo = write_photo(&other.join("rumah.jpg"), 300, 200, 5);
    let text = other.join("catatan.txt");
    std::fs::write(&text, "bukan foto").unwrap();
    std::fs::write(other.join("terpotong.jpg"), &photo[..photo.len() / 3]).unwrap();

    let mut h = harness(&dir.path().join("data"));
    h.state_mut().photo_folders = Some(vec![empty_camera]);
    setup_and_sign_in(&mut h);
    click(&mut h, "Keluarga baru");
    click_contains(&mut h, "Blok VI.");
    h.get_all_by_label("Pilih foto").next().unwrap().click();
    wait_for(&mut h, "Tidak ada foto di folder kamera");

    // A file that is not a photo: refused, said next to the field, in the language of the moment.
    type_into(&mut h, "Folder lain", text.to_str().unwrap());
    click(&mut h, "Lampirkan berkas");
    assert!(
        h.query_by_label_contains("Foto tidak dapat dilampirkan: bukan foto JPEG atau PNG")
            .is_some(),
        "a text file is refused, clearly"
    );
    assert!(!editor_answers(&h).contains_key("foto_depan"));
    click(&mut h, "English");
    assert!(
        h.query_by_label_contains("The photo could not be attached: not a JPEG or PNG photo")
            .is_some()
    );
    click(&mut h, "Bahasa Indonesia");

    // Another folder, typed by hand: its photos are offered.
    if let Screen::Edit(e) = &mut h.state_mut().screen {
        e.picker.as_mut().unwrap().other.clear();
    }
    type_into(&mut h, "Folder lain", other.to_str().unwrap());
    click(&mut h, "Muat ulang");
    wait_for(&mut h, "2 foto terbaru dari");
    // A cut-off photo is offered but says why it cannot be taken.
    use egui_kittest::kittest::NodeT;
    wait_for(&mut h, "terpotong.jpg");
    wait_until_gone(&mut h, "Memuat…");
    assert!(
        h.query_by_label_contains("terpotong.jpg")
            .unwrap()
            .accesskit_node()
            .is_disabled()
    );
    assert!(
        h.query_by_label_contains("foto rusak atau tidak lengkap")
            .is_some()
    );
    click_contains(&mut h, "rumah.jpg");
    assert_eq!(editor_answers(&h)["foto_depan"], json!(sha256_hex(&photo)));
    assert!(
        h.query_by_label_contains("Foto tidak dapat dilampirkan")
            .is_none(),
        "the error is gone once a photo is attached"
    );

    // A damaged JPEG is stored (it starts like one), but its thumbnail says it cannot be shown.
    let damaged = dir.path().join("rusak.jpg");
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend(std::iter::repeat_n(7u8, 5000));
    std::fs::write(&damaged, &bytes).unwrap();
    let Screen::Edit(e) = &h.state().screen else {
        panic!()
    };
    let field = e.form.field("foto_lantai").unwrap().id;
    h.state_mut().run(Command::AttachPhoto {
        field,
        member: None,
        path: damaged,
    });
    h.run();
    wait_for(
        &mut h,
        "Foto tidak dapat ditampilkan: foto rusak atau tidak lengkap",
    );
    assert_eq!(editor_answers(&h)["foto_lantai"], json!(sha256_hex(&bytes)));
}

#[test]
fn the_gps_button_reads_the_location_service() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        let _ = s.write_all(
            b"{\"class\":\"TPV\",\"mode\":2,\"lat\":-0.5617,\"lon\":117.1972,\"eph\":9.5}\n",
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.state_mut().gpsd = addr;
    setup_and_sign_in(&mut h);
    click(&mut h, "Keluarga baru");
    click(&mut h, "Ambil dari GPS");
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.run();
        if editor_answers(&h).contains_key("lokasi") {
            break;
        }
    }
    assert_eq!(
        editor_answers(&h)["lokasi"],
        json!({"lat": -0.5617, "lon": 117.1972, "accuracy_m": 9.5})
    );
}

#[test]
fn the_family_list_counts_filters_and_pages_from_the_store() {
    use pendata::app::{Device, demo};
    let dir = tempfile::tempdir().unwrap();
    let (device, _) = Device::init(dir.path(), "Tablet Palaran 01").unwrap();
    device
        .add_petugas("P001", "Dewi Lestari", "246810")
        .unwrap();
    let made = demo::fill(&device, "P001", 700, 5, 20).unwrap();
    assert!(made.drafts > 0 && made.drafts < 700);
    // The expected answers, the slow way: every head.
    let heads = device.list(None).unwrap();
    let desa = heads[0].summary.desa.clone();
    let in_desa = heads.iter().filter(|h| h.summary.desa == desa).count();
    let counts = device.counts().unwrap();
    drop(device);

    let mut h = harness(dir.path());
    h.run();
    sign_in(&mut h, "246810");
    // Home's figures are read off the frame (a worker thread) and drawn when they arrive.
    assert!(h.query_by_label("Ringkasan pendataan").is_some());
    h.state_mut().wait_home();
    h.run();
    assert!(!h.state().is_home_pending());
    assert_eq!(counts.draft, made.drafts);
    assert_eq!(counts.draft + counts.final_, 700);
    for n in [counts.draft, counts.final_] {
        assert!(
            h.query_by_label(&n.to_string()).is_some(),
            "{n} families shown on home"
        );
    }
    click(&mut h, "Daftar keluarga");
    list_answered(&mut h);
    assert!(h.query_by_label("700 keluarga").is_some());
    // Newest first: the family changed last is the first row.
    assert!(
        h.query_by_label_contains(&heads[0].summary.head_name)
            .is_some()
    );

    h.get_by_label("Status").click();
    h.run();
    click(&mut h, "Draf");
    list_answered(&mut h);
    assert!(
        h.query_by_label(&format!("{} keluarga", made.drafts))
            .is_some(),
        "filtered by status"
    );
    h.get_by_label("Status").click();
    h.run();
    click(&mut h, "Semua status");
    list_answered(&mut h);
    type_into(&mut h, "Kode desa", &desa);
    list_answered(&mut h);
    assert!(
        h.query_by_label(&format!("{in_desa} keluarga")).is_some(),
        "filtered by desa"
    );
    // Scrolled to the very end of all 700, the oldest family's row is read from the store and drawn.
    let Screen::List(state) = &mut h.state_mut().screen else {
        panic!("not on the list")
    };
    state.desa.clear();
    h.run();
    list_answered(&mut h);
    assert!(h.query_by_label("700 keluarga").is_some());
    let oldest = &heads.last().unwrap().summary.head_name;
    assert!(h.query_by_label_contains(oldest).is_none(), "not drawn yet");
    h.get_by_label_contains(&heads[0].summary.head_name).hover();
    h.run();
    for _ in 0..5 {
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Page,
            delta: egui::vec2(0.0, -50.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        h.run_steps(10);
    }
    assert!(h.query_by_label_contains(oldest).is_some(), "the last row");
}

/// Waits for the list's worker to answer the query on screen, then draws the answer.
fn list_answered(h: &mut Harness<'static, PendataApp>) {
    let Screen::List(state) = &mut h.state_mut().screen else {
        panic!("not on the list")
    };
    state.wait();
    h.run();
    let Screen::List(state) = &h.state().screen else {
        panic!("not on the list")
    };
    assert!(!state.is_pending(), "the list shows the answer");
    assert!(h.query_by_label("Mencari…").is_none());
}

#[test]
fn search_results_arrive_from_the_worker_and_the_list_updates() {
    use pendata::app::{Device, demo};
    let dir = tempfile::tempdir().unwrap();
    let (device, _) = Device::init(dir.path(), "Tablet Palaran 01").unwrap();
    device
        .add_petugas("P001", "Dewi Lestari", "246810")
        .unwrap();
    demo::fill(&device, "P001", 300, 5, 20).unwrap();
    let heads = device.list(None).unwrap();
    // A family found alone by the first ten digits of its KK number (asked of the store directly).
    let target = heads
        .iter()
        .find(|h| device.search(&h.summary.no_kk[..10], 500).unwrap().len() == 1)
        .expect("a family found alone by a KK prefix");
    let kk = target.summary.no_kk.clone();
    let other_kk = heads
        .iter()
        .find(|h| h.id != target.id)
        .unwrap()
        .summary
        .no_kk
        .clone();
    drop(device);

    let mut h = harness(dir.path());
    h.run();
    sign_in(&mut h, "246810");
    click(&mut h, "Daftar keluarga");
    list_answered(&mut h);
    assert!(h.query_by_label("300 keluarga").is_some());
    assert!(h.query_by_label_contains(&other_kk).is_some());

    // Typing the first digits of the KK: the frames do not wait for the search; its answer replaces
    // the list when it comes.
    type_into(&mut h, "Cari", &kk[..10]);
    list_answered(&mut h);
    assert!(h.query_by_label("1 keluarga").is_some(), "one family found");
    assert!(h.query_by_label_contains(&kk).is_some());
    assert!(h.query_by_label_contains(&other_kk).is_none());

    // Cleared, the whole list comes back.
    let Screen::List(state) = &mut h.state_mut().screen else {
        panic!("not on the list")
    };
    state.query.clear();
    h.run();
    list_answered(&mut h);
    assert!(h.query_by_label("300 keluarga").is_some());

    // Several changes in a row (faster than the worker): only the last one is shown.
    for q in ["zz", "zzq", &kk[..12]] {
        let Screen::List(state) = &mut h.state_mut().screen else {
            panic!("not on the list")
        };
        state.query = q.to_string();
        h.step();
    }
    list_answered(&mut h);
    assert!(h.query_by_label("1 keluarga").is_some());
    assert!(h.query_by_label_contains(&kk).is_some());
}

/// Runs frames until `label` shows (work on a worker thread), for at most ten seconds.
fn wait_for(h: &mut Harness<'static, PendataApp>, label: &str) {
    for _ in 0..500 {
        h.run();
        if h.query_by_label_contains(label).is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{label:?} never appeared");
}

/// The registry's receipt for a bundle, rejecting its first family: the receipt, its signed bytes, the
/// family and the name of its first member.
fn receipt_rejecting_the_first(
    reg: &std::path::Path,
    bundle: &std::path::Path,
) -> (
    pendata::bundle::receipt::Receipt,
    Vec<u8>,
    uuid::Uuid,
    String,
) {
    use pendata::bundle::manifest::SeqRange;
    use pendata::bundle::receipt::{Receipt, Rejection};
    let keys = pendata::registry::load(reg).unwrap();
    let mut first = None;
    pendata::bundle::read::read(
        std::fs::File::open(bundle).unwrap(),
        std::slice::from_ref(&keys.identity),
        |item| {
            if let pendata::bundle::read::Item::Revision { revision, .. } = item {
                first.get_or_insert(revision);
            }
            Ok(())
        },
    )
    .unwrap();
    let bad = first.unwrap();
    let name = bad.answers["anggota"][0]["nama"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let receipt = Receipt::new(
        "Dinas Sosial Kaltim",
        bad.device,
        chrono::Local::now().fixed_offset(),
        vec![SeqRange {
            from: 1,
            to: 1_000_000,
        }],
        vec![Rejection {
            record: bad.record,
            revision: bad.number,
            seq: bad.seq,
            reasons: vec![pendata::model::Localized::new(
                "Foto rumah tidak jelas, ambil ulang",
                "House photo unclear, take it again",
            )],
        }],
    );
    let bytes = receipt.sign(&keys.signing);
    (receipt, bytes, bad.record, name)
}

#[test]
fn export_to_a_stick_then_a_receipt_with_a_rejection_to_fix() {
    use pendata::app::{Device, demo};
    use pendata::store::Status;
    let dir = tempfile::tempdir().unwrap();
    let tab = dir.path().join("tablet");
    let reg = dir.path().join("registry");
    let stick = dir.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    let now = chrono::Local::now().fixed_offset();
    pendata::registry::init(&reg, "Dinas Sosial Kaltim", now).unwrap();
    {
        let (device, _) = Device::init(&tab, "Tablet Palaran 01").unwrap();
        device
            .add_petugas("P001", "Dewi Lestari", "246810")
            .unwrap();
        demo::fill(&device, "P001", 12, 5, 0).unwrap();
    }
    let mut h = harness(&tab);
    h.run();
    sign_in(&mut h, "246810");
    wait_for(&mut h, "Belum pernah ekspor");
    click(&mut h, "Ekspor ke USB");
    assert!(
        h.query_by_label_contains("Kunci registri belum dipasang")
            .is_some()
    );
    type_into(
        &mut h,
        "Lokasi file registry.pub",
        reg.join("registry.pub").to_str().unwrap(),
    );
    click(&mut h, "Pasang kunci");
    wait_for(&mut h, "Kunci registri: Dinas Sosial Kaltim");
    if let Screen::Export(st) = &mut h.state_mut().screen {
        st.folder.clear(); // a stick mounted on this machine would be chosen first
    }
    type_into(&mut h, "Folder tujuan", stick.to_str().unwrap());
    wait_for(&mut h, "Akan diekspor: 12 keluarga");
    click(&mut h, "Ekspor sekarang");
    wait_for(&mut h, "Aman untuk dicabut");
    assert!(
        h.query_by_label_contains("12 keluarga diekspor ke pendata-")
            .is_some()
    );
    let bundle = std::fs::read_dir(&stick)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // Nothing new now.
    wait_for(&mut h, "Tidak ada keluarga final yang baru");

    // The registry answers: one family rejected.
    let (receipt, bytes, bad, name) = receipt_rejecting_the_first(&reg, &bundle);
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    std::fs::write(inbox.join(receipt.file_name()), bytes).unwrap();

    click(&mut h, "Beranda");
    wait_for(&mut h, "Ekspor terakhir:");
    click(&mut h, "Kuitansi");
    if let Screen::Receipts(st) = &mut h.state_mut().screen {
        st.folder.clear();
    }
    type_into(&mut h, "Folder atau file kuitansi", inbox.to_str().unwrap());
    click(&mut h, "Periksa lagi");
    click(&mut h, &format!("Terapkan {}", receipt.file_name()));
    assert!(
        h.query_by_label("11 keluarga diterima, 1 ditolak")
            .is_some()
    );
    assert!(
        h.query_by_label("• Foto rumah tidak jelas, ambil ulang")
            .is_some()
    );
    // Applying it again changes nothing and says so.
    click(&mut h, &format!("Terapkan {}", receipt.file_name()));
    assert!(
        h.query_by_label_contains("sudah pernah diterapkan")
            .is_some()
    );
    // Jump to the rejected family to fix it.
    click(&mut h, &format!("Perbaiki — {name}"));
    assert!(matches!(h.state().screen, Screen::Edit(_)));
    drop(h);
    let device = Device::open(&tab, pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(device.record(bad).unwrap().0.status, Status::Rejected);
    assert_eq!(device.list(Some(Status::Accepted)).unwrap().len(), 11);
}

#[test]
fn after_a_crash_the_next_start_says_so_once_in_both_languages() {
    use pendata::app::{Device, crash};
    let dir = tempfile::tempdir().unwrap();
    let (device, _) = Device::init(dir.path(), "Tablet Palaran 01").unwrap();
    device
        .add_petugas("P001", "Dewi Lestari", "246810")
        .unwrap();
    drop(device);

    // No crash: no notice.
    let mut h = harness(dir.path());
    h.run();
    assert!(!h.state().crash_notice);
    assert!(
        h.query_by_label_contains("tertutup secara tak terduga")
            .is_none()
    );
    drop(h);

    // What the panic hook leaves behind (tests/panic_log.rs makes a real one in a child process).
    crash::write_entry(dir.path(), "main", "boom", "src/ui/mod.rs:1:1", "(none)").unwrap();
    let mut h = harness(dir.path());
    h.run();
    assert!(
        h.query_by_label_contains("Pendata tertutup secara tak terduga")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("jawaban yang sudah tersimpan tetap aman")
            .is_some()
    );
    // It stays through sign-in (messages come and go) until dismissed; in English after the switch.
    sign_in(&mut h, "246810");
    click(&mut h, "English");
    assert!(
        h.query_by_label_contains("Pendata closed unexpectedly last time")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("Every answer already saved is kept")
            .is_some()
    );
    click(&mut h, "Understood");
    assert!(h.query_by_label_contains("closed unexpectedly").is_none());
    drop(h);

    // Told once: the next start is quiet again, and the log stays for support.
    let mut h = harness(dir.path());
    h.run();
    assert!(h.query_by_label_contains("closed unexpectedly").is_none());
    assert!(
        h.query_by_label_contains("tertutup secara tak terduga")
            .is_none()
    );
    assert!(crash::log_path(dir.path()).exists());
}

/// A tablet with a work package of two families applied (sealed here as the registry would).
fn tablet_with_a_package(
    tab: &std::path::Path,
    reg: &std::path::Path,
) -> Vec<(uuid::Uuid, String)> {
    use pendata::app::{Device, demo};
    use pendata::bundle::manifest::FormRef;
    use pendata::bundle::package::{
        PACKAGE_FORMAT, PACKAGE_FORMAT_VERSION, Package, PackagedFamily,
    };
    let now = chrono::Local::now().fixed_offset();
    pendata::registry::init(reg, "Dinas Sosial Kaltim", now).unwrap();
    let keys = pendata::registry::load(reg).unwrap();
    let form = pendata::form::catalog::Catalog::shared()
        .unwrap()
        .latest("keluarga")
        .unwrap();
    let mut rng = demo::Rng::new(7);
    let spec = demo::FamilySpec {
        interview: now.date_naive() - chrono::Duration::days(30),
    };
    let families: Vec<PackagedFamily> = (0..2)
        .map(|_| PackagedFamily {
            family: uuid::Uuid::now_v7(),
            base: "ab".repeat(32),
            form_id: "keluarga".into(),
            form_version: form.version,
            answers: demo::family(form, &mut rng, &spec),
        })
        .collect();
    let (device, info) = Device::init(tab, "Tablet Palaran 01").unwrap();
    device
        .add_petugas("P001", "Dewi Lestari", "246810")
        .unwrap();
    device
        .set_registry_key(&std::fs::read(reg.join("registry.pub")).unwrap())
        .unwrap();
    let listed = families
        .iter()
        .map(|f| {
            let name = f.answers["anggota"][0]["nama"]
                .as_str()
                .unwrap()
                .to_string();
            (f.family, name)
        })
        .collect();
    let package = Package {
        format: PACKAGE_FORMAT.into(),
        format_version: PACKAGE_FORMAT_VERSION,
        package_id: uuid::Uuid::now_v7(),
        created_at: now,
        registry: "Dinas Sosial Kaltim".into(),
        device: info.id,
        desa: vec!["64.72.01.1001".into()],
        due: None,
        expires: now.date_naive() + chrono::Duration::days(30),
        note: None,
        forms: vec![FormRef {
            id: "keluarga".into(),
            version: form.version,
        }],
        families,
    };
    let recipient = device.store.age_identity().unwrap().to_public();
    let bytes = package.seal(&keys.signing, &recipient).unwrap();
    device.apply_package(&bytes, "P001").unwrap();
    listed
}

#[test]
fn a_visit_from_the_tugas_screen_found_with_one_member_deceased_is_finalized() {
    let dir = tempfile::tempdir().unwrap();
    let tab = dir.path().join("tablet");
    let listed = tablet_with_a_package(&tab, &dir.path().join("registry"));
    let mut h = harness(&tab);
    h.run();
    sign_in(&mut h, "246810");
    wait_for(&mut h, "Tugas kunjungan (0/2 selesai)");
    click(&mut h, "Tugas kunjungan (0/2 selesai)");
    wait_for(&mut h, "0 dari 2 kunjungan selesai");
    let (family, head) = &listed[0];
    click_contains(&mut h, head);
    // The visit page comes first: the outcome by touch, the date as the date picker would set it.
    assert!(
        h.query_by_role_and_label(Role::Group, "Hasil kunjungan *")
            .is_some()
    );
    click(&mut h, "Ditemukan");
    {
        let Screen::Edit(e) = &mut h.state_mut().screen else {
            panic!("not on the form")
        };
        assert_eq!(e.answers["id_keluarga_daftar"], family.to_string());
        let today = chrono::Local::now().date_naive().to_string();
        e.answers.insert("tanggal_kunjungan".into(), json!(today));
        // The second member died since the last visit (404 keberadaan 2).
        let members = e.answers["anggota"].as_array_mut().unwrap();
        assert!(members.len() >= 2, "the demo family has members");
        members[1]["keberadaan"] = json!("2");
        e.dirty_since = Some(std::time::Instant::now());
    }
    h.run();
    assert_eq!(editor_answers(&h)["status_kunjungan"], "1");
    click(&mut h, "Periksa & finalisasi");
    assert!(
        h.query_by_label_contains("0 kesalahan").is_some(),
        "no errors left"
    );
    if h.query_by_label("Saya sudah memeriksa semua peringatan")
        .is_some()
    {
        click(&mut h, "Saya sudah memeriksa semua peringatan");
    }
    click(&mut h, "Finalisasi");
    assert!(
        h.query_by_label("Keluarga sudah final dan terkunci")
            .is_some()
    );
    click(&mut h, "Beranda");
    wait_for(&mut h, "Tugas kunjungan (1/2 selesai)");
    drop(h);
    let device =
        pendata::app::Device::open(&tab, pendata::store::Unlock::Secret("246810")).unwrap();
    let (head, answers) = device.store.answers(*family).unwrap();
    assert_eq!(head.status, pendata::store::Status::Final);
    assert_eq!(head.base.as_ref().unwrap().family, *family);
    assert_eq!(answers["anggota"][1]["keberadaan"], "2");
    let history = device.store.history(*family).unwrap();
    assert!(
        history.iter().all(|r| r.base.is_some()),
        "every revision carries the visit's base"
    );
}
