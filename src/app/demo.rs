//! Realistic synthetic families for demos and benchmarks: spread over Kaltim's desa, with valid NIKs and
//! KK numbers, plausible members and housing. Deterministic for a seed. Families are built from the form
//! itself (its choice lists and relevance), so a form change does not break the generator.

use chrono::{Datelike, Duration, NaiveDate};
use serde_json::{Value, json};

use super::{AppError, Device, Result, now};
use crate::form::compile::Container;
use crate::form::{FieldKind, Form, evaluate};
use crate::model::household::{self as hh, member};
use crate::store::{Answers, NewRecord};

/// A small deterministic generator (SplitMix64): the same seed gives the same families everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        items.get((self.next_u64() % items.len() as u64) as usize)
    }
}

const MALE: &[&str] = &[
    "Budi",
    "Agus",
    "Slamet",
    "Joko",
    "Ahmad",
    "Rudi",
    "Hendra",
    "Yusuf",
    "Andi",
    "Rahmat",
    "Syahrani",
    "Irwan",
    "Bambang",
    "Dedi",
    "Fajar",
    "Hasan",
    "Ilham",
    "Kurniawan",
    "Muhammad",
    "Arif",
];
const FEMALE: &[&str] = &[
    "Siti",
    "Sri",
    "Dewi",
    "Nur",
    "Rina",
    "Wati",
    "Aminah",
    "Fitri",
    "Yuliana",
    "Ratna",
    "Hasnah",
    "Mariam",
    "Lestari",
    "Indah",
    "Putri",
    "Aisyah",
    "Rahmawati",
    "Sulastri",
    "Erna",
    "Juliani",
];
const FAMILY: &[&str] = &[
    "Santoso",
    "Wijaya",
    "Saputra",
    "Hidayat",
    "Nugroho",
    "Rahman",
    "Syahputra",
    "Lestari",
    "Pratama",
    "Kusuma",
    "Daeng",
    "Ladjang",
    "Ibrahim",
    "Hamzah",
    "Setiawan",
    "Gunawan",
    "Siregar",
    "Simanjuntak",
    "Pakpahan",
    "Lahang",
];
const STREETS: &[&str] = &[
    "Jl. Pahlawan",
    "Jl. Merdeka",
    "Jl. Sungai Mahakam",
    "Jl. Kesuma Bangsa",
    "Jl. Cendana",
    "Gg. Mawar",
    "Jl. Poros Desa",
    "Jl. Pattimura",
    "Jl. Ahmad Yani",
    "Jl. Flamboyan",
];

/// Parameters of one generated family.
pub struct FamilySpec {
    pub interview: NaiveDate,
}

fn nik_date(d: NaiveDate, female: bool) -> String {
    let day = d.day() + if female { 40 } else { 0 };
    format!("{day:02}{:02}{:02}", d.month(), d.year().rem_euclid(100))
}

fn digits(code: &str) -> String {
    code.chars().filter(char::is_ascii_digit).collect()
}

/// A random answer for a field from its kind and choices (overridden where realism needs it).
/// Answer shares of a family in Kalimantan Timur, per field: (code, weight in per mille). Approximate,
/// rounded figures after BPS's published Susenas tables for the province (housing, drinking water,
/// lighting, sanitation, cooking fuel) and the social-assistance programmes' reach; where they come from
/// and how they were rounded: `docs/demo-data.md`. A field not listed is answered evenly over its codes.
pub const SHARES: &[(&str, &[(&str, u32)])] = &[
    (
        hh::BUILDING_STATUS,
        &[("1", 760), ("2", 140), ("3", 80), ("4", 15), ("5", 5)],
    ),
    (
        hh::FLOOR,
        &[
            ("1", 10),
            ("2", 450),
            ("3", 30),
            ("4", 30),
            ("5", 300),
            ("6", 160),
            ("7", 8),
            ("8", 7),
            ("9", 5),
        ],
    ),
    (
        hh::WALL,
        &[
            ("1", 560),
            ("2", 10),
            ("3", 410),
            ("4", 5),
            ("5", 5),
            ("6", 5),
            ("7", 5),
        ],
    ),
    (
        hh::ROOF,
        &[
            ("1", 20),
            ("2", 90),
            ("3", 680),
            ("4", 90),
            ("5", 80),
            ("6", 5),
            ("7", 30),
            ("8", 5),
        ],
    ),
    (
        hh::WATER,
        &[
            ("1", 80),
            ("2", 450),
            ("3", 250),
            ("4", 80),
            ("5", 40),
            ("6", 15),
            ("7", 10),
            ("8", 5),
            ("9", 30),
            ("10", 35),
            ("11", 5),
        ],
    ),
    (hh::LIGHTING, &[("1", 910), ("2", 50), ("3", 30), ("4", 10)]),
    (
        hh::POWER,
        &[("1", 250), ("2", 450), ("3", 200), ("4", 70), ("5", 30)],
    ),
    (
        hh::COOKING_FUEL,
        &[
            ("1", 10),
            ("2", 30),
            ("3", 50),
            ("4", 840),
            ("5", 2),
            ("6", 1),
            ("7", 5),
            ("8", 1),
            ("9", 1),
            ("10", 40),
            ("11", 0),
            ("12", 20),
        ],
    ),
    (
        hh::TOILET,
        &[
            ("1", 860),
            ("2", 70),
            ("3", 20),
            ("4", 10),
            ("5", 10),
            ("6", 30),
        ],
    ),
    (
        hh::TOILET_TYPE,
        &[("1", 900), ("2", 50), ("3", 20), ("4", 30)],
    ),
    (
        hh::SEWAGE,
        &[
            ("1", 750),
            ("2", 20),
            ("3", 120),
            ("4", 80),
            ("5", 10),
            ("6", 20),
        ],
    ),
    (hh::PKH, &[("1", 150), ("2", 850)]),
    (hh::SEMBAKO, &[("1", 250), ("2", 750)]),
    (
        hh::INTERNET,
        &[("0", 100), ("1", 30), ("2", 120), ("3", 750)],
    ),
    (
        hh::BANK_ACCOUNT,
        &[("1", 30), ("2", 380), ("3", 40), ("4", 550)],
    ),
];

/// A code drawn by its weight.
fn weighted<'a>(rng: &mut Rng, shares: &[(&'a str, u32)]) -> Option<&'a str> {
    let total: u32 = shares.iter().map(|(_, w)| w).sum();
    let mut at = rng.range(0, i64::from(total.max(1)) - 1);
    for (code, w) in shares {
        at -= i64::from(*w);
        if at < 0 {
            return Some(code);
        }
    }
    shares.last().map(|(c, _)| *c)
}

fn generic(form: &Form, name: &str, rng: &mut Rng, interview: NaiveDate) -> Option<Value> {
    let f = form.field(name)?;
    if let Some((_, shares)) = SHARES.iter().find(|(field, _)| *field == name) {
        return Some(json!(weighted(rng, shares)?));
    }
    // The other programmes (BLT Desa, electricity and fertiliser subsidies, …) reach few families.
    if name.starts_with("terima_") && f.kind == FieldKind::SelectOne {
        return Some(json!(if rng.chance(8) { "1" } else { "2" }));
    }
    let codes: Vec<&str> = form
        .choices_of(f)
        .map(|l| l.choices.iter().map(|c| c.value.as_str()).collect())
        .unwrap_or_default();
    Some(match f.kind {
        FieldKind::SelectOne => json!(rng.pick(&codes)?),
        FieldKind::SelectMultiple => {
            let usable: Vec<&str> = codes.iter().copied().filter(|c| *c != "0").collect();
            json!([rng.pick(&usable)?])
        }
        FieldKind::Integer => json!(if rng.chance(70) { 0 } else { rng.range(1, 2) }),
        FieldKind::Decimal => json!(rng.range(18, 120)),
        FieldKind::Date => json!(interview.format("%Y-%m-%d").to_string()),
        FieldKind::Phone => json!(format!("08{}", rng.range(1_000_000_000, 9_999_999_999))),
        FieldKind::Text if name.ends_with("_bulan") => {
            let back = interview - Duration::days(rng.range(20, 300));
            json!(format!("{:02}/{}", back.month(), back.year()))
        }
        FieldKind::Text => return None,
        _ => return None,
    })
}

struct Person {
    name: String,
    female: bool,
    born: NaiveDate,
    hubungan: &'static str,
    kawin: &'static str,
}

/// Builds one family that passes every error rule of `form` (the household form).
pub fn family(form: &Form, rng: &mut Rng, spec: &FamilySpec) -> Answers {
    family_in(form, rng, spec, None)
}

/// The desa of the form's list inside `wilayah` (a province `64`, kabupaten/kota `64.72`, kecamatan
/// `64.72.01` or desa code; all of them without one).
pub fn desa_in(form: &Form, wilayah: Option<&str>) -> Vec<String> {
    form.field(hh::DESA)
        .and_then(|f| form.choices_of(f))
        .map(|l| {
            l.choices
                .iter()
                .map(|c| c.value.clone())
                .filter(|code| {
                    wilayah.is_none_or(|w| code == w || code.starts_with(&format!("{w}.")))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// [`family`], living in a desa of `wilayah` (see [`desa_in`]). With no desa of the list inside the
/// region the family lives in 64.72.01.1001, so callers check [`desa_in`] first.
pub fn family_in(form: &Form, rng: &mut Rng, spec: &FamilySpec, wilayah: Option<&str>) -> Answers {
    let interview = spec.interview;
    let desa_list = desa_in(form, wilayah);
    let desa = rng
        .pick(&desa_list)
        .cloned()
        .unwrap_or_else(|| "64.72.01.1001".into());
    let surname = *rng.pick(FAMILY).unwrap_or(&"Santoso");
    let people = people(rng, interview, surname);
    let kec = desa.get(..8).unwrap_or("64.72.01");
    let region = digits(kec);
    let mut serials = std::collections::BTreeSet::new();
    let members: Vec<Value> = people
        .iter()
        .map(|p| member_answers(form, rng, p, &region, &mut serials, interview))
        .collect();
    let mut a = cover(rng, interview, &desa, &people, members.len());
    for f in form.fields.iter().filter(|f| f.container == Container::Top) {
        if a.contains_key(&f.name) || !f.kind.is_answered() {
            continue;
        }
        if let Some(v) = generic(form, &f.name, rng, interview) {
            a.insert(f.name.clone(), v);
        }
    }
    a.insert(hh::MEMBERS.into(), Value::Array(members));
    prune(form, &mut a, interview);
    a
}

/// The members of a family: its head, often a spouse, children, sometimes a parent.
fn people(rng: &mut Rng, interview: NaiveDate, surname: &str) -> Vec<Person> {
    let year = |rng: &mut Rng, lo: i64, hi: i64| {
        let age_days = rng.range(lo * 365 + 30, hi * 365 + 300);
        interview - Duration::days(age_days)
    };
    let mut people = Vec::new();
    let head_female = rng.chance(15);
    let head_born = year(rng, 22, 75);
    let first = |rng: &mut Rng, female: bool| {
        (*rng
            .pick(if female { FEMALE } else { MALE })
            .unwrap_or(&"Budi"))
        .to_string()
    };
    people.push(Person {
        name: format!("{} {surname}", first(rng, head_female)),
        female: head_female,
        born: head_born,
        hubungan: hh::HEAD_OF_FAMILY,
        kawin: if head_female { "4" } else { "2" },
    });
    if !head_female && rng.chance(85) {
        people.push(Person {
            name: format!(
                "{} {}",
                first(rng, true),
                rng.pick(FAMILY).unwrap_or(&"Lestari")
            ),
            female: true,
            born: year(
                rng,
                20,
                (interview.year() - head_born.year()).max(21) as i64,
            ),
            hubungan: "2",
            kawin: "2",
        });
    }
    let head_age = (interview.year() - head_born.year()) as i64;
    let children = if head_age > 20 { rng.range(0, 5) } else { 0 };
    for _ in 0..children {
        let female = rng.chance(50);
        people.push(Person {
            name: format!("{} {surname}", first(rng, female)),
            female,
            born: year(rng, 0, (head_age - 18).clamp(0, 30)),
            hubungan: "3",
            kawin: "1",
        });
    }
    if rng.chance(10) {
        let female = rng.chance(60);
        people.push(Person {
            name: format!(
                "{} {}",
                first(rng, female),
                rng.pick(FAMILY).unwrap_or(&"Ibrahim")
            ),
            female,
            born: year(rng, head_age.max(40) + 18, head_age.max(40) + 30),
            hubungan: "6",
            kawin: "4",
        });
    }
    people
}

/// One member's answers: identity from `p` (a NIK of the family's kecamatan `region`, with a serial not
/// used in the family yet), plausible health and work, and the rest of the roster's fields at random.
fn member_answers(
    form: &Form,
    rng: &mut Rng,
    p: &Person,
    region: &str,
    serials: &mut std::collections::BTreeSet<i64>,
    interview: NaiveDate,
) -> Value {
    let mut serial = rng.range(1, 9999);
    while !serials.insert(serial) {
        serial = rng.range(1, 9999);
    }
    let mut m = Answers::new();
    m.insert(member::NAME.into(), json!(p.name));
    m.insert(
        member::NIK.into(),
        json!(format!("{region}{}{serial:04}", nik_date(p.born, p.female))),
    );
    m.insert(member::PRESENCE.into(), json!("1"));
    m.insert(member::SEX.into(), json!(if p.female { "2" } else { "1" }));
    m.insert(
        member::BIRTH_DATE.into(),
        json!(p.born.format("%Y-%m-%d").to_string()),
    );
    m.insert(member::MARITAL_STATUS.into(), json!(p.kawin));
    m.insert(member::RELATION.into(), json!(p.hubungan));
    let age = interview.years_since(p.born).unwrap_or(0);
    m.insert(
        member::SCHOOL.into(),
        json!(if (7..=18).contains(&age) { "2" } else { "3" }),
    );
    m.insert(member::WORK_HOURS.into(), json!(rng.range(14, 60)));
    m.insert(
        member::CHRONIC_ILLNESS.into(),
        json!(if rng.chance(85) { "01" } else { "02" }),
    );
    m.insert(
        member::NUTRITION.into(),
        json!(if rng.chance(85) { "3" } else { "2" }),
    );
    for (k, f) in form
        .fields
        .iter()
        .filter(|f| matches!(f.container, Container::Repeat(_)))
        .map(|f| (f.name.clone(), f))
    {
        if m.contains_key(&k) || !f.kind.is_answered() {
            continue;
        }
        // Difficulty questions (`sulit_…`): mostly "no difficulty", as in the population.
        let v = if k.starts_with("sulit_") {
            Some(json!(if rng.chance(95) { "4" } else { "3" }))
        } else {
            generic(form, &k, rng, interview)
        };
        if let Some(v) = v {
            m.insert(k, v);
        }
    }
    Value::Object(m)
}

/// The family's cover: region, address, KK, the interview and its result, location and floor area.
fn cover(
    rng: &mut Rng,
    interview: NaiveDate,
    desa: &str,
    people: &[Person],
    members: usize,
) -> Answers {
    let kec = desa.get(..8).unwrap_or("64.72.01");
    let kab = desa.get(..5).unwrap_or("64.72");
    let region = digits(kec);
    let issued = interview - Duration::days(rng.range(200, 6000));
    let head = people.first().map(|p| p.name.clone()).unwrap_or_default();
    let mut a = Answers::new();
    a.insert(hh::KABKOTA.into(), json!(kab));
    a.insert(hh::KECAMATAN.into(), json!(kec));
    a.insert(hh::DESA.into(), json!(desa));
    a.insert(hh::RT.into(), json!(format!("{:03}", rng.range(1, 30))));
    a.insert(hh::RW.into(), json!(format!("{:03}", rng.range(1, 12))));
    a.insert(
        hh::ADDRESS.into(),
        json!(format!(
            "{} No. {}",
            rng.pick(STREETS).unwrap_or(&"Jl. Merdeka"),
            rng.range(1, 150)
        )),
    );
    a.insert(hh::HEAD_NAME.into(), json!(head));
    a.insert(
        hh::NO_KK.into(),
        json!(format!(
            "{region}{}{:04}",
            nik_date(issued, false),
            rng.range(1, 9999)
        )),
    );
    a.insert(hh::MEMBER_COUNT.into(), json!(members));
    a.insert(hh::KK_CODE.into(), json!("0"));
    a.insert(
        hh::INTERVIEW_DATE.into(),
        json!(interview.format("%Y-%m-%d").to_string()),
    );
    a.insert(hh::PETUGAS_NAME.into(), json!("Petugas Demo"));
    a.insert(hh::RESULT.into(), json!("1"));
    a.insert(hh::CONSENT.into(), json!("1"));
    a.insert(hh::RESPONDENT_NAME.into(), json!(head));
    let lat = -0.5 + (rng.range(-150, 150) as f64) / 100.0;
    let lon = 116.5 + (rng.range(-150, 150) as f64) / 100.0;
    a.insert(
        hh::LOCATION.into(),
        json!({"lat": lat, "lon": lon, "accuracy_m": rng.range(3, 25)}),
    );
    a.insert(hh::FLOOR_AREA.into(), json!(rng.range(18, 120)));
    a
}

/// Drops answers the form does not ask for these answers (as a petugas would never see them).
fn prune(form: &Form, answers: &mut Answers, today: NaiveDate) {
    let visible: std::collections::BTreeSet<String> = evaluate(form, answers, today)
        .visible_paths()
        .into_iter()
        .collect();
    answers.retain(|k, _| visible.contains(k));
    if let Some(Value::Array(members)) = answers.get_mut(hh::MEMBERS) {
        for (i, m) in members.iter_mut().enumerate() {
            if let Some(o) = m.as_object_mut() {
                o.retain(|k, _| visible.contains(&format!("anggota[{i}].{k}")));
            }
        }
    }
}

/// What [`fill`] made.
pub struct Made {
    pub total: usize,
    pub drafts: usize,
}

impl Device {
    /// The `demo` use case: on a demo tablet only ([`Device::init_demo`]; refused with
    /// [`AppError::NotDemo`] elsewhere, so synthetic families never mix with real ones), adds the
    /// petugas when missing (PIN 123456) and [`fill`]s. Without a seed, the tablet's own: from its device
    /// id and its change sequence so far, so two tablets (or two runs) never make the same families.
    pub fn demo(
        &self,
        petugas: &str,
        families: usize,
        seed: Option<u64>,
        drafts_percent: u8,
        wilayah: Option<&str>,
    ) -> Result<Made> {
        let info = self.store.device()?;
        if !info.demo {
            return Err(AppError::NotDemo);
        }
        match self.find_petugas(petugas) {
            Ok(_) => {}
            Err(AppError::Store(crate::store::StoreError::UnknownPetugas(_))) => {
                self.add_petugas(petugas, "Petugas Demo", "123456")?;
            }
            Err(e) => return Err(e),
        }
        let seed = match seed {
            Some(s) => s,
            None => {
                let id = info.id.as_u128();
                let changes = self.store.last_seq()?;
                (id as u64) ^ ((id >> 64) as u64) ^ changes.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            }
        };
        fill_in(self, petugas, families, seed, drafts_percent, wilayah)
    }
}

/// Creates `families` synthetic families in the device store, `drafts_percent` of them left as drafts
/// and the rest finalized (after the form engine found no errors), in batches of durable transactions.
pub fn fill(
    device: &Device,
    petugas: &str,
    families: usize,
    seed: u64,
    drafts_percent: u8,
) -> Result<Made> {
    fill_in(device, petugas, families, seed, drafts_percent, None)
}

/// [`fill`], the families living in `wilayah` (see [`desa_in`]): refused with
/// [`AppError::UnknownWilayah`] when no desa of the form's list is inside it.
pub fn fill_in(
    device: &Device,
    petugas: &str,
    families: usize,
    seed: u64,
    drafts_percent: u8,
    wilayah: Option<&str>,
) -> Result<Made> {
    let form = device
        .catalog()
        .latest(hh::FORM_ID)
        .ok_or_else(|| AppError::UnknownForm(hh::FORM_ID.into()))?;
    if desa_in(form, wilayah).is_empty() {
        return Err(AppError::UnknownWilayah(wilayah.unwrap_or_default().into()));
    }
    let today = now().date_naive();
    let mut rng = Rng::new(seed);
    let mut made = Made {
        total: 0,
        drafts: 0,
    };
    let mut batch = Vec::new();
    for n in 0..families {
        let interview = today - Duration::days(rng.range(0, 60));
        let answers = family_in(form, &mut rng, &FamilySpec { interview }, wilayah);
        let draft = rng.chance(u64::from(drafts_percent));
        let ev = evaluate(form, &answers, today);
        if ev.has_errors() {
            let first = ev
                .errors()
                .next()
                .map(|i| format!("{} {}", i.path, i.code))
                .unwrap_or_default();
            return Err(AppError::Forms(format!(
                "demo family {n} does not pass the form: {first}"
            )));
        }
        let acknowledged = ev
            .warnings()
            .map(|w| format!("{} {}", w.path, w.code))
            .collect();
        made.drafts += usize::from(draft);
        batch.push(NewRecord {
            form_id: form.id.clone(),
            form_version: form.version,
            answers,
            finalize: !draft,
            acknowledged,
        });
        if batch.len() == 500 || n + 1 == families {
            made.total += batch.len();
            device
                .store
                .create_batch(std::mem::take(&mut batch), petugas, now())?;
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::catalog::Catalog;

    #[test]
    fn the_shares_name_real_codes_and_the_families_follow_them() {
        let form = Catalog::shared().unwrap().latest(hh::FORM_ID).unwrap();
        for (field, shares) in SHARES {
            let f = form.field(field).unwrap();
            let codes: Vec<&str> = form
                .choices_of(f)
                .unwrap()
                .choices
                .iter()
                .map(|c| c.value.as_str())
                .collect();
            for (code, _) in *shares {
                assert!(codes.contains(code), "{field}: no code {code}");
            }
            let total: u32 = shares.iter().map(|(_, w)| w).sum();
            assert_eq!(total, 1000, "{field}: per mille");
        }
        let spec = FamilySpec {
            interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        };
        let mut rng = Rng::new(11);
        let n = 2000;
        let share = |fams: &[Answers], field: &str, pred: &dyn Fn(&str) -> bool| {
            let hits = fams
                .iter()
                .filter(|a| a.get(field).and_then(|v| v.as_str()).is_some_and(pred))
                .count();
            hits as f64 / fams.len() as f64
        };
        let fams: Vec<Answers> = (0..n).map(|_| family(form, &mut rng, &spec)).collect();
        // What a report shows for these families: near the province's published figures, not the even
        // spread over codes (83 % without their own toilet, 25 % without electricity) of before.
        let no_own_toilet = share(&fams, hh::TOILET, &|c| c != "1");
        assert!((0.08..0.20).contains(&no_own_toilet), "{no_own_toilet}");
        let no_electricity = share(&fams, hh::LIGHTING, &|c| c == "4");
        assert!(no_electricity < 0.03, "{no_electricity}");
        let earth_floor = share(&fams, hh::FLOOR, &|c| c == "8");
        assert!(earth_floor < 0.03, "{earth_floor}");
        let pkh = share(&fams, hh::PKH, &|c| c == "1");
        assert!((0.10..0.20).contains(&pkh), "{pkh}");
    }

    #[test]
    fn generated_families_pass_every_rule_and_are_deterministic() {
        let form = Catalog::shared().unwrap().latest(hh::FORM_ID).unwrap();
        let spec = FamilySpec {
            interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        };
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let mut rng = Rng::new(7);
        let mut desa = std::collections::BTreeSet::new();
        for n in 0..300 {
            let fam = family(form, &mut rng, &spec);
            let ev = evaluate(form, &fam, today);
            let errors: Vec<String> = ev
                .errors()
                .map(|i| format!("{} {} {}", i.path, i.code, i.message.en))
                .collect();
            assert!(
                errors.is_empty(),
                "family {n}: {errors:?}\n{}",
                serde_json::to_string_pretty(&fam).unwrap()
            );
            desa.insert(fam[hh::DESA].as_str().unwrap().to_string());
        }
        assert!(
            desa.len() > 150,
            "families spread over many desa: {}",
            desa.len()
        );
        let a = family(form, &mut Rng::new(42), &spec);
        let b = family(form, &mut Rng::new(42), &spec);
        assert_eq!(a, b);
    }
}
