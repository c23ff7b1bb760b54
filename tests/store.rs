//! The device store through its public API: life of a record, audit trail, change sequence, petugas and
//! PINs, attachments, formats, corruption, concurrent readers; and the status machine against a model.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use pendata::model::Localized;
use pendata::store::{
    Action, Answers, FORMAT_VERSION, ListFilter, ListRow, NewRecord, Status, Store, StoreError,
};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-28T10:15:00+08:00").unwrap()
}

fn answers(n: i64) -> Answers {
    json!({"alamat": format!("Jl. Pahlawan No. {n}"), "no_kk": "6472011503190003",
           "anggota": [{"nama": "Budi Santoso", "nik": "6472011203850001", "hubungan": "1"}]})
    .as_object()
    .unwrap()
    .clone()
}

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::create(dir.path(), "Tablet Uji", now()).unwrap();
    store
        .add_petugas("P001", "Dewi Lestari", "246810", now())
        .unwrap();
    (dir, store)
}

#[test]
fn a_record_keeps_every_revision_in_a_gap_free_sequence() {
    let (_dir, store) = new_store();
    let a = store
        .create_record("keluarga", 2026112801, answers(1), "P001", now())
        .unwrap();
    let b = store
        .create_record("keluarga", 2026112801, answers(2), "P001", now())
        .unwrap();
    store
        .save_answers(a.id, answers(3), "P001", None, now())
        .unwrap();
    let fin = store
        .finalize(a.id, 2, "P001", vec!["lokasi gps_accuracy".into()], now())
        .unwrap();
    assert_eq!(fin.status, Status::Final);

    // A final record is locked: a change needs a reason and makes it a draft again.
    let err = store
        .save_answers(a.id, answers(4), "P001", None, now())
        .unwrap_err();
    assert!(matches!(err, StoreError::ReasonRequired(_)), "{err}");
    let err = store
        .save_answers(a.id, answers(4), "P001", Some("  "), now())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ReasonRequired(_)),
        "a blank reason is no reason"
    );
    let corrected = store
        .save_answers(a.id, answers(4), "P001", Some("nomor rumah salah"), now())
        .unwrap();
    assert_eq!(corrected.status, Status::Draft);

    let history = store.history(a.id).unwrap();
    let actions: Vec<Action> = history.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            Action::Created,
            Action::Saved,
            Action::Finalized,
            Action::Corrected
        ]
    );
    assert_eq!(
        history[0].answers,
        answers(1),
        "old snapshots stay as they were"
    );
    assert_eq!(
        history[2].answers,
        answers(3),
        "finalizing snapshots the checked answers"
    );
    assert_eq!(history[2].acknowledged, ["lokasi gps_accuracy"]);
    assert_eq!(history[3].reason.as_deref(), Some("nomor rumah salah"));
    assert!(history.iter().all(|r| r.petugas == "P001" && r.at == now()));
    assert_eq!(history[0].device, store.device().unwrap().id);

    assert_eq!(store.last_seq().unwrap(), 5);
    let seq: Vec<(u64, Uuid, u32)> = store
        .revisions_in(1, 5)
        .unwrap()
        .iter()
        .map(|r| (r.seq, r.record, r.number))
        .collect();
    assert_eq!(
        seq,
        [
            (1, a.id, 1),
            (2, b.id, 1),
            (3, a.id, 2),
            (4, a.id, 3),
            (5, a.id, 4)
        ]
    );
    assert_eq!(store.answers(a.id).unwrap().1, answers(4));
    let mut store = store;
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
}

#[test]
fn finalizing_a_record_that_changed_since_it_was_checked_is_refused() {
    let (_dir, store) = new_store();
    let r = store
        .create_record("keluarga", 2026112801, answers(1), "P001", now())
        .unwrap();
    store
        .save_answers(r.id, answers(2), "P001", None, now())
        .unwrap();
    let err = store.finalize(r.id, 1, "P001", vec![], now()).unwrap_err();
    assert!(matches!(err, StoreError::Stale { now: 2, .. }), "{err}");
    assert_eq!(store.record(r.id).unwrap().status, Status::Draft);
}

#[test]
fn status_changes_follow_the_machine_and_keep_reasons() {
    let (_dir, store) = new_store();
    let r = store
        .create_record("keluarga", 2026112801, answers(1), "P001", now())
        .unwrap();
    let err = store
        .set_status(&[r.id], Status::Exported, None, &[], now())
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::IllegalTransition {
            from: Status::Draft,
            to: Status::Exported,
            ..
        }
    ));
    assert!(
        err.to_string()
            .contains("is draft; it cannot become exported")
    );
    store.finalize(r.id, 1, "P001", vec![], now()).unwrap();
    store
        .set_status(&[r.id], Status::Exported, None, &[], now())
        .unwrap();
    let reason = Localized::new(
        "NIK ganda di keluarga lain",
        "NIK duplicated in another family",
    );
    store
        .set_status(
            &[r.id],
            Status::Rejected,
            Some("registry"),
            std::slice::from_ref(&reason),
            now(),
        )
        .unwrap();
    let head = store.record(r.id).unwrap();
    assert_eq!(head.status, Status::Rejected);
    assert_eq!(head.rejection_reasons(), [reason]);
    let err = store
        .finalize(r.id, head.revision, "P001", vec![], now())
        .unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition { .. }));
    // One illegal move in a batch changes nothing.
    let other = store
        .create_record("keluarga", 2026112801, answers(2), "P001", now())
        .unwrap();
    store.finalize(other.id, 1, "P001", vec![], now()).unwrap();
    assert!(
        store
            .set_status(&[other.id, r.id], Status::Exported, None, &[], now())
            .is_err()
    );
    assert_eq!(store.record(other.id).unwrap().status, Status::Final);
    // A rejected record is corrected with a reason, then finalized again.
    store
        .save_answers(r.id, answers(5), "P001", Some("NIK diperbaiki"), now())
        .unwrap();
    let head = store.record(r.id).unwrap();
    assert_eq!(head.status, Status::Draft);
    store
        .finalize(r.id, head.revision, "P001", vec![], now())
        .unwrap();
}

#[test]
fn petugas_pins_are_hashed_and_checked() {
    let (dir, store) = new_store();
    assert_eq!(
        store.verify_pin("P001", "246810").unwrap().name,
        "Dewi Lestari"
    );
    assert!(matches!(
        store.verify_pin("P001", "135790"),
        Err(StoreError::WrongPin(_))
    ));
    assert!(matches!(
        store.verify_pin("P999", "246810"),
        Err(StoreError::UnknownPetugas(_))
    ));
    assert!(matches!(
        store.add_petugas("P001", "Lagi", "555555", now()),
        Err(StoreError::PetugasExists(_))
    ));
    for (code, name, pin) in [
        ("", "A", "246810"),
        ("P 2", "A", "246810"),
        ("P002", " ", "246810"),
        ("P002", "A", "12"),
        ("P002", "A", "12345"),
        ("P002", "A", "12ab"),
    ] {
        assert!(
            matches!(
                store.add_petugas(code, name, pin, now()),
                Err(StoreError::Invalid(_))
            ),
            "{code:?} {pin:?}"
        );
    }
    assert!(matches!(
        store.create_record("keluarga", 2026112801, answers(1), "NOPE", now()),
        Err(StoreError::UnknownPetugas(_))
    ));
    drop(store);
    let raw = std::fs::read(dir.path().join("pendata.redb")).unwrap();
    assert!(
        raw.windows(7).any(|w| w == b"\"m_kib\""),
        "the PIN wraps the store's key through argon2id, its parameters kept with the slot"
    );
    assert!(
        !raw.windows(6).any(|w| w == b"246810"),
        "the PIN itself is nowhere in the file"
    );
}

#[test]
fn attachments_are_stored_once_by_content() {
    let (_dir, store) = new_store();
    let photo = vec![7u8; 10_000];
    let h1 = store.put_attachment(&photo).unwrap();
    let h2 = store.put_attachment(&photo).unwrap();
    let h3 = store.put_attachment(b"other").unwrap();
    assert_eq!(h1, h2);
    assert_ne!(h1, h3);
    assert_eq!(h1.len(), 64);
    assert_eq!(store.attachment_count().unwrap(), 2);
    assert_eq!(store.attachment(&h1).unwrap().unwrap(), photo);
    assert_eq!(store.attachment(&"0".repeat(64)).unwrap(), None);
}

#[test]
fn search_finds_families_by_name_nik_kk_and_address() {
    let (_dir, store) = new_store();
    let r = store
        .create_record("keluarga", 2026112801, answers(12), "P001", now())
        .unwrap();
    let mut other = answers(7);
    other.insert(
        "anggota".into(),
        json!([{"nama": "Siti Aminah", "nik": "6472016107880002", "hubungan": "1"}]),
    );
    other.insert("no_kk".into(), json!("6401011503190009"));
    let o = store
        .create_record("keluarga", 2026112801, other, "P001", now())
        .unwrap();
    let ids = |q: &str| {
        store
            .search(q, 10)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("budi"), [r.id]);
    assert_eq!(ids("BUD san"), [r.id]);
    assert_eq!(ids("647201120"), [r.id]);
    assert_eq!(ids("64010115"), [o.id]);
    assert_eq!(ids("pahlawan"), [o.id, r.id], "newest first");
    assert_eq!(ids("siti pahlawan 7"), [o.id]);
    assert!(ids("budi siti").is_empty());
    assert!(ids("  ").is_empty());
    // The index follows changes.
    store
        .save_answers(
            r.id,
            answers(12)
                .into_iter()
                .filter(|(k, _)| k != "anggota")
                .collect(),
            "P001",
            None,
            now(),
        )
        .unwrap();
    assert!(ids("budi").is_empty());
}

#[test]
fn an_existing_store_is_never_overwritten() {
    let (dir, store) = new_store();
    let r = store
        .create_record("keluarga", 2026112801, answers(1), "P001", now())
        .unwrap();
    drop(store);
    assert!(matches!(
        Store::create(dir.path(), "Lain", now()),
        Err(StoreError::AlreadyInitialized(_))
    ));
    assert_eq!(
        Store::open(dir.path(), pendata::store::Unlock::Secret("246810"))
            .unwrap()
            .record(r.id)
            .unwrap()
            .id,
        r.id
    );
    let empty = tempfile::tempdir().unwrap();
    let err = Store::open(empty.path(), pendata::store::Unlock::Secret("246810"))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::NotInitialized(_)));
    assert!(err.to_string().contains("pendata init"));
    assert!(
        !empty.path().join("pendata.redb").exists(),
        "opening never creates a store"
    );
}

#[test]
fn a_newer_format_is_refused_and_an_older_one_migrated() {
    let (dir, store) = new_store();
    let r = store
        .create_record("keluarga", 2026112801, answers(1), "P001", now())
        .unwrap();
    store
        .force_format_version(FORMAT_VERSION + 1, false)
        .unwrap();
    drop(store);
    let err = Store::open(dir.path(), pendata::store::Unlock::Secret("246810"))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    assert!(err.to_string().contains("install pendata"), "{err}");

    let (dir, store) = new_store();
    let r2 = store
        .create_record("keluarga", 2026112801, answers(1), "P001", now())
        .unwrap();
    // Format 1 had no search index.
    store.force_format_version(1, true).unwrap();
    drop(store);
    let mut store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(
        store
            .search("budi", 5)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect::<Vec<_>>(),
        [r2.id]
    );
    assert!(store.check().unwrap().is_empty());
    drop(store);
    let _ = r;
}

/// Families in four desa, some final, some changed later (which moves them to the top of the list).
fn store_with_families(n: usize) -> (tempfile::TempDir, Store) {
    let (dir, store) = new_store();
    add_families(&store, n);
    (dir, store)
}

/// `n` families, every third final, every seventh (from the second) corrected.
fn add_families(store: &Store, n: usize) {
    let desa = [
        "64.72.01.1001",
        "64.72.01.1002",
        "64.72.02.1001",
        "64.71.05.2003",
    ];
    let items = (0..n)
        .map(|i| {
            let mut a = answers(i as i64);
            a.insert("wilayah_desa".into(), json!(desa[i % desa.len()]));
            NewRecord {
                form_id: "keluarga".into(),
                form_version: 2026112801,
                answers: a,
                finalize: i % 3 == 0,
                acknowledged: vec![],
            }
        })
        .collect();
    let heads = store.create_batch(items, "P001", now()).unwrap();
    for (k, h) in heads.iter().enumerate().filter(|(k, _)| k % 7 == 1) {
        let later = now() + chrono::Duration::minutes(k as i64);
        store
            .save_answers(h.id, answers(-(k as i64)), "P001", Some("koreksi"), later)
            .unwrap();
    }
}

#[test]
fn the_list_pages_by_position_newest_first_under_filters() {
    let (_dir, store) = store_with_families(1500);
    let filters = [
        (None, ""),
        (Some(Status::Final), ""),
        (Some(Status::Draft), "64.72.01"),
        (None, "64.71"),
        (None, "64.72.01.1002"),
        (Some(Status::Rejected), ""),
        (None, "65"),
    ];
    for (status, desa) in filters {
        let filter = ListFilter {
            status,
            desa: desa.to_string(),
        };
        // The model: every head, filtered and ordered the slow way.
        let model: Vec<ListRow> = store
            .list(None)
            .unwrap()
            .iter()
            .filter(|h| filter.matches(h.status, &h.summary.desa))
            .map(ListRow::from)
            .collect();
        let view = store.list_view(filter.clone()).unwrap();
        assert_eq!(view.len(), model.len(), "{filter:?}");
        let n = model.len();
        for range in [
            0..12,
            250..270,
            255..257,
            n / 2..n / 2 + 15,
            n.saturating_sub(5)..n + 10,
            0..n,
        ] {
            let want = model.get(range.start.min(n)..range.end.min(n)).unwrap();
            assert_eq!(
                store.list_rows(&view, range.clone()).unwrap(),
                want,
                "{filter:?} {range:?}"
            );
        }
    }
    // Counts come from the same index.
    let c = store.counts().unwrap();
    assert_eq!(
        (c.final_, c.draft),
        (
            store.list(Some(Status::Final)).unwrap().len(),
            1500 - c.final_
        )
    );
    let final_by_hand = (0..1500).filter(|k| k % 3 == 0 && k % 7 != 1).count();
    assert_eq!(c.final_, final_by_hand);
}

#[test]
fn a_format_3_store_gets_its_milestone_index_and_exports_the_same() {
    let (dir, store) = store_with_families(300);
    // Some corrected records are finalized again: their export carries the correction first.
    let drafts: Vec<_> = store
        .list(Some(Status::Draft))
        .unwrap()
        .into_iter()
        .filter(|h| h.revision > 2)
        .take(5)
        .collect();
    assert!(!drafts.is_empty(), "the fixture has corrected records");
    for h in &drafts {
        store
            .finalize(h.id, h.revision, "P001", vec![], now())
            .unwrap();
    }
    let exported = |store: &Store| {
        let mut lines = Vec::new();
        let items = store
            .export_revisions::<StoreError>(1, u64::MAX, |raw| {
                lines.push(raw.to_vec());
                Ok(())
            })
            .unwrap();
        (lines, items.len())
    };
    let before = exported(&store);
    assert_eq!(before.1, 100 + drafts.len());
    store.force_format_version(3, true).unwrap();
    drop(store);
    let mut store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(exported(&store), before);
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
}

#[test]
fn a_format_6_store_gets_its_outbox_and_exports_the_same() {
    let (dir, store) = store_with_families(300);
    // Corrected records finalized again: their export carries the correction before the final line.
    let drafts: Vec<_> = store
        .list(Some(Status::Draft))
        .unwrap()
        .into_iter()
        .filter(|h| h.revision > 2)
        .take(5)
        .collect();
    assert!(!drafts.is_empty(), "the fixture has corrected records");
    for h in &drafts {
        store
            .finalize(h.id, h.revision, "P001", vec![], now())
            .unwrap();
    }
    let exported = |store: &Store, from: u64, to: u64| {
        let mut lines = Vec::new();
        let items = store
            .export_revisions::<StoreError>(from, to, |raw| {
                lines.push(raw.to_vec());
                Ok(())
            })
            .unwrap();
        (lines, items)
    };
    let last = store.last_seq().unwrap();
    let before = exported(&store, 1, u64::MAX);
    let part = exported(&store, last / 3, last / 2);
    assert_eq!(before.1.len(), 100 + drafts.len());
    // A corrected record's export: its correction, then the finalizing (both from the history).
    let corrected = before.1.last().unwrap();
    let at = before.0.len() - 2;
    let correction: serde_json::Value = serde_json::from_slice(&before.0[at]).unwrap();
    assert_eq!(correction["action"], "corrected");
    assert_eq!(correction["record"], corrected.record.to_string());
    store.force_format_version(6, true).unwrap();
    drop(store);
    let mut store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(exported(&store, 1, u64::MAX), before);
    assert_eq!(exported(&store, last / 3, last / 2), part);
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
}

#[test]
fn a_format_4_store_keeps_its_exported_heads() {
    let (dir, store) = store_with_families(300);
    // Format 4 kept an export in the head: status Exported and an event.
    let finals: Vec<_> = store.list(Some(Status::Final)).unwrap();
    let ids: Vec<_> = finals.iter().map(|h| h.id).collect();
    store
        .set_status(&ids, Status::Exported, Some("bundle.age"), &[], now())
        .unwrap();
    let before = store.list(None).unwrap();
    let counts = store.counts().unwrap();
    store.force_format_version(4, true).unwrap();
    drop(store);
    let mut store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(store.list(None).unwrap(), before);
    assert_eq!(store.counts().unwrap(), counts);
    assert_eq!(counts.exported, ids.len());
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
    // The registry's answer still moves them on.
    store
        .set_status(&ids[..1], Status::Accepted, Some("registry"), &[], now())
        .unwrap();
    assert_eq!(store.record(ids[0]).unwrap().status, Status::Accepted);
}

#[test]
fn a_format_2_store_gets_its_list_index() {
    let (dir, store) = store_with_families(300);
    let before: Vec<ListRow> = store
        .list(None)
        .unwrap()
        .iter()
        .map(ListRow::from)
        .collect();
    // Format 2 had no list index.
    store.force_format_version(2, true).unwrap();
    drop(store);
    let mut store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    let view = store.list_view(ListFilter::default()).unwrap();
    assert_eq!(view.len(), 300);
    assert_eq!(store.list_rows(&view, 0..300).unwrap(), before);
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
    drop(store);
    // Migrated once: the format is now current, and opening again changes nothing.
    let store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    store.force_format_version(FORMAT_VERSION, false).unwrap();
    let view = store.list_view(ListFilter::default()).unwrap();
    assert_eq!(store.list_rows(&view, 0..300).unwrap(), before);
}

#[test]
fn a_damaged_file_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pendata.redb");
    let junk: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &junk).unwrap();
    let err = Store::open(dir.path(), pendata::store::Unlock::Secret("246810"))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("copy the whole data folder"));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        junk,
        "the damaged file is untouched"
    );
    std::fs::write(&file, b"").unwrap();
    assert!(matches!(
        Store::open(dir.path(), pendata::store::Unlock::Secret("246810"))
            .err()
            .unwrap(),
        StoreError::Corrupt { .. }
    ));
}

#[test]
fn readers_see_consistent_data_while_writes_go_on() {
    let (_dir, store) = new_store();
    let r = store
        .create_record("keluarga", 2026112801, answers(0), "P001", now())
        .unwrap();
    let store = std::sync::Arc::new(store);
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for n in 1..=150 {
                store
                    .save_answers(r.id, answers(n), "P001", None, now())
                    .unwrap();
            }
        })
    };
    let mut seen = 0;
    while !writer.is_finished() || seen < 151 {
        // Head and answers come from one read transaction: the snapshot matches the revision number.
        let (head, a) = store.answers(r.id).unwrap();
        assert_eq!(a, answers(i64::from(head.revision) - 1));
        assert!(head.revision >= seen, "revisions never go back");
        seen = head.revision;
        let last = store.last_seq().unwrap();
        assert!(
            u64::from(seen) <= last,
            "the sequence covers every revision seen"
        );
        if writer.is_finished() && seen == 151 {
            break;
        }
    }
    writer.join().unwrap();
    assert_eq!(store.history(r.id).unwrap().len(), 151);
}

/// Operations on a store, checked against a model of statuses and revision counts.
#[derive(Debug, Clone)]
enum Op {
    Create,
    Save(usize, bool),
    Finalize(usize, bool),
    SetStatus(usize, Status),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Create),
        (0..6usize, any::<bool>()).prop_map(|(i, r)| Op::Save(i, r)),
        (0..6usize, any::<bool>()).prop_map(|(i, s)| Op::Finalize(i, s)),
        (0..6usize, prop::sample::select(Status::ALL.to_vec()))
            .prop_map(|(i, s)| Op::SetStatus(i, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn store_matches_a_simple_model(ops in prop::collection::vec(op(), 1..40)) {
        let (_dir, store) = new_store();
        let mut ids: Vec<Uuid> = Vec::new();
        let mut model: BTreeMap<Uuid, (Status, u32)> = BTreeMap::new();
        let mut revisions = 0u64;
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Create => {
                    let h = store.create_record("keluarga", 2026112801, answers(n as i64), "P001", now()).unwrap();
                    ids.push(h.id);
                    model.insert(h.id, (Status::Draft, 1));
                    revisions += 1;
                }
                Op::Save(i, with_reason) => {
                    let Some(&id) = ids.get(i) else { continue };
                    let (status, rev) = model[&id];
                    let got = store.save_answers(id, answers(n as i64), "P001", with_reason.then_some("koreksi"), now());
                    if status != Status::Draft && !with_reason {
                        prop_assert!(matches!(got, Err(StoreError::ReasonRequired(_))), "reason");
                    } else {
                        prop_assert_eq!(got.unwrap().status, Status::Draft);
                        model.insert(id, (Status::Draft, rev + 1));
                        revisions += 1;
                    }
                }
                Op::Finalize(i, stale) => {
                    let Some(&id) = ids.get(i) else { continue };
                    let (status, rev) = model[&id];
                    let checked = if stale { rev.saturating_sub(1) } else { rev };
                    let got = store.finalize(id, checked, "P001", vec![], now());
                    match (status, stale && checked != rev) {
                        (Status::Draft, false) => {
                            prop_assert_eq!(got.unwrap().status, Status::Final);
                            model.insert(id, (Status::Final, rev + 1));
                            revisions += 1;
                        }
                        (Status::Draft, true) => prop_assert!(matches!(got, Err(StoreError::Stale { .. })), "stale"),
                        _ => prop_assert!(matches!(got, Err(StoreError::IllegalTransition { .. })), "illegal"),
                    }
                }
                Op::SetStatus(i, to) => {
                    let Some(&id) = ids.get(i) else { continue };
                    let (status, rev) = model[&id];
                    let got = store.set_status(&[id], to, None, &[], now());
                    if status.can_become(to) {
                        prop_assert!(got.is_ok());
                        model.insert(id, (to, rev));
                    } else {
                        prop_assert!(matches!(got, Err(StoreError::IllegalTransition { .. })), "illegal");
                    }
                }
            }
        }
        for (id, (status, rev)) in &model {
            let h = store.record(*id).unwrap();
            prop_assert_eq!((h.status, h.revision), (*status, *rev));
            prop_assert_eq!(store.history(*id).unwrap().len() as u32, *rev);
        }
        prop_assert_eq!(store.last_seq().unwrap(), revisions);
        // The list index follows every change: the same rows as the heads, in the same order.
        for status in std::iter::once(None).chain(Status::ALL.map(Some)) {
            let view = store.list_view(ListFilter { status, desa: String::new() }).unwrap();
            let heads: Vec<ListRow> = store.list(status).unwrap().iter().map(ListRow::from).collect();
            prop_assert_eq!(view.len(), heads.len());
            prop_assert_eq!(store.list_rows(&view, 0..view.len()).unwrap(), heads);
        }
        let mut store = store;
        prop_assert_eq!(store.check().unwrap(), Vec::<String>::new());
    }
}

#[cfg(unix)]
#[test]
fn the_store_is_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pendata");
    let (store, _) = Store::create(&dir, "Tablet 01", now()).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let file = store.path().to_path_buf();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&file), 0o600);
    drop(store);
    // A store an earlier build left readable by everyone is closed when opened.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = Store::open(&dir, pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(mode(&file), 0o600);
}

#[test]
fn a_format_5_store_gets_a_device_age_identity_that_stays() {
    let (dir, store) = new_store();
    let r = store
        .create_record("keluarga", 2026112801, answers(1), "P001", now())
        .unwrap();
    store.force_format_version(5, true).unwrap();
    assert!(store.age_identity().is_err(), "format 5 had none");
    drop(store);
    let store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    let recipient = store.age_recipient().unwrap();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert!(store.packages().unwrap().is_empty());
    assert_eq!(store.record(r.id).unwrap().id, r.id);
    drop(store);
    // Opening again keeps the same identity (packages already encrypted to it stay readable).
    let store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(store.age_recipient().unwrap(), recipient);
}

/// An export log entry for marking by hand.
fn export_log(kind: &str, from: u64, to: u64) -> pendata::store::ExportLog {
    pendata::store::ExportLog {
        bundle_id: Uuid::now_v7(),
        file: format!("{kind}-{from}-{to}.age"),
        from,
        to,
        kind: kind.into(),
        at: now(),
        by: "P001".into(),
        records: 0,
        revisions: 0,
        attachments: 0,
        size: 0,
        sha256: String::new(),
        by_position: false,
    }
}

fn items_of(store: &Store, from: u64, to: u64) -> Vec<pendata::store::ExportItem> {
    store
        .export_revisions::<StoreError>(from, to, |_| Ok(()))
        .unwrap()
}

fn export_events(store: &Store, id: Uuid) -> usize {
    let head = store.record(id).unwrap();
    head.events
        .iter()
        .filter(|e| e.status == Status::Exported)
        .count()
}

#[test]
fn an_incremental_export_marks_by_the_watermark_and_a_range_export_by_a_key_each() {
    let (_dir, mut store) = store_with_families(300);
    let finals = store.counts().unwrap().final_;
    let last = store.last_seq().unwrap();

    // A range export of the first half: a key in the export table per family it marks.
    let half = items_of(&store, 1, last / 2);
    let range = store
        .mark_exported(&half, &export_log("range", 1, last / 2), None)
        .unwrap();
    assert!(range.exported > 0);
    assert_eq!(store.export_keys().unwrap(), range.exported);
    assert_eq!(store.export_watermark().unwrap(), 0);

    // A full export: the watermark alone, no key per family; the first half counts as exported again,
    // the families corrected since their finalizing as unchanged.
    let all = items_of(&store, 1, last);
    let full = store
        .mark_exported(&all, &export_log("all", 1, last), Some(last))
        .unwrap();
    assert_eq!(store.export_keys().unwrap(), range.exported, "no new keys");
    assert_eq!(store.export_watermark().unwrap(), last);
    assert_eq!(full.again, range.exported);
    assert_eq!((full.exported + full.again) as usize, finals);
    assert_eq!(
        (full.exported + full.again + full.unchanged) as usize,
        all.len()
    );

    // Every final family reads Exported: heads, list rows, filtered views and counts agree.
    let counts = store.counts().unwrap();
    assert_eq!((counts.final_, counts.exported), (0, finals));
    let view = store
        .list_view(ListFilter {
            status: Some(Status::Exported),
            desa: String::new(),
        })
        .unwrap();
    assert_eq!(view.len(), finals);
    let rows = store.list_rows(&view, 0..finals).unwrap();
    for row in &rows {
        assert_eq!(store.record(row.id).unwrap().status, Status::Exported);
    }
    assert_eq!(store.check().unwrap(), Vec::<String>::new());

    // The events: both bundles for a family of the first half, the full one for the others.
    let first_half: std::collections::BTreeSet<Uuid> = half.iter().map(|i| i.record).collect();
    let (a, b): (Vec<_>, Vec<_>) = rows.iter().partition(|r| first_half.contains(&r.id));
    assert!(!a.is_empty() && !b.is_empty());
    assert_eq!(export_events(&store, a[0].id), 2);
    assert_eq!(export_events(&store, b[0].id), 1);
}

#[test]
fn a_family_changed_while_the_bundle_is_written_is_left_as_it_is() {
    let (_dir, mut store) = store_with_families(90);
    let finals = store.counts().unwrap().final_;
    let last = store.last_seq().unwrap();
    let items = items_of(&store, 1, last);
    let fam = store.list(Some(Status::Final)).unwrap()[0].id;
    let log = export_log("incremental", 1, last);
    let bundle = log.bundle_id;
    // The log is asked for once the families are counted: the petugas corrects one meanwhile.
    let marked = store
        .mark_exported_when(vec![items.clone()], bundle, Some(last), || {
            store
                .save_answers(fam, answers(99), "P001", Some("cek ulang"), now())
                .unwrap();
            Some(log)
        })
        .unwrap()
        .unwrap();
    assert_eq!(marked.exported as usize, finals - 1);
    assert_eq!(
        marked.unchanged as usize,
        items.len() - (finals - 1),
        "the corrected family is unchanged"
    );
    assert_eq!(store.record(fam).unwrap().status, Status::Draft);
    assert_eq!(store.counts().unwrap().exported, finals - 1);
    assert_eq!(store.check().unwrap(), Vec::<String>::new());

    // Finalized again, it is Final until the next export carries it.
    let head = store.record(fam).unwrap();
    store
        .finalize(fam, head.revision, "P001", vec![], now())
        .unwrap();
    assert_eq!(store.record(fam).unwrap().status, Status::Final);
    let next = store.last_seq().unwrap();
    let marked = store
        .mark_exported(
            &items_of(&store, last + 1, next),
            &export_log("incremental", last + 1, next),
            Some(next),
        )
        .unwrap();
    assert_eq!(marked.exported, 1);
    assert_eq!(store.record(fam).unwrap().status, Status::Exported);
}

#[test]
fn a_format_7_store_gets_the_positions_and_reads_as_before() {
    let (dir, store) = store_with_families(300);
    let last = store.last_seq().unwrap();
    // Exported as format 7 marked an incremental export (a key per family), again by the watermark,
    // and final families not exported yet.
    let first = items_of(&store, 1, last / 3);
    store
        .mark_exported(&first, &export_log("incremental", 1, last / 3), None)
        .unwrap();
    let upto = 2 * last / 3;
    store
        .mark_exported(
            &items_of(&store, 1, upto),
            &export_log("incremental", 1, upto),
            Some(upto),
        )
        .unwrap();
    let before_heads = store.list(None).unwrap();
    let counts = store.counts().unwrap();
    assert!(counts.exported > 0 && counts.final_ > 0, "{counts:?}");
    // A family of the first third went out in both bundles: two events, each once (the first bundle's
    // from its key, the second's from its positions).
    let twice = first
        .iter()
        .find(|i| store.record(i.record).unwrap().status == Status::Exported)
        .unwrap()
        .record;
    assert_eq!(export_events(&store, twice), 2);
    let view = store.list_view(ListFilter::default()).unwrap();
    let before_rows = store.list_rows(&view, 0..300).unwrap();

    store.force_format_version(7, true).unwrap();
    drop(store);
    let mut store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(store.list(None).unwrap(), before_heads);
    assert_eq!(store.counts().unwrap(), counts);
    let view = store.list_view(ListFilter::default()).unwrap();
    assert_eq!(store.list_rows(&view, 0..300).unwrap(), before_rows);
    assert_eq!(export_events(&store, twice), 2);
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
}

/// What [`Store::export_framed`] hands out for `from..=to`, frames opened: every line, its hash, the
/// frames' count, and the items.
type Framed = (
    Vec<Vec<u8>>,
    Vec<[u8; 32]>,
    usize,
    Vec<pendata::store::ExportItem>,
);
use pendata::store::Outgoing;

fn framed(store: &Store, from: u64, to: u64) -> Framed {
    let (mut lines, mut hashes, mut frames, mut items) = (Vec::new(), Vec::new(), 0, Vec::new());
    store
        .export_framed::<StoreError>(from, to, |out| {
            match out {
                Outgoing::Line(raw, hash) => {
                    lines.push(raw.to_vec());
                    hashes.push(*hash);
                }
                Outgoing::Frame(frame) => {
                    frames += 1;
                    let plain = zstd::decode_all(frame.zst).unwrap();
                    assert_eq!(plain.len() as u64, frame.plain_size);
                    let split: Vec<Vec<u8>> = plain
                        .split_inclusive(|&b| b == b'\n')
                        .map(|l| l.strip_suffix(b"\n").unwrap().to_vec())
                        .collect();
                    assert_eq!(split.len() as u64, frame.lines);
                    lines.extend(split);
                    hashes.extend(
                        frame
                            .hashes
                            .chunks(32)
                            .map(|h| <[u8; 32]>::try_from(h).unwrap()),
                    );
                }
                Outgoing::Item(item) => items.push(item),
            }
            Ok(())
        })
        .unwrap();
    (lines, hashes, frames, items)
}

#[test]
fn a_format_8_store_gets_its_outbox_framed_and_frames_hold_the_same_lines() {
    use sha2::Digest as _;
    let (dir, store) = new_store();
    // Frames of a few families each (a real one holds about 280).
    store.set_frame_bytes(16 * 1024).unwrap();
    add_families(&store, 600);
    let last = store.last_seq().unwrap();
    let mut lines = Vec::new();
    let items = store
        .export_revisions::<StoreError>(1, last, |raw| {
            lines.push(raw.to_vec());
            Ok(())
        })
        .unwrap();
    let (now_lines, _, now_frames, now_items) = framed(&store, 1, last);
    assert!(now_frames >= 1, "frames made as families were finalized");
    assert_eq!((now_lines, now_items), (lines.clone(), items.clone()));

    store.force_format_version(8, true).unwrap();
    assert_eq!(store.frame_count().unwrap(), 0);
    assert_eq!(framed(&store, 1, last).2, 0);
    drop(store);
    let mut store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    let frames = store.frame_count().unwrap();
    assert!(frames >= 1, "the migration frames the outbox");
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
    for (from, to) in [
        (1, last),
        (2, last - 1),
        (last / 3, 2 * last / 3),
        (last, last),
    ] {
        let (mut want, mut want_items) = (Vec::new(), Vec::new());
        for (i, item) in items.iter().enumerate() {
            if (from..=to).contains(&item.seq) {
                want_items.push(*item);
                want.push(lines[i].clone());
            }
        }
        let (got, hashes, _, got_items) = framed(&store, from, to);
        assert_eq!(got, want, "{from}..={to}");
        assert_eq!(got_items, want_items);
        let expected: Vec<[u8; 32]> = got.iter().map(|l| sha2::Sha256::digest(l).into()).collect();
        assert_eq!(hashes, expected);
    }
}

#[test]
fn a_damaged_frame_is_named_by_the_check_and_its_lines_still_go_out() {
    let (_dir, store) = new_store();
    store.set_frame_bytes(16 * 1024).unwrap();
    add_families(&store, 300);
    let last = store.last_seq().unwrap();
    let (lines, _, frames, items) = framed(&store, 1, last);
    assert!(frames >= 1);
    let cut = store.cut_frames().unwrap();
    assert_eq!(cut as usize, frames);
    let problems = store.consistency().unwrap();
    assert_eq!(problems.len(), frames, "{problems:?}");
    assert!(
        problems.iter().all(|p| p.contains("outbox frame")),
        "{problems:?}"
    );
    let (after, _, none, after_items) = framed(&store, 1, last);
    assert_eq!(none, 0, "a cut frame is not copied");
    assert_eq!((after, after_items), (lines, items));
}
