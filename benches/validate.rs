//! Benchmark: validating a family with the household form, as the tablet does on every keystroke.
//! Families of 1, 10, 30 and 60 members are timed side by side in one run, so the ratios hold on a noisy
//! machine. Run: `cargo bench --bench validate`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pendata::form::catalog::Catalog;
use pendata::form::evaluate;
use serde_json::{Map, Value, json};

/// A valid family from the test fixture, grown to `members` members with distinct valid NIKs.
fn family(members: usize) -> Map<String, Value> {
    let text = std::fs::read_to_string("tests/fixtures/family_valid.json").unwrap();
    let mut family: Map<String, Value> = serde_json::from_str(&text).unwrap();
    let anggota = family["anggota"].as_array().unwrap().clone();
    let template = anggota[2].clone(); // the school-age child: every member question answered
    let mut list = anggota;
    let mut serial = 100;
    while list.len() < members {
        let mut m = template.clone();
        serial += 1;
        let day = 1 + (list.len() % 28);
        m["nama"] = json!(format!("Anak {}", list.len()));
        m["nik"] = json!(format!("647201{:02}0310{:04}", day, serial));
        m["tanggal_lahir"] = json!(format!("2010-03-{day:02}"));
        m["jenis_kelamin"] = json!("1");
        m["hubungan"] = json!("3");
        list.push(m);
    }
    list.truncate(members);
    family.insert("anggota".into(), Value::Array(list));
    if family.contains_key("jumlah_anggota") {
        family.insert("jumlah_anggota".into(), json!(members));
    }
    family
}

fn time_per_call(
    answers: &Map<String, Value>,
    today: NaiveDate,
    budget: Duration,
) -> (Duration, usize) {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < budget || samples.len() < 20 {
        let t = Instant::now();
        for _ in 0..10 {
            black_box(evaluate(form, black_box(answers), today));
        }
        samples.push(t.elapsed() / 10);
    }
    samples.sort();
    (samples[samples.len() / 2], samples.len() * 10)
}

fn main() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let sizes = [1, 10, 30, 60];
    let families: Vec<_> = sizes.iter().map(|n| family(*n)).collect();
    for (n, f) in sizes.iter().zip(&families) {
        let ev = evaluate(form, f, today);
        let errors: Vec<_> = ev
            .errors()
            .map(|i| format!("{} {}", i.path, i.code))
            .collect();
        assert!(
            errors.is_empty(),
            "the {n}-member family should be valid: {errors:?}"
        );
    }
    // Warm up, then measure each size in turn, twice, interleaved.
    let _ = time_per_call(&families[0], today, Duration::from_millis(200));
    let mut results = vec![Vec::new(); sizes.len()];
    for _round in 0..2 {
        for (i, f) in families.iter().enumerate() {
            results[i].push(time_per_call(f, today, Duration::from_millis(700)));
        }
    }
    let base = results[0].iter().map(|r| r.0).min().unwrap();
    println!("validate keluarga (median per call, best of 2 rounds)");
    println!(
        "{:>8} {:>12} {:>10} {:>10}",
        "members", "time", "vs 1", "calls"
    );
    for (i, n) in sizes.iter().enumerate() {
        let best = results[i].iter().map(|r| r.0).min().unwrap();
        let calls: usize = results[i].iter().map(|r| r.1).sum();
        println!(
            "{:>8} {:>10.1}µs {:>9.1}x {:>10}",
            n,
            best.as_secs_f64() * 1e6,
            best.as_secs_f64() / base.as_secs_f64(),
            calls
        );
    }
}
