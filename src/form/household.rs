//! The household form's contract with the code: every well-known field of [`crate::model::household`]
//! with the kind and place the program expects. A form whose id is the household form's is refused when
//! it breaks the contract ([`problems`] runs in [`Form::compile`]), so a field renamed in
//! `schemas/keluarga.json` fails the build's tests and `pendata form check` with the field's name instead
//! of leaving the family list and search empty.

use super::compile::{Container, Form, FormProblem};
use super::schema::FieldKind;
use crate::model::household::{self as hh, member};

/// Where a well-known field lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// At the top level of the answers.
    Top,
    /// In each instance of the [`hh::MEMBERS`] roster.
    Member,
}

/// A field the program reads or fills by name.
#[derive(Debug, Clone, Copy)]
pub struct WellKnown {
    pub name: &'static str,
    pub place: Place,
    pub kind: FieldKind,
}

const fn top(name: &'static str, kind: FieldKind) -> WellKnown {
    WellKnown {
        name,
        place: Place::Top,
        kind,
    }
}

const fn in_member(name: &'static str, kind: FieldKind) -> WellKnown {
    WellKnown {
        name,
        place: Place::Member,
        kind,
    }
}

/// Every well-known field of the household form, with its expected kind and place.
pub const WELL_KNOWN: &[WellKnown] = &[
    top(hh::KABKOTA, FieldKind::SelectOne),
    top(hh::KECAMATAN, FieldKind::SelectOne),
    top(hh::DESA, FieldKind::SelectOne),
    top(hh::RT, FieldKind::Text),
    top(hh::RW, FieldKind::Text),
    top(hh::ADDRESS, FieldKind::Text),
    top(hh::HEAD_NAME, FieldKind::Text),
    top(hh::NO_KK, FieldKind::Kk),
    top(hh::KK_CODE, FieldKind::SelectOne),
    top(hh::MEMBER_COUNT, FieldKind::Integer),
    top(hh::LOCATION, FieldKind::Gps),
    top(hh::INTERVIEW_DATE, FieldKind::Date),
    top(hh::PETUGAS_NAME, FieldKind::Text),
    top(hh::RESULT, FieldKind::SelectOne),
    top(hh::RESPONDENT_NAME, FieldKind::Text),
    top(hh::CONSENT, FieldKind::SelectOne),
    top(hh::FLOOR_AREA, FieldKind::Decimal),
    top(hh::FLOOR, FieldKind::SelectOne),
    top(hh::LIGHTING, FieldKind::SelectOne),
    top(hh::TOILET, FieldKind::SelectOne),
    top(hh::PKH, FieldKind::SelectOne),
    top(hh::SEMBAKO, FieldKind::SelectOne),
    top(hh::BUILDING_STATUS, FieldKind::SelectOne),
    top(hh::WALL, FieldKind::SelectOne),
    top(hh::ROOF, FieldKind::SelectOne),
    top(hh::WATER, FieldKind::SelectOne),
    top(hh::POWER, FieldKind::SelectOne),
    top(hh::COOKING_FUEL, FieldKind::SelectOne),
    top(hh::TOILET_TYPE, FieldKind::SelectOne),
    top(hh::SEWAGE, FieldKind::SelectOne),
    top(hh::INTERNET, FieldKind::SelectOne),
    top(hh::BANK_ACCOUNT, FieldKind::SelectOne),
    top(hh::MEMBERS, FieldKind::Repeat),
    in_member(member::NAME, FieldKind::Text),
    in_member(member::NIK, FieldKind::Nik),
    in_member(member::PRESENCE, FieldKind::SelectOne),
    in_member(member::SEX, FieldKind::SelectOne),
    in_member(member::BIRTH_DATE, FieldKind::Date),
    in_member(member::MARITAL_STATUS, FieldKind::SelectOne),
    in_member(member::RELATION, FieldKind::SelectOne),
    in_member(member::SCHOOL, FieldKind::SelectOne),
    in_member(member::WORK_HOURS, FieldKind::Integer),
    in_member(member::CHRONIC_ILLNESS, FieldKind::SelectOne),
    in_member(member::NUTRITION, FieldKind::SelectOne),
];

/// What `form` lacks of the household form's contract; nothing for any other form.
pub fn problems(form: &Form) -> Vec<FormProblem> {
    if form.id != hh::FORM_ID {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut problem = |name: &str, message: String| {
        out.push(FormProblem {
            location: format!("field {name}"),
            message: format!("the household form (`{}`) {message}", hh::FORM_ID),
        });
    };
    let roster = form.field(hh::MEMBERS).map(|f| f.id);
    for wk in WELL_KNOWN {
        let Some(field) = form.field(wk.name) else {
            problem(
                wk.name,
                format!(
                    "needs a {} field `{}`{}: the family list, search, reports and demo read it by name",
                    wk.kind.as_str(),
                    wk.name,
                    where_(wk.place)
                ),
            );
            continue;
        };
        if field.kind != wk.kind {
            problem(
                wk.name,
                format!(
                    "needs `{}` to be a {} field, not {}",
                    wk.name,
                    wk.kind.as_str(),
                    field.kind.as_str()
                ),
            );
        }
        let place_ok = match (wk.place, field.container) {
            (Place::Top, Container::Top) => true,
            (Place::Member, Container::Repeat(r)) => Some(r) == roster,
            _ => false,
        };
        if !place_ok {
            problem(wk.name, format!("needs `{}`{}", wk.name, where_(wk.place)));
        }
    }
    let head_listed = form
        .field(member::RELATION)
        .and_then(|f| form.choices_of(f))
        .is_some_and(|l| l.get(hh::HEAD_OF_FAMILY).is_some());
    if form.field(member::RELATION).is_some() && !head_listed {
        problem(
            member::RELATION,
            format!(
                "needs code `{}` (head of the family) in the choices of `{}`",
                hh::HEAD_OF_FAMILY,
                member::RELATION
            ),
        );
    }
    out
}

fn where_(place: Place) -> String {
    match place {
        Place::Top => " at the top level".to_string(),
        Place::Member => format!(" inside the `{}` repeat", hh::MEMBERS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::catalog::{Catalog, EmbeddedData};
    use serde_json::Value;

    fn shipped() -> Value {
        let (_, text) = Catalog::files()
            .find(|(file, _)| *file == "keluarga.json")
            .expect("keluarga.json is shipped");
        serde_json::from_str(text).unwrap()
    }

    fn compile(def: &Value) -> Result<Form, Vec<FormProblem>> {
        Form::from_json(&def.to_string(), &EmbeddedData)
    }

    /// Calls `edit` on the field definition named `name`, wherever it is in the form file.
    fn edit_field(def: &mut Value, name: &str, edit: impl FnOnce(&mut Value)) {
        fn find<'v>(fields: &'v mut [Value], name: &str) -> Option<&'v mut Value> {
            for f in fields.iter_mut() {
                if f["name"] == name {
                    return Some(f);
                }
                if let Some(children) = f.get_mut("fields").and_then(Value::as_array_mut)
                    && let Some(hit) = find(children, name)
                {
                    return Some(hit);
                }
            }
            None
        }
        let pages = def["pages"].as_array_mut().unwrap();
        let field = pages
            .iter_mut()
            .find_map(|p| find(p["fields"].as_array_mut().unwrap(), name))
            .unwrap_or_else(|| panic!("no field {name} in keluarga.json"));
        edit(field);
    }

    #[test]
    fn the_shipped_household_form_has_every_well_known_field() {
        let form = Catalog::shared().unwrap().latest(hh::FORM_ID).unwrap();
        assert_eq!(problems(form), Vec::new());
    }

    /// Renames field `from` to `to` as a form author would: its definition and every reference to it.
    fn rename(def: &mut Value, from: &str, to: &str) {
        const LINKS: &[&str] = &["sex_field", "birth_date_field", "region_field", "field"];
        match def {
            Value::Object(map) => {
                let is_field = map.contains_key("kind");
                for (key, value) in map.iter_mut() {
                    let names_it = (key == "name" && is_field) || LINKS.contains(&key.as_str());
                    if names_it && value == from {
                        *value = to.into();
                    } else {
                        rename(value, from, to);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| rename(v, from, to)),
            Value::String(s) => *s = s.replace(&format!("${{{from}}}"), &format!("${{{to}}}")),
            _ => {}
        }
    }

    #[test]
    fn a_household_form_without_a_well_known_field_is_refused_by_name() {
        for wk in WELL_KNOWN {
            let mut def = shipped();
            rename(&mut def, wk.name, &format!("{}_baru", wk.name));
            let problems = compile(&def).expect_err(wk.name);
            assert!(
                problems
                    .iter()
                    .any(|p| p.location == format!("field {}", wk.name)
                        && p.message.contains("household form")
                        && p.message.contains(&format!("`{}`", wk.name))),
                "{}: {problems:?}",
                wk.name
            );
            assert!(
                problems
                    .iter()
                    .all(|p| p.message.contains("household form")),
                "{}: only the contract is broken: {problems:?}",
                wk.name
            );
        }
    }

    #[test]
    fn a_well_known_field_of_another_kind_is_refused() {
        let mut def = shipped();
        edit_field(&mut def, hh::ADDRESS, |f| f["kind"] = "date".into());
        let problems = compile(&def).unwrap_err();
        assert!(
            problems.iter().any(|p| p
                .to_string()
                .contains("`alamat` to be a text field, not date")),
            "{problems:?}"
        );
    }

    #[test]
    fn the_head_of_the_family_code_is_held_to_its_label() {
        let form = Catalog::shared().unwrap().latest(hh::FORM_ID).unwrap();
        let relation = form.field(member::RELATION).unwrap();
        let head = form
            .choices_of(relation)
            .unwrap()
            .get(hh::HEAD_OF_FAMILY)
            .unwrap();
        assert_eq!(head.label.id, "Kepala keluarga");
    }

    #[test]
    fn other_forms_are_not_held_to_the_household_contract() {
        let mut def = shipped();
        def["id"] = "survei_lain".into();
        edit_field(&mut def, hh::ADDRESS, |f| f["kind"] = "date".into());
        assert!(compile(&def).is_ok());
    }
}
