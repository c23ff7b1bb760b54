//! The household form's rules, data-driven: one table of families, each a valid family with a few answers
//! changed, and exactly the issues it must produce (nothing more, nothing less).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use chrono::NaiveDate;
use pendata::form::catalog::Catalog;
use pendata::form::{Severity, evaluate};
use pendata::store::Store;
use serde_json::{Map, Value, json};

fn valid_family() -> Map<String, Value> {
    let text = std::fs::read_to_string("tests/fixtures/family_valid.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Sets `path` (`luas_lantai`, `anggota[1].nik`, `anggota[+]` to append a copy of member 0) to a value;
/// `null` removes the answer.
fn set(family: &mut Map<String, Value>, path: &str, value: &Value) {
    if let Some((list, rest)) = path.split_once('[') {
        let (index, field) = rest.split_once(']').unwrap();
        let members = family.get_mut(list).unwrap().as_array_mut().unwrap();
        if index == "+" {
            members.push(value.clone());
            return;
        }
        let i: usize = index.parse().unwrap();
        if index == "-" || field.is_empty() {
            members.remove(i);
            return;
        }
        let member = members[i].as_object_mut().unwrap();
        let field = field.trim_start_matches('.');
        if value.is_null() {
            member.remove(field);
        } else {
            member.insert(field.into(), value.clone());
        }
    } else if value.is_null() {
        family.remove(path);
    } else {
        family.insert(path.into(), value.clone());
    }
}

type Case = (
    &'static str,
    Vec<(&'static str, Value)>,
    Vec<(&'static str, &'static str, Severity)>,
);

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

#[expect(
    clippy::too_many_lines,
    reason = "one table of cases, one row per rule"
)]
fn cases() -> Vec<Case> {
    let member = |nik: &str, jk: &str, lahir: &str, hub: &str| {
        let mut m = valid_family()["anggota"][2].clone();
        m["nik"] = json!(nik);
        m["jenis_kelamin"] = json!(jk);
        m["tanggal_lahir"] = json!(lahir);
        m["hubungan"] = json!(hub);
        m
    };
    vec![
        // Valid shapes.
        ("the fixture family", vec![], vec![]),
        (
            "a one-person family",
            vec![
                ("anggota[3]", json!(null)),
                ("anggota[2]", json!(null)),
                ("anggota[1]", json!(null)),
                ("jumlah_anggota", json!(1)),
                ("anggota[0].status_kawin", json!("4")),
            ],
            vec![],
        ),
        (
            "a deceased member keeps only identity questions",
            vec![
                ("anggota[1]", json!(null)),
                ("anggota[+]", {
                    let mut m = member("6472016107880002", "2", "1988-07-21", "2");
                    let o = m.as_object_mut().unwrap();
                    o.retain(|k, _| {
                        ["nama", "nik", "jenis_kelamin", "tanggal_lahir", "hubungan"]
                            .contains(&k.as_str())
                    });
                    o.insert("keberadaan".into(), json!("2"));
                    m
                }),
            ],
            vec![],
        ),
        (
            "a refusal ends the interview after block II",
            vec![
                ("hasil_pendataan", json!("4")),
                ("persetujuan", json!(null)),
                ("nama_responden", json!(null)),
            ],
            vec![],
        ),
        (
            "a family of twelve",
            (0..8)
                .map(|i| {
                    (
                        "anggota[+]",
                        member(
                            &format!("64720110061{i}00{:02}", 10 + i),
                            "1",
                            &format!("201{i}-06-10"),
                            "3",
                        ),
                    )
                })
                .chain([("jumlah_anggota", json!(12))])
                .collect(),
            vec![],
        ),
        // Required answers and skip rules.
        (
            "missing floor area",
            vec![("luas_lantai", json!(null))],
            vec![("luas_lantai", "required", E)],
        ),
        (
            "land title only asked of owners",
            vec![("status_bangunan", json!("2")), ("bukti_tanah", json!("9"))],
            vec![],
        ),
        (
            "owner without land title",
            vec![("bukti_tanah", json!(null))],
            vec![("bukti_tanah", "required", E)],
        ),
        (
            "distance to septic tank asked for wells",
            vec![("sumber_air", json!("4"))],
            vec![("jarak_tinja", "required", E)],
        ),
        (
            "meter power asked for PLN with meter",
            vec![("daya_listrik_1", json!(null))],
            vec![("daya_listrik_1", "required", E)],
        ),
        (
            "no consent",
            vec![("persetujuan", json!("2"))],
            vec![("persetujuan", "check", E)],
        ),
        (
            "consent not asked",
            vec![("persetujuan", json!(null))],
            vec![("persetujuan", "required", E)],
        ),
        // Constraints and warnings on the family.
        (
            "floor area zero",
            vec![("luas_lantai", json!(0))],
            vec![("luas_lantai", "constraint", E)],
        ),
        (
            "floor area huge",
            vec![("luas_lantai", json!(1500))],
            vec![("luas_lantai", "check", W)],
        ),
        // Limits at entry (issue 21): every number has an upper bound, every text a length.
        (
            "floor area past any house (1e308)",
            vec![("luas_lantai", json!(1e308))],
            vec![
                ("luas_lantai", "constraint", E),
                ("luas_lantai", "check", W),
            ],
        ),
        (
            "floor area at its bound",
            vec![("luas_lantai", json!(10000))],
            vec![("luas_lantai", "check", W)],
        ),
        (
            "a thousand motorbikes",
            vec![("aset_sepeda_motor", json!(1000))],
            vec![
                ("aset_sepeda_motor", "constraint", E),
                ("aset_sepeda_motor", "check", W),
            ],
        ),
        (
            "a hundred thousand goats",
            vec![("ternak_kambing", json!(100_000))],
            vec![
                ("ternak_kambing", "constraint", E),
                ("ternak_kambing", "check", W),
            ],
        ),
        (
            "a note at its length",
            vec![("catatan", json!("x".repeat(5000)))],
            vec![],
        ),
        (
            "a note past its length",
            vec![("catatan", json!("é".repeat(5001)))],
            vec![("catatan", "too_long", E)],
        ),
        (
            "an address past the default length",
            vec![("alamat", json!("x".repeat(1001)))],
            vec![("alamat", "too_long", E)],
        ),
        (
            "a member's name past the default length",
            vec![("anggota[0].nama", json!("x".repeat(1001)))],
            vec![("anggota[0].nama", "too_long", E)],
        ),
        (
            "RT with letters",
            vec![("rt", json!("3A"))],
            vec![("rt", "constraint", E)],
        ),
        (
            "interview in the future",
            vec![("tanggal_pendataan", json!("2026-12-01"))],
            vec![("tanggal_pendataan", "constraint", E)],
        ),
        (
            "unknown code",
            vec![("jenis_lantai", json!("10"))],
            vec![("jenis_lantai", "unknown_choice", E)],
        ),
        (
            "desa outside the kecamatan",
            vec![("wilayah_desa", json!("64.72.02.1001"))],
            vec![
                ("wilayah_desa", "choice_filtered", E),
                // The address's kecamatan is now 64.72.02: every number registered in 64.72.01 is flagged.
                ("no_kk", "kk_region_mismatch", W),
                ("anggota[0].nik", "nik_region_mismatch", W),
                ("anggota[1].nik", "nik_region_mismatch", W),
                ("anggota[2].nik", "nik_region_mismatch", W),
                ("anggota[3].nik", "nik_region_mismatch", W),
            ],
        ),
        (
            "wrong answer type: one error, not also \"required\"",
            vec![("luas_lantai", json!("besar"))],
            vec![("luas_lantai", "invalid_value", E)],
        ),
        (
            "unknown question",
            vec![("warna_rumah", json!("biru"))],
            vec![("warna_rumah", "unknown_field", E)],
        ),
        (
            "stated member count differs",
            vec![("jumlah_anggota", json!(5))],
            vec![("anggota", "repeat_count", W)],
        ),
        (
            "phone with letters",
            vec![("hp_responden", json!("0812-ABC"))],
            vec![("hp_responden", "phone_invalid", E)],
        ),
        (
            "GPS in Australia",
            vec![(
                "lokasi",
                json!({"lat": -25.0, "lon": 133.0, "accuracy_m": 5}),
            )],
            vec![("lokasi", "gps_outside", W)],
        ),
        (
            "GPS inaccurate",
            vec![(
                "lokasi",
                json!({"lat": -0.56, "lon": 117.19, "accuracy_m": 250}),
            )],
            vec![("lokasi", "gps_accuracy", W)],
        ),
        (
            "programme month badly written",
            vec![("terima_sembako_bulan", json!("Okt 2026"))],
            vec![("terima_sembako_bulan", "constraint", E)],
        ),
        // KK number.
        (
            "KK too short",
            vec![("no_kk", json!("647201150319"))],
            vec![("no_kk", "kk_length", E)],
        ),
        (
            "KK serial 0000",
            vec![("no_kk", json!("6472011503190000"))],
            vec![("no_kk", "kk_serial", E)],
        ),
        (
            "KK impossible date",
            vec![("no_kk", json!("6472013102190003"))],
            vec![("no_kk", "kk_date", E)],
        ),
        (
            "KK from another kecamatan",
            vec![("no_kk", json!("6472021503190003"))],
            vec![("no_kk", "kk_region_mismatch", W)],
        ),
        // NIK.
        (
            "NIK with 15 digits",
            vec![("anggota[1].nik", json!("647201610788000"))],
            vec![("anggota[1].nik", "nik_length", E)],
        ),
        (
            "NIK with a letter",
            vec![("anggota[1].nik", json!("64720161078800O2"))],
            vec![("anggota[1].nik", "nik_length", E)],
        ),
        (
            "NIK province 00",
            vec![("anggota[1].nik", json!("0072016107880002"))],
            vec![("anggota[1].nik", "nik_province", E)],
        ),
        (
            "NIK impossible date",
            vec![("anggota[1].nik", json!("6472017307880002"))],
            vec![("anggota[1].nik", "nik_date", E)],
        ),
        (
            "NIK serial 0000",
            vec![("anggota[1].nik", json!("6472016107880000"))],
            vec![("anggota[1].nik", "nik_serial", E)],
        ),
        (
            "NIK says male, answer female",
            vec![("anggota[1].nik", json!("6472012107880002"))],
            vec![("anggota[1].nik", "nik_sex_mismatch", W)],
        ),
        (
            "NIK birth date differs",
            vec![("anggota[1].tanggal_lahir", json!("1988-07-22"))],
            vec![("anggota[1].nik", "nik_birth_date_mismatch", W)],
        ),
        (
            "NIK registered elsewhere",
            vec![("anggota[1].nik", json!("6471016107880002"))],
            vec![("anggota[1].nik", "nik_region_mismatch", W)],
        ),
        (
            "two members with one NIK",
            vec![
                ("anggota[+]", valid_family()["anggota"][2].clone()),
                ("jumlah_anggota", json!(5)),
            ],
            vec![("anggota[4].nik", "duplicate", E)],
        ),
        // Members and relationships.
        (
            "no head of family",
            vec![("anggota[0].hubungan", json!("8"))],
            vec![("anggota", "check", E)],
        ),
        (
            "two heads of family",
            vec![("anggota[1].hubungan", json!("1"))],
            vec![("anggota", "check", E)],
        ),
        (
            "no members",
            vec![("anggota", json!([])), ("jumlah_anggota", json!(1))],
            vec![
                ("anggota", "repeat_min", E),
                ("anggota", "repeat_count", W),
                ("anggota", "check", E),
            ],
        ),
        (
            "born after the interview",
            vec![
                ("anggota[3].tanggal_lahir", json!("2026-11-25")),
                ("anggota[3].nik", json!("6472016511260004")),
            ],
            vec![("anggota[3].tanggal_lahir", "constraint", E)],
        ),
        (
            "spouse not married",
            vec![("anggota[1].status_kawin", json!("1"))],
            vec![("anggota[1].hubungan", "check", W)],
        ),
        (
            "a member older than 110",
            vec![
                ("anggota[0].tanggal_lahir", json!("1912-03-12")),
                ("anggota[0].nik", json!("6472011203120001")),
            ],
            vec![("anggota[0].tanggal_lahir", "check", W)],
        ),
        (
            "a head of family aged 14",
            vec![
                ("anggota[2].hubungan", json!("1")),
                ("anggota[0].hubungan", json!("8")),
                ("anggota[1].hubungan", json!("6")),
            ],
            vec![("anggota[2].hubungan", "check", W)],
        ),
        (
            "a spouse aged 3",
            vec![("anggota[3].hubungan", json!("2"))],
            vec![
                ("anggota[3].hubungan", "check", W),
                ("anggota[3].hubungan", "check", W),
            ],
        ),
        (
            "child too young to work is not asked about work",
            vec![("anggota[3].bekerja", json!("1"))],
            vec![],
        ),
        (
            "working without hours",
            vec![("anggota[0].jam_kerja", json!(null))],
            vec![("anggota[0].jam_kerja", "required", E)],
        ),
        (
            "99 hours of work",
            vec![("anggota[0].jam_kerja", json!(99))],
            vec![("anggota[0].jam_kerja", "constraint", E)],
        ),
        (
            "member answer of the wrong shape",
            vec![("anggota[0].kartu_identitas", json!("4"))],
            vec![("anggota[0].kartu_identitas", "invalid_value", E)],
        ),
        (
            "a NIK given as a number: one error at its path, not also \"required\"",
            vec![("anggota[1].nik", json!(6_472_016_107_880_002_u64))],
            vec![("anggota[1].nik", "invalid_value", E)],
        ),
        (
            "members not a list",
            vec![("anggota", json!({"nama": "x"}))],
            vec![
                ("anggota", "invalid_value", E),
                ("anggota", "repeat_min", E),
                ("anggota", "repeat_count", W),
                ("anggota", "check", E),
            ],
        ),
    ]
}

#[test]
fn household_rules() {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let mut failures = Vec::new();
    for (name, patch, expected) in cases() {
        let mut family = valid_family();
        for (path, value) in &patch {
            set(&mut family, path, value);
        }
        let ev = evaluate(form, &family, today);
        let mut got: Vec<(String, String, Severity)> = ev
            .issues
            .iter()
            .map(|i| (i.path.clone(), i.code.to_string(), i.severity))
            .collect();
        let mut want: Vec<(String, String, Severity)> = expected
            .iter()
            .map(|(p, c, s)| ((*p).to_string(), (*c).to_string(), *s))
            .collect();
        got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        if got != want {
            failures.push(format!("{name}:\n  expected {want:?}\n  got      {got:?}"));
        }
        for issue in &ev.issues {
            assert!(
                !issue.message.id.is_empty() && !issue.message.en.is_empty(),
                "{name}: {issue:?}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn relevance_hides_and_shows_fields() {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let mut family = valid_family();
    let visible = evaluate(form, &family, today).visible_paths();
    assert!(visible.contains(&"luas_lantai".to_string()));
    assert!(
        visible.contains(&"anggota[3].gizi".to_string()),
        "a toddler is asked about nutrition"
    );
    assert!(
        !visible.contains(&"anggota[3].bekerja".to_string()),
        "a toddler is not asked about work"
    );
    assert!(
        !visible.contains(&"anggota[0].umur".to_string()),
        "calculated fields are not shown"
    );

    family.insert("hasil_pendataan".into(), json!("5"));
    let ev = evaluate(form, &family, today);
    let visible = ev.visible_paths();
    assert!(!visible.contains(&"luas_lantai".to_string()));
    assert!(!visible.iter().any(|p| p.starts_with("anggota")));
    assert!(visible.contains(&"catatan".to_string()));

    let computed = evaluate(form, &valid_family(), today).computed();
    assert_eq!(computed["anggota[0].umur"], json!(41));
    assert_eq!(computed["anggota[3].umur"], json!(3));
    assert_eq!(computed["anggota[0].is_kepala"], json!(1));
}

#[test]
fn region_cascade_offers_only_the_chosen_kecamatan() {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let ev = evaluate(form, &valid_family(), today);
    let kab = form.field("wilayah_kabkota").unwrap();
    let kec = form.field("wilayah_kecamatan").unwrap();
    let desa = form.field("wilayah_desa").unwrap();
    assert_eq!(
        ev.choices_for(kab.id, None, today).len(),
        10,
        "Kaltim has 10 kabupaten/kota"
    );
    let kecs = ev.choices_for(kec.id, None, today);
    assert!(kecs.iter().all(|c| c.value.starts_with("64.72.")));
    assert!(kecs.iter().any(|c| c.label.id == "Palaran"));
    let desas = ev.choices_for(desa.id, None, today);
    assert!(!desas.is_empty());
    assert!(desas.iter().all(|c| c.value.starts_with("64.72.01.")));
    assert_eq!(
        form.choices_of(desa).unwrap().choices.len(),
        1038,
        "Kaltim has 1,038 desa/kelurahan"
    );
}

/// The family list and search read the household form's fields by name (`model::household`): a valid
/// family of the form, as a petugas enters it, shows in the list with its head, KK, desa and address, and
/// is found by each of its words and numbers. A field renamed in the form and not in the code fails here.
#[test]
fn a_valid_family_shows_in_the_list_and_is_found_by_its_names_and_numbers() {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let family = valid_family();
    assert!(!evaluate(form, &family, today).has_errors());
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:15:00+08:00").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::create(dir.path(), "Tablet Uji", now).unwrap();
    store.add_petugas("P001", "Dewi", "246810", now).unwrap();
    let head = store
        .create_record(&form.id, form.version, family, "P001", now)
        .unwrap();
    let summary = &store.record(head.id).unwrap().summary;
    assert_eq!(summary.head_name, "Budi Santoso");
    assert_eq!(summary.no_kk, "6472011503190003");
    assert_eq!(summary.desa, "64.72.01.1001");
    assert_eq!(summary.address, "Jl. Pahlawan No. 12");
    assert_eq!(summary.members, 4);
    for query in [
        "budi santoso",
        "siti aminah",
        "ani",
        "pahlawan 12",
        "6472011503190003",
        "6472016107880002",
        "64720105",
    ] {
        let found = store.search(query, 10).unwrap();
        assert_eq!(
            found.iter().map(|h| h.id).collect::<Vec<_>>(),
            [head.id],
            "{query}"
        );
    }
}

#[test]
fn progress_counts_only_what_the_petugas_answered() {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let empty = evaluate(form, &Map::new(), today).progress(today);
    assert_eq!(empty.answered, 0);
    assert!(empty.total > 0, "a new family has questions to answer");
    assert!(
        empty.fraction().abs() < f32::EPSILON,
        "a new family is at 0 %"
    );

    let full = evaluate(form, &valid_family(), today).progress(today);
    assert_eq!(full.answered, full.total, "{full:?}");
    assert!((full.fraction() - 1.0).abs() < f32::EPSILON);

    // The region and the address answered: more than nothing, far from done.
    let mut some = Map::new();
    for k in [
        "wilayah_kabkota",
        "wilayah_kecamatan",
        "wilayah_desa",
        "alamat",
    ] {
        some.insert(k.into(), valid_family()[k].clone());
    }
    let part = evaluate(form, &some, today).progress(today);
    assert_eq!(part.answered, 4);
    assert!(part.fraction() > 0.0 && part.fraction() < 0.5, "{part:?}");
}
