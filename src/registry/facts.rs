//! The few facts about a family that the registry's reports count, extracted once from its answers and
//! stored next to them, so a report over a million families never parses answers again. Nothing personal:
//! region codes, the result of enumeration, member counts and yes/no indicators.
//!
//! Which choice codes make an indicator is decided here, from the choice lists of `schemas/keluarga.json`
//! (a unit test holds every list to the codes and labels these constants were chosen from, so a form change
//! breaks the test, not the figures):
//!
//! | indicator | field (list) | yes when | why |
//! |---|---|---|---|
//! | `earth_floor` | `jenis_lantai` (`lantai`) | `8` Tanah | the only earth floor; `7` Bambu and `5` Kayu are not earth |
//! | `no_electricity` | `sumber_penerangan` (`penerangan`) | `4` Bukan listrik | `3` Listrik non-PLN (generator, solar, village grid) is electricity all the same: counting it would call a home with solar power unlit |
//! | `no_pln_electricity` | `sumber_penerangan` (`penerangan`) | `3`, `4` | not on the state grid (PLN), with or without a meter — the wider measure some programmes use |
//! | `no_own_toilet` | `fasilitas_bab` (`fasilitas_bab`) | `2`…`6` | anything but `1` "used only by this family's own members": shared, communal, public, unused or none |
//! | `pkh`, `sembako` | `terima_pkh`, `terima_sembako` (`ya_tidak`) | `1` Ya | |
//! | members present | `anggota[].keberadaan` (`keberadaan`) | `1`, `5` | living with the family, or a new member; not deceased, moved or not found |
//!
//! A listed family whose visit (`status_kunjungan`) ended other than `1` found — moved, all members
//! deceased, not found, refused, a duplicate — has no current answers about its home: its old ones stay
//! in the history, but its indicators are unknown, so they leave every share's denominator instead of
//! counting a family that is no longer there.
//!
//! An answer that is missing, of the wrong type or not a code of its list gives `None`: unknown, left out of
//! the denominator of a share.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::form::{FieldKind, Form};
use crate::model::record::Answers;

pub use crate::model::household::member::PRESENCE;
pub use crate::model::household::visit::FOUND;
pub use crate::model::household::{
    DESA, FLOOR, KABKOTA, KECAMATAN, LIGHTING, MEMBERS, PKH, RESULT, SEMBAKO, TOILET, VISIT_STATUS,
};

/// `lantai`: Tanah.
pub const EARTH_FLOOR: &[&str] = &["8"];
/// `penerangan`: Bukan listrik.
pub const NO_ELECTRICITY: &[&str] = &["4"];
/// `penerangan`: Listrik non-PLN, Bukan listrik.
pub const NO_PLN_ELECTRICITY: &[&str] = &["3", "4"];
/// `fasilitas_bab`: the one code that is the family's own toilet, used by its members only.
pub const OWN_TOILET: &str = "1";
/// `ya_tidak`: Ya.
pub const YES: &str = "1";
/// `keberadaan`: Tinggal bersama keluarga, Anggota keluarga baru.
pub const PRESENT: &[&str] = &["1", "5"];

/// The registry's counted facts about one family. Stored per family (JSON): a compatibility promise —
/// fields are only ever added (each defaults to unknown), never renamed; `tests::reads_version_1` holds
/// the first format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Facts {
    /// Region codes as the form's lists write them (`64.72`, `64.72.01`, `64.72.01.1001`).
    pub kabkota: Option<String>,
    pub kecamatan: Option<String>,
    pub desa: Option<String>,
    /// `hasil_pendataan` code.
    pub result: Option<String>,
    /// `status_kunjungan` code of a visit of a listed family (none for a family entered as new; left out
    /// of the stored JSON then, so facts stored before visits existed read and write back the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visit: Option<String>,
    /// Rows of the `anggota` roster, and how many of them live with the family.
    pub members: Option<u32>,
    pub members_present: Option<u32>,
    pub earth_floor: Option<bool>,
    pub no_electricity: Option<bool>,
    pub no_pln_electricity: Option<bool>,
    pub no_own_toilet: Option<bool>,
    pub pkh: Option<bool>,
    pub sembako: Option<bool>,
}

/// Extracts the facts from a family's answers, read with the form version they were made with. Never
/// panics: whatever is malformed becomes `None`.
pub fn extract(form: &Form, answers: &Answers) -> Facts {
    let code = |name: &str| code_in_list(form, name, answers.get(name));
    let is = |name: &str, yes: &[&str]| code(name).map(|c| yes.contains(&c.as_str()));
    let (members, members_present) = roster(form, answers);
    let visit = code(VISIT_STATUS);
    let region = Facts {
        kabkota: code(KABKOTA),
        kecamatan: code(KECAMATAN),
        desa: code(DESA),
        result: code(RESULT),
        visit: visit.clone(),
        ..Facts::default()
    };
    if visit.is_some_and(|v| v != FOUND) {
        return region;
    }
    Facts {
        members,
        members_present,
        earth_floor: is(FLOOR, EARTH_FLOOR),
        no_electricity: is(LIGHTING, NO_ELECTRICITY),
        no_pln_electricity: is(LIGHTING, NO_PLN_ELECTRICITY),
        no_own_toilet: code(TOILET).map(|c| c != OWN_TOILET),
        pkh: is(PKH, &[YES]),
        sembako: is(SEMBAKO, &[YES]),
        ..region
    }
}

/// The code of a select_one answer if it is one of the field's choices.
fn code_in_list(form: &Form, name: &str, answer: Option<&Json>) -> Option<String> {
    let field = form.field(name)?;
    if field.kind != FieldKind::SelectOne {
        return None;
    }
    let code = match answer? {
        Json::String(s) => s.clone(),
        Json::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return None,
    };
    form.choices_of(field)?.get(&code).map(|_| code)
}

fn roster(form: &Form, answers: &Answers) -> (Option<u32>, Option<u32>) {
    let Some(Json::Array(rows)) = answers.get(MEMBERS) else {
        return (None, None);
    };
    let members: Vec<_> = rows.iter().filter_map(Json::as_object).collect();
    let present = members
        .iter()
        .filter(|m| {
            code_in_list(form, PRESENCE, m.get(PRESENCE))
                .is_some_and(|c| PRESENT.contains(&c.as_str()))
        })
        .count();
    let count = |n: usize| u32::try_from(n).ok();
    (count(members.len()), count(present))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::demo::{self, FamilySpec, Rng};
    use crate::form::catalog::Catalog;
    use chrono::NaiveDate;
    use serde_json::json;

    fn form() -> &'static Form {
        Catalog::shared()
            .unwrap()
            .latest(crate::model::household::FORM_ID)
            .unwrap()
    }

    /// Every list an indicator reads, held to the codes and labels the constants were chosen from: a new
    /// or relabelled choice must be classified here before the figures can mean anything.
    #[test]
    fn indicator_codes_match_the_form() {
        let form = form();
        let lists: &[(&str, &[(&str, &str)])] = &[
            (
                FLOOR,
                &[
                    ("1", "Marmer/granit"),
                    ("2", "Keramik"),
                    ("3", "Parket/vinil/karpet"),
                    ("4", "Ubin/tegel/teraso"),
                    ("5", "Kayu/papan"),
                    ("6", "Semen/bata merah"),
                    ("7", "Bambu"),
                    ("8", "Tanah"),
                    ("9", "Lainnya"),
                ],
            ),
            (
                LIGHTING,
                &[
                    ("1", "Listrik PLN dengan meteran"),
                    ("2", "Listrik PLN tanpa meteran"),
                    ("3", "Listrik non-PLN"),
                    ("4", "Bukan listrik"),
                ],
            ),
            (
                TOILET,
                &[
                    ("1", "Ada, digunakan hanya oleh anggota keluarga sendiri"),
                    (
                        "2",
                        "Ada, digunakan bersama anggota keluarga dari keluarga tertentu",
                    ),
                    ("3", "Ada, di MCK komunal"),
                    ("4", "Ada, di MCK umum/siapa pun menggunakan"),
                    ("5", "Ada, anggota keluarga tidak menggunakan"),
                    ("6", "Tidak ada fasilitas"),
                ],
            ),
            (PKH, &[("1", "Ya"), ("2", "Tidak")]),
            (SEMBAKO, &[("1", "Ya"), ("2", "Tidak")]),
            (
                PRESENCE,
                &[
                    ("1", "Tinggal bersama keluarga"),
                    ("2", "Meninggal"),
                    ("3", "Pindah dalam negeri"),
                    ("4", "Pindah ke luar negeri"),
                    ("5", "Anggota keluarga baru"),
                    ("6", "Tidak ditemukan"),
                ],
            ),
        ];
        for (field, expected) in lists {
            let f = form.field(field).unwrap();
            assert_eq!(f.kind, FieldKind::SelectOne, "{field}");
            let got: Vec<(&str, &str)> = form
                .choices_of(f)
                .unwrap()
                .choices
                .iter()
                .map(|c| (c.value.as_str(), c.label.id.as_str()))
                .collect();
            assert_eq!(&got, expected, "choice list of {field} changed");
        }
        for name in [KABKOTA, KECAMATAN, DESA, RESULT, MEMBERS] {
            assert!(form.field(name).is_some(), "{name}");
        }
    }

    fn check(answers: serde_json::Value, expected: Facts) {
        let Json::Object(answers) = answers else {
            panic!("answers are an object")
        };
        assert_eq!(extract(form(), &answers), expected, "{answers:?}");
    }

    #[test]
    fn extracts_from_hand_written_answers() {
        check(json!({}), Facts::default());
        check(
            json!({
                "wilayah_kabkota": "64.72", "wilayah_kecamatan": "64.72.01", "wilayah_desa": "64.72.01.1001",
                "hasil_pendataan": "1", "jenis_lantai": "8", "sumber_penerangan": "3",
                "fasilitas_bab": "5", "terima_pkh": "1", "terima_sembako": "2",
                "anggota": [{"keberadaan": "1"}, {"keberadaan": "2"}, {"keberadaan": "5"}, {}, "junk"]
            }),
            Facts {
                kabkota: Some("64.72".into()),
                kecamatan: Some("64.72.01".into()),
                desa: Some("64.72.01.1001".into()),
                result: Some("1".into()),
                members: Some(4),
                members_present: Some(2),
                earth_floor: Some(true),
                no_electricity: Some(false),
                no_pln_electricity: Some(true),
                no_own_toilet: Some(true),
                pkh: Some(true),
                sembako: Some(false),
                ..Facts::default()
            },
        );
        // A visit that found the family counts its answers; one that did not (moved) counts none.
        let home = json!({
            "wilayah_desa": "64.72.01.1001", "jenis_lantai": "8", "terima_pkh": "1",
            "anggota": [{"keberadaan": "1"}]
        });
        let mut found = home.clone();
        found["status_kunjungan"] = json!("1");
        check(
            found,
            Facts {
                desa: Some("64.72.01.1001".into()),
                visit: Some("1".into()),
                members: Some(1),
                members_present: Some(1),
                earth_floor: Some(true),
                pkh: Some(true),
                ..Facts::default()
            },
        );
        for gone in ["2", "3", "4", "5", "6"] {
            let mut visit = home.clone();
            visit["status_kunjungan"] = json!(gone);
            check(
                visit,
                Facts {
                    desa: Some("64.72.01.1001".into()),
                    visit: Some(gone.into()),
                    ..Facts::default()
                },
            );
        }
        // Wrong types, unknown codes and numbers for codes.
        check(
            json!({
                "wilayah_kabkota": "99.99", "hasil_pendataan": 4, "jenis_lantai": ["8"],
                "sumber_penerangan": "1", "fasilitas_bab": "1", "terima_pkh": true, "terima_sembako": "7",
                "anggota": {"keberadaan": "1"}
            }),
            Facts {
                result: Some("4".into()),
                no_electricity: Some(false),
                no_pln_electricity: Some(false),
                no_own_toilet: Some(false),
                ..Facts::default()
            },
        );
        check(
            json!({"anggota": [], "sumber_penerangan": "4"}),
            Facts {
                members: Some(0),
                members_present: Some(0),
                no_electricity: Some(true),
                no_pln_electricity: Some(true),
                ..Facts::default()
            },
        );
    }

    #[test]
    fn extracts_from_demo_families() {
        let form = form();
        let spec = FamilySpec {
            interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        };
        let mut rng = Rng::new(11);
        let mut earth = 0;
        // Earth floors are rare in the demo, as in the province (under 1 %): a sample large enough to
        // hold some.
        for _ in 0..1500 {
            let answers = demo::family(form, &mut rng, &spec);
            let facts = extract(form, &answers);
            let desa = facts.desa.as_deref().unwrap();
            let kec = facts.kecamatan.as_deref().unwrap();
            assert!(desa.starts_with(kec) && kec.starts_with(facts.kabkota.as_deref().unwrap()));
            assert_eq!(facts.result.as_deref(), Some("1"));
            let rows = answers[MEMBERS].as_array().unwrap().len() as u32;
            assert_eq!(facts.members, Some(rows));
            assert_eq!(
                facts.members_present,
                Some(rows),
                "demo members all live there"
            );
            let floor = answers[FLOOR].as_str().unwrap();
            assert_eq!(facts.earth_floor, Some(floor == "8"));
            earth += usize::from(floor == "8");
            let light = answers[LIGHTING].as_str().unwrap();
            assert_eq!(facts.no_electricity, Some(light == "4"));
            assert_eq!(facts.no_pln_electricity, Some(light == "3" || light == "4"));
            assert_eq!(
                facts.no_own_toilet,
                Some(answers[TOILET].as_str().unwrap() != "1")
            );
            assert_eq!(facts.pkh, Some(answers[PKH].as_str().unwrap() == "1"));
            assert_eq!(
                facts.sembako,
                Some(answers[SEMBAKO].as_str().unwrap() == "1")
            );
        }
        assert!(earth > 0, "the sample has earth floors");
    }

    /// The stored format of version 1, as the registry wrote it: it must keep reading the same.
    #[test]
    fn reads_version_1() {
        let v1 = r#"{"kabkota":"64.01","kecamatan":"64.01.01","desa":null,"result":"2","members":3,"members_present":2,"earth_floor":true,"no_electricity":false,"no_pln_electricity":true,"no_own_toilet":null,"pkh":false,"sembako":true}"#;
        let facts: Facts = serde_json::from_str(v1).unwrap();
        assert_eq!(
            facts,
            Facts {
                kabkota: Some("64.01".into()),
                kecamatan: Some("64.01.01".into()),
                result: Some("2".into()),
                members: Some(3),
                members_present: Some(2),
                earth_floor: Some(true),
                no_electricity: Some(false),
                no_pln_electricity: Some(true),
                pkh: Some(false),
                sembako: Some(true),
                ..Facts::default()
            }
        );
        assert_eq!(serde_json::to_string(&facts).unwrap(), v1);
        assert_eq!(
            serde_json::from_str::<Facts>("{}").unwrap(),
            Facts::default()
        );
    }
}
