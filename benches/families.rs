//! The office's Families screen on a large registry: how long the name index takes to build (once per
//! screen, in the background), and how long one search takes (a background task per keystroke) by
//! name, NIK, KK number, desa code and desa name, and a family's page. The frame itself never waits
//! for any of it; these are the times until the answer shows.
//!
//! Run: `cargo bench --bench families` (1,000,000 families; `PENDATA_BENCH_FAMILIES=100000` for a quicker
//! run). The registry is made once per size (synthetic tablets, real signed and encrypted bundles,
//! imported) and kept under target/ for the next run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Duration};
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::app::office::Office;
use pendata::app::office::families as f;
use pendata::bundle::hex;
use pendata::form::catalog::Catalog;
use pendata::form::evaluate;
use pendata::model::record::Action;
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, Registry};
use uuid::Uuid;

const PER_BUNDLE: usize = 1000;
const PER_TABLET: usize = 10_000;

fn clock() -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-02T08:00:00+08:00").unwrap()
}

/// A registry of `n` families in `dir` (made once; a marker file says it is complete).
fn make(dir: &Path, n: usize) {
    if dir.join("COMPLETE").exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    registry::init(dir, "Bench", clock()).unwrap();
    let reg = Registry::open(dir).unwrap();
    let recipients = vec![reg.keys.identity.to_public()];
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let t0 = Instant::now();
    for tn in 0..n.div_ceil(PER_TABLET) {
        let mut t = SynthTablet::new(tn as u64 + 1, clock());
        let key = hex(t.key.verifying_key().as_bytes());
        reg.enrol(t.id, &t.name, &key, clock()).unwrap();
        let mut rng = Rng::new(7000 + tn as u64);
        let first = tn * PER_TABLET;
        for (i, fam) in (first..(first + PER_TABLET).min(n)).enumerate() {
            let day = (t.clock + Duration::minutes(3)).date_naive();
            let spec = FamilySpec {
                interview: day - Duration::days((fam % 21) as i64),
            };
            let answers = demo::family(form, &mut rng, &spec);
            let ack = evaluate(form, &answers, day)
                .warnings()
                .map(|w| format!("{} {}", w.path, w.code))
                .collect();
            let id = Uuid::from_u128(0x0193_4444_0000_7000_8000_0000_0000_0000 | fam as u128);
            t.revise(id, 1, Action::Finalized, answers, ack);
            if (i + 1) % PER_BUNDLE == 0 || fam + 1 == n {
                let bytes = t.bundle(&recipients).unwrap();
                reg.import_bytes(&bytes, "bench.age", clock() + Duration::days(30))
                    .unwrap();
            }
        }
        eprintln!(
            "{} families in {:.0} s",
            (first + PER_TABLET).min(n),
            t0.elapsed().as_secs_f64()
        );
    }
    std::fs::write(dir.join("COMPLETE"), b"").unwrap();
}

/// p50, p95 and the slowest of some timings, in ms.
fn spread(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    format!(
        "{:.1} | {:.1} | {:.1} | {}",
        at(0.5),
        at(0.95),
        ms[ms.len() - 1],
        ms.len()
    )
}

fn timed(office: &Office, ix: &f::NameIndex, queries: &[String]) -> (Vec<f64>, usize) {
    let mut ms = Vec::new();
    let mut found = 0;
    for q in queries {
        let t = Instant::now();
        let r = f::search(office, Some(ix), q).unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        found += usize::from(!r.rows.is_empty());
    }
    (ms, found)
}

fn main() {
    let n: usize = std::env::var("PENDATA_BENCH_FAMILIES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1_000_000);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-families-{n}"));
    make(&dir, n);
    let office = Office::new(Registry::open(&dir).unwrap());

    let t = Instant::now();
    let ix = f::name_index(&office, |_| {}).unwrap();
    let build = t.elapsed().as_secs_f64();
    assert_eq!(ix.len(), n);

    // Samples: every (n/40)-th family's name parts, NIK, KK number and desa.
    let (mut names, mut niks, mut kks, mut desa, mut records) =
        (vec![], vec![], vec![], vec![], vec![]);
    let step = (n / 40).max(1);
    let mut i = 0usize;
    office
        .read()
        .for_each_family(|fam, rev| {
            if i.is_multiple_of(step) {
                let name = rev.answers["nama_kepala_keluarga"].as_str().unwrap_or("");
                // The typed beginning of the surname, and the whole name.
                if let Some(last) = name.split_whitespace().last() {
                    names.push(last.chars().take(4).collect::<String>());
                }
                names.push(name.to_string());
                niks.extend(fam.niks.first().cloned());
                kks.extend(fam.kk.clone());
                desa.extend(fam.facts.as_ref().and_then(|x| x.desa.clone()));
                records.push(fam.family.record);
            }
            i += 1;
            Ok(())
        })
        .unwrap();
    // Letter by letter, as typed: the short prefixes match many names (the answer stops at LIMIT).
    let typed: Vec<String> = names
        .iter()
        .take(10)
        .filter(|n| n.chars().count() >= 4)
        .flat_map(|n| {
            (2..=4)
                .map(|k| n.chars().take(k).collect::<String>())
                .collect::<Vec<_>>()
        })
        .collect();
    let desa_names: Vec<String> = desa
        .iter()
        .take(10)
        .filter_map(|d| f::search(&office, Some(&ix), d).ok())
        .filter_map(|r| r.rows.first().and_then(|x| x.desa_name.clone()))
        .collect();
    let none = vec!["zzqx".to_string(); 10];

    println!(
        "{n} families: name index built in {build:.1} s ({} names)\n",
        ix.len()
    );
    println!("| search | p50 ms | p95 ms | slowest ms | queries | found |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (what, qs) in [
        ("name (surname's first 4 letters, whole name)", &names),
        ("name as typed (2, 3, 4 letters)", &typed),
        ("name matching nothing (every name scanned)", &none),
        ("NIK", &niks),
        ("KK number", &kks),
        ("desa code", &desa),
        ("desa name", &desa_names),
    ] {
        let (ms, found) = timed(&office, &ix, qs);
        println!("| {what} | {} | {found} |", spread(ms));
    }
    let mut ms = Vec::new();
    for r in records.iter().take(20) {
        let t = Instant::now();
        let page = f::page(&office, *r).unwrap().unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(page.history.len(), 1);
    }
    println!(
        "| a family's page (answers, history) | {} | 20 |",
        spread(ms)
    );
}
