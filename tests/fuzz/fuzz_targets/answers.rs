//! A family's answers as JSON, validated against the compiled household form (`keluarga`, the latest
//! version) as `pendata validate`, the tablet's finalize and the registry's import do: the engine's
//! evaluation, its report and computed values, then what the registry reads of the answers (the
//! report's facts).
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use pendata::form::catalog::Catalog;
use pendata::form::evaluate;
use pendata::registry::facts;

fuzz_target!(|data: &[u8]| {
    let Ok(catalog) = Catalog::shared() else {
        return;
    };
    let Some(form) = catalog.latest("keluarga") else {
        return;
    };
    let Ok(serde_json::Value::Object(answers)) = serde_json::from_slice(data) else {
        return;
    };
    let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap_or_default();
    let ev = evaluate(form, &answers, today);
    let report = ev.report();
    assert_eq!(report.errors == 0, !ev.has_errors());
    let _ = ev.computed();
    let _ = ev.visible_paths();
    let _ = facts::extract(form, &answers);
});
