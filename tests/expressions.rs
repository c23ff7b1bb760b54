//! The expression language through the engine: each row puts one expression into a calculated field of a
//! small form and checks the computed value, or checks the problem `form check` reports for it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use chrono::NaiveDate;
use pendata::form::{Form, NoDataFiles, evaluate};
use serde_json::{Value, json};

fn form_with(calc: &str) -> Result<Form, Vec<String>> {
    let def = std::fs::read_to_string("tests/fixtures/mini.json")
        .unwrap()
        .replace("CALC", &calc.replace('\\', "\\\\").replace('"', "\\\""));
    Form::from_json(&def, &NoDataFiles)
        .map_err(|ps| ps.into_iter().map(|p| p.to_string()).collect())
}

fn answers() -> serde_json::Map<String, Value> {
    json!({
        "n": 7, "x": 2.5, "s": "Samarinda", "d": "2026-01-31", "one": "1", "many": ["1", "2"],
        "g": {"lat": -0.5, "lon": 117.1},
        "rep": [{"v": 1, "w": "a"}, {"v": 2}, {"v": 39, "w": "c"}]
    })
    .as_object()
    .unwrap()
    .clone()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

fn eval(calc: &str) -> Value {
    let form = form_with(calc).unwrap_or_else(|p| panic!("`{calc}` did not compile: {p:?}"));
    let ev = evaluate(&form, &answers(), today());
    ev.computed().get("r").cloned().unwrap_or(Value::Null)
}

#[test]
fn values_of_expressions() {
    let cases: &[(&str, Value)] = &[
        ("1 + 2 * 3", json!(7)),
        ("(1 + 2) * 3", json!(9)),
        ("10 div 4", json!(2.5)),
        ("10 mod 4", json!(2)),
        ("-${n} + 1", json!(-6)),
        ("${n} * ${x}", json!(17.5)),
        ("${n} > 5 and ${x} < 3", json!(true)),
        ("${n} = 7 or 1 div 0 = 1", json!(true)),
        ("not(${n} = 7)", json!(false)),
        ("${one} = 1", json!(true)),
        ("${one} = '1'", json!(true)),
        ("${one} != '2'", json!(true)),
        ("selected(${many}, '2')", json!(true)),
        ("selected(${one}, '2')", json!(false)),
        ("count-selected(${many})", json!(2)),
        ("count(${rep})", json!(3)),
        ("count(${v})", json!(3)),
        ("sum(${v})", json!(42)),
        ("min(${v})", json!(1)),
        ("max(${v})", json!(39)),
        ("string-length(${s})", json!(9)),
        ("regex(${s}, '^Sam')", json!(true)),
        ("regex(${s}, '^[0-9]+$')", json!(false)),
        ("if(${n} > 10, 'big', 'small')", json!("small")),
        ("concat(${s}, '-', ${n})", json!("Samarinda-7")),
        ("substr(${s}, 0, 3)", json!("Sam")),
        ("starts-with(${s}, 'Sama')", json!(true)),
        ("contains(${s}, 'rin')", json!(true)),
        ("coalesce('', 'x')", json!("x")),
        ("coalesce(${s}, 'x')", json!("Samarinda")),
        ("int(${x})", json!(2)),
        ("round(2.567, 2)", json!(2.57)),
        ("number('12') + 1", json!(13)),
        ("string(${n})", json!("7")),
        ("${d} + 1", json!("2026-02-01")),
        ("${d} - 31", json!("2025-12-31")),
        ("today() - ${d}", json!(301)),
        ("today() > ${d}", json!(true)),
        ("${d} = '2026-01-31'", json!(true)),
        ("date('2026-11-28') = today()", json!(true)),
        ("age(date('2000-11-29'), today())", json!(25)),
        ("age(date('2000-11-28'), today())", json!(26)),
        ("age(today(), date('2000-01-01'))", Value::Null),
        ("${g} != ''", json!(true)),
        ("true() and not(false())", json!(true)),
        ("'' = ''", json!(true)),
        ("${x} > ''", json!(false)),
        ("1 div 0 = 1", json!(false)),
    ];
    for (src, expected) in cases {
        assert_eq!(&eval(src), expected, "{src}");
    }
}

#[test]
fn empty_answers_make_empty_results_not_crashes() {
    let form = form_with("${n} + ${x}").unwrap();
    let ev = evaluate(&form, &serde_json::Map::new(), today());
    assert_eq!(ev.computed().get("r"), Some(&Value::Null));
    let form = form_with("sum(${v})").unwrap();
    let ev = evaluate(&form, &serde_json::Map::new(), today());
    assert_eq!(ev.computed().get("r"), Some(&json!(0)));
}

#[test]
fn type_and_reference_errors_are_reported_with_position() {
    let cases = [
        ("${nope} + 1", "unknown field ${nope}"),
        ("${s} + 1", "arithmetic needs numbers or dates"),
        ("${many} = '1'", "use selected()"),
        ("selected(${s}, '1')", "must be a select field"),
        ("count-selected(${one})", "must be a select_multiple field"),
        (
            "${v} + 1",
            "inside a repeat; use count(), sum(), min() or max()",
        ),
        ("count(${n})", "count() needs a repeat"),
        ("sum(${w})", "sum() needs a numeric field inside a repeat"),
        ("regex(${s}, '(')", "bad regular expression"),
        ("regex(${s}, ${s})", "must be a text literal"),
        ("date('2026-02-30')", "is not a date"),
        (". + 1", "only allowed in constraints"),
        ("parent = 1", "unknown name `parent`"),
        ("${g} > 1", "cannot be ordered"),
        ("${d} + ${d}", "two dates cannot be added"),
        ("1 +", "(column 4): expression ends too early"),
        ("${rep}", "use count()"),
    ];
    for (src, expected) in cases {
        let problems = form_with(src)
            .err()
            .unwrap_or_else(|| panic!("`{src}` compiled"));
        assert!(
            problems
                .iter()
                .any(|p| p.contains(expected) && p.contains("field r.calculation")),
            "`{src}`: expected `{expected}` in {problems:?}"
        );
    }
}

#[test]
fn calculation_cycles_are_reported() {
    let def = json!({
        "id": "t", "version": 2026112801, "title": {"id": "a", "en": "a"},
        "pages": [{"name": "p", "label": {"id": "a", "en": "a"}, "fields": [
            {"name": "a", "kind": "calculated", "label": {"id": "a", "en": "a"}, "calculation": "${b} + 1"},
            {"name": "b", "kind": "calculated", "label": {"id": "b", "en": "b"}, "calculation": "${a} + 1"}
        ]}]
    });
    let problems = Form::from_json(&def.to_string(), &NoDataFiles).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("cycle among: a, b")),
        "{problems:?}"
    );
}

#[test]
fn unknown_keys_in_a_form_file_are_refused() {
    let text = std::fs::read_to_string("tests/fixtures/mini.json")
        .unwrap()
        .replace("CALC", "1");
    let mut def: Value = serde_json::from_str(&text).unwrap();
    def["choice_lists"]["yn"]["sorted"] = json!(true);
    assert!(
        Form::from_json(&def.to_string(), &NoDataFiles).is_err(),
        "extra key in a choice list"
    );
    let mut def: Value = serde_json::from_str(&text).unwrap();
    def["pages"][0]["fields"][0]["requird"] = json!(true);
    let problems = Form::from_json(&def.to_string(), &NoDataFiles).unwrap_err();
    assert!(
        problems[0].message.contains("unknown field `requird`"),
        "{problems:?}"
    );
}
