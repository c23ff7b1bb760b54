//! Property tests: the expression parser, the form compiler and the engine never panic, whatever they get.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use chrono::NaiveDate;
use pendata::form::catalog::Catalog;
use pendata::form::{Form, NoDataFiles, evaluate, expr};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn mini(calc: &str) -> Result<Form, Vec<pendata::form::FormProblem>> {
    let def = std::fs::read_to_string("tests/fixtures/mini.json").unwrap();
    let calc = serde_json::to_string(calc).unwrap();
    Form::from_json(&def.replace("\"CALC\"", &calc), &NoDataFiles)
}

/// Expressions built from the language's own pieces, so most of them parse and many type-check.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "${n}",
        "${x}",
        "${s}",
        "${d}",
        "${one}",
        "${many}",
        "${g}",
        "${rep}",
        "${v}",
        "${w}",
        "${r}",
        ".",
        "1",
        "0",
        "2.5",
        "-",
        "+",
        "*",
        " div ",
        " mod ",
        " and ",
        " or ",
        "=",
        "!=",
        "<",
        ">=",
        "(",
        ")",
        ",",
        "'1'",
        "''",
        "today()",
        "selected(",
        "count(",
        "sum(",
        "if(",
        "not(",
        "age(",
        "date(",
        "'2020-01-01'",
        "regex(",
        "'^[0-9]+$'",
        "string-length(",
        "substr(",
        "concat(",
        "round(",
        "int(",
        "coalesce(",
        "count-selected(",
        "min(",
        "max(",
        "parent",
        "$",
        "{",
        "'",
    ]);
    prop::collection::vec(tokens, 0..24).prop_map(|t| t.concat())
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9]{0,17}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "1",
            "2",
            "3",
            "01",
            "64.72",
            "64.72.01",
            "64.72.01.1001",
            ""
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    let names = Catalog::shared()
        .ok()
        .and_then(|c| c.latest("keluarga"))
        .map(|f| f.fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut names = names;
    names.extend(
        [
            "n",
            "x",
            "s",
            "d",
            "one",
            "many",
            "g",
            "rep",
            "v",
            "w",
            "lat",
            "lon",
            "accuracy_m",
        ]
        .map(String::from),
    );
    prop_oneof![prop::sample::select(names), "[a-z_]{1,6}"]
}

fn arb_answers() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(field_name(), arb_json(), 0..40)
        .prop_map(|m| m.into_iter().collect())
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics_on_any_text(src in ".{0,80}") {
        let _ = expr::parse(&src);
    }

    #[test]
    fn parser_errors_point_inside_the_text(src in token_soup()) {
        if let Err(e) = expr::parse(&src) {
            prop_assert!(e.pos <= src.len());
        }
    }

    #[test]
    fn compiled_expressions_evaluate_without_panic(src in token_soup(), answers in arb_answers()) {
        if let Ok(form) = mini(&src) {
            let ev = evaluate(&form, &answers, today());
            let _ = ev.report();
        }
    }

    #[test]
    fn household_form_never_panics_on_any_answers(answers in arb_answers()) {
        let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
        let ev = evaluate(form, &answers, today());
        let report = ev.report();
        // Whatever came in, the report is consistent with itself.
        prop_assert_eq!(report.errors + report.warnings, report.issues.len());
        prop_assert_eq!(report.ok, report.errors == 0);
    }
}
