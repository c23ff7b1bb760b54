//! Power cuts simulated at the storage level: the store runs on a simulated disk that loses power at a
//! chosen sync point. For every sync point of a workload, the disk image left behind must open, pass the
//! integrity check, and hold every save that was acknowledged before the power cut.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use chrono::{DateTime, FixedOffset};
use pendata::store::power_cut::PowerCutDisk;
use pendata::store::{Answers, Store};
use serde_json::json;
use uuid::Uuid;

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-28T10:15:00+08:00").unwrap()
}

fn answers(n: u64) -> Answers {
    // Large enough answers that commits grow the file now and then.
    json!({"alamat": format!("Jl. Uji No. {n}"), "catatan": "x".repeat(3000 + (n as usize % 5) * 1000)})
        .as_object()
        .unwrap()
        .clone()
}

/// Runs the workload; returns, per acknowledged save, the sync count at which it was acknowledged.
fn workload(disk: &PowerCutDisk) -> Vec<(u64, Uuid, u64)> {
    let mut acked = Vec::new();
    let Ok((store, _)) = Store::create_on(disk.clone(), "Tablet Uji", now()) else {
        return acked;
    };
    store.add_petugas("P001", "Dewi", "246810", now()).unwrap();
    let mut current = None;
    for n in 0..24u64 {
        let id = match current {
            Some(id) if n % 4 != 0 => {
                store
                    .save_answers(id, answers(n), "P001", None, now())
                    .unwrap();
                id
            }
            _ => {
                store
                    .create_record("keluarga", 2026112801, answers(n), "P001", now())
                    .unwrap()
                    .id
            }
        };
        if n == 10 {
            store
                .finalize(
                    id,
                    store.record(id).unwrap().revision,
                    "P001",
                    vec![],
                    now(),
                )
                .unwrap();
            current = None;
        } else {
            current = Some(id);
        }
        acked.push((disk.syncs(), id, n));
    }
    acked
}

#[test]
fn every_power_cut_leaves_a_consistent_store_with_every_acknowledged_save() {
    let probe = PowerCutDisk::default();
    let first_ack = workload(&probe).first().map(|(s, _, _)| *s);
    let total = probe.syncs();
    assert!(total > 20, "the workload syncs ({total})");
    let mut checked = 0;
    for cut_at in 1..=total {
        let disk = PowerCutDisk::default();
        disk.cut_at(cut_at);
        let acked = workload(&disk);
        let image = disk.image_after_cut();
        // Before the store's first commit there is nothing to open: that is a store that was never made.
        let opened = Store::open_on(PowerCutDisk::from_image(image));
        let Ok(mut store) = opened else {
            assert!(
                first_ack.is_none_or(|s| s >= cut_at),
                "power cut at sync {cut_at}: store lost"
            );
            continue;
        };
        assert_eq!(
            store.check().unwrap(),
            Vec::<String>::new(),
            "power cut at sync {cut_at}"
        );
        for (synced, id, n) in &acked {
            if *synced < cut_at {
                let history = store
                    .history(*id)
                    .unwrap_or_else(|e| panic!("power cut at {cut_at}: {e}"));
                assert!(
                    history.iter().any(|r| r.answers == answers(*n)),
                    "power cut at sync {cut_at}: save {n} lost"
                );
            }
        }
        checked += 1;
    }
    assert!(checked > 10);
}
