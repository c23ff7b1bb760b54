//! The form engine's expression language: any text parsed; a parsed expression is also put into a
//! calculated field of the small test form (`tests/fixtures/mini.json`), type-checked by the compiler
//! and evaluated over answers of every kind (numbers, text, a date, choices, GPS, a repeat).
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use pendata::form::{Form, NoDataFiles, evaluate, expr};

const MINI: &str = include_str!("../../fixtures/mini.json");

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = expr::parse(src) else {
        return;
    };
    let _ = parsed.to_string();
    let Ok(calc) = serde_json::to_string(src) else {
        return;
    };
    let def = MINI.replace("\"CALC\"", &calc);
    let Ok(form) = Form::from_json(&def, &NoDataFiles) else {
        return;
    };
    let answers = serde_json::json!({
        "n": 7, "x": 2.5, "s": "Samarinda", "d": "2026-01-31", "one": "1", "many": ["1", "2"],
        "g": {"lat": -0.5, "lon": 117.1},
        "rep": [{"v": 1, "w": "a"}, {"v": 2}, {"v": 39, "w": "c"}]
    });
    let Some(answers) = answers.as_object() else {
        return;
    };
    let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap_or_default();
    let ev = evaluate(&form, answers, today);
    let _ = ev.computed();
    let _ = evaluate(&form, &serde_json::Map::new(), today).computed();
});
