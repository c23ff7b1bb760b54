//! The provincial registry end to end: devices held until approved and refused when revoked, bad
//! revisions quarantined next to good ones, idempotent imports, gaps, conflicts (shared NIK and KK, one
//! family on two devices) and the operator's decisions, receipts back to a real tablet — and many
//! bundles in shuffled order with repeats ending in the same state.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::bundle::manifest::ExportKind;
use pendata::form::catalog::Catalog;
use pendata::form::{Form, evaluate};
use pendata::model::record::{Action, Answers};
use pendata::registry::family::FamilyState;
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, FileOutcome, Registry};
use pendata::registry::{ConflictKind, DeviceState, QuarantineState};
use serde_json::json;
use uuid::Uuid;

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn now() -> DateTime<FixedOffset> {
    at("2026-11-28T10:00:00+08:00")
}

fn form() -> &'static Form {
    Catalog::shared().unwrap().latest("keluarga").unwrap()
}

/// A registry folder (keys and store) in a temporary directory.
struct Reg {
    _tmp: tempfile::TempDir,
    reg: Registry,
}

fn registry() -> Reg {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Dinas Sosial Kaltim", now()).unwrap();
    let reg = Registry::open(&dir).unwrap();
    Reg { _tmp: tmp, reg }
}

impl Reg {
    fn recipients(&self) -> Vec<age::x25519::Recipient> {
        vec![self.reg.keys.identity.to_public()]
    }

    fn import(&self, bytes: &[u8]) -> FileOutcome {
        self.reg.import_bytes(bytes, "test.age", now()).unwrap()
    }

    fn approve(&self, t: &SynthTablet) {
        // A device becomes known with its first bundle; approving it merges what was held.
        self.reg.approve(&t.id.simple().to_string(), now()).unwrap();
    }

    fn state(&self, record: Uuid) -> Option<FamilyState> {
        self.reg.family(record).unwrap().map(|f| f.family.state)
    }
}

/// A family that passes every rule, with its warnings acknowledged (as a tablet finalizes it).
fn valid_family(rng: &mut Rng) -> Answers {
    let spec = FamilySpec {
        interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    demo::family(form(), rng, &spec)
}

fn acknowledged(answers: &Answers, day: NaiveDate) -> Vec<String> {
    let ev = evaluate(form(), answers, day);
    let errors: Vec<String> = ev
        .errors()
        .map(|i| format!("{} {}", i.path, i.code))
        .collect();
    assert!(errors.is_empty(), "the test family has errors: {errors:?}");
    ev.warnings()
        .map(|w| format!("{} {}", w.path, w.code))
        .collect()
}

/// Finalizes `answers` as revision `number` of `record` on tablet `t`.
fn finalize(t: &mut SynthTablet, record: Uuid, number: u32, answers: Answers) -> u64 {
    let day = (t.clock + chrono::Duration::minutes(3)).date_naive();
    let ack = acknowledged(&answers, day);
    t.revise(record, number, Action::Finalized, answers, ack)
}

fn record(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_1111_0000_7000_8000_0000_0000_0000 | n)
}

fn tablet(n: u64) -> SynthTablet {
    SynthTablet::new(n, at("2026-11-20T08:00:00+08:00"))
}

#[test]
fn an_unknown_device_is_held_until_approved_and_a_bundle_twice_changes_nothing() {
    let r = registry();
    let mut t = tablet(1);
    let mut rng = Rng::new(1);
    let ids: Vec<Uuid> = (0..5).map(record).collect();
    let mut made = Vec::new();
    for id in &ids {
        let answers = valid_family(&mut rng);
        made.push(answers.clone());
        finalize(&mut t, *id, 2, answers);
    }
    let b = t.bundle(&r.recipients()).unwrap();

    let FileOutcome::Held {
        device,
        already_held,
    } = r.import(&b)
    else {
        panic!("an unknown device's bundle must be held")
    };
    assert_eq!((device.state, already_held), (DeviceState::Pending, false));
    assert!(
        r.reg.family(ids[0]).unwrap().is_none(),
        "nothing merged yet"
    );
    let FileOutcome::Held { already_held, .. } = r.import(&b) else {
        panic!()
    };
    assert!(already_held);
    let a = r.reg.attention().unwrap();
    assert_eq!((a.pending_devices, a.pending_bundles), (1, 1));

    let (d, merged) = r
        .reg
        .approve(&device.id.simple().to_string()[..8], now())
        .unwrap();
    assert_eq!(d.state, DeviceState::Approved);
    assert_eq!(merged.len(), 1);
    let FileOutcome::Merged(entry) = &merged[0].1 else {
        panic!("{:?}", merged[0].1)
    };
    assert_eq!(entry.merged.accepted, 5);
    for id in &ids {
        assert_eq!(r.state(*id), Some(FamilyState::Accepted));
    }
    assert!(r.reg.attention().unwrap().is_empty());
    assert!(r.reg.pending_bundles().unwrap().is_empty());
    // What the registry keeps (compressed) gives back the answers that were sent.
    for (id, answers) in ids.iter().zip(&made) {
        assert_eq!(&read_answers(&r, *id), answers);
    }

    // The same file again, and the same revisions in a new bundle (a re-export for a lost stick).
    assert!(matches!(r.import(&b), FileOutcome::AlreadyImported { .. }));
    let lines = revision_lines(&r, &b);
    let again = t
        .make(1, t.seq, &lines, &r.recipients(), ExportKind::Range)
        .unwrap();
    let FileOutcome::Merged(e) = r.import(&again) else {
        panic!()
    };
    assert_eq!((e.merged.accepted, e.merged.duplicates), (0, 5));
    // The approval above merged the held bundle: one import run, logged by the registry itself. The
    // imports since are logged by the command that runs them (`registry import`, the office).
    let runs = r.reg.imports().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].merged.accepted, 5, "{runs:?}");
}

/// The revision lines inside a bundle (decrypted with the registry's key).
fn revision_lines(r: &Reg, bundle: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    pendata::bundle::read::read(bundle, std::slice::from_ref(&r.reg.keys.identity), |item| {
        if let pendata::bundle::read::Item::Revision { raw, .. } = item {
            out.push(raw.to_vec());
        }
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn bad_revisions_are_quarantined_next_to_good_ones_and_the_receipt_says_why() {
    let r = registry();
    let mut t = tablet(2);
    let mut rng = Rng::new(2);
    let good = record(1);
    finalize(&mut t, good, 1, valid_family(&mut rng));
    // A NIK of 15 digits: a real tablet would not finalize this.
    let bad = record(2);
    let mut a = valid_family(&mut rng);
    a["anggota"][0]["nik"] = json!("640101010190000");
    let bad_seq = t.revise(bad, 1, Action::Finalized, a, vec![]);
    // An unacknowledged warning is held too (the tablet's rules were bypassed).
    let b = t.bundle(&r.recipients()).unwrap();
    r.import(&b);
    r.approve(&t);

    assert_eq!(r.state(good), Some(FamilyState::Accepted));
    assert_eq!(r.state(bad), Some(FamilyState::Quarantined));
    let q = r.reg.quarantine(false).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].record, q[0].seq), (bad, bad_seq));
    assert!(
        q[0].reasons.iter().any(|x| x.path == "anggota[0].nik"),
        "{:?}",
        q[0].reasons
    );
    assert!(
        r.reg
            .families_with_nik("640101010190000")
            .unwrap()
            .is_empty()
    );

    let (receipt, accepted, _) = r.reg.receipt(&t.id.to_string(), now()).unwrap();
    assert_eq!(accepted, 1);
    assert_eq!(receipt.rejected.len(), 1);
    assert_eq!(receipt.rejected[0].record, bad);
    assert!(
        receipt.rejected[0].reasons[0]
            .id
            .starts_with("anggota[0].nik")
    );
    assert!(
        !receipt
            .accepted
            .iter()
            .any(|s| s.from <= bad_seq && bad_seq <= s.to)
    );

    // The operator releases it: the family is accepted and the next receipt accepts its position.
    let key = format!("{}:{bad_seq}", &t.id.simple().to_string()[..8]);
    let e = r.reg.decide_quarantine(&key, true, now()).unwrap();
    assert_eq!(e.state, QuarantineState::Released);
    assert_eq!(r.state(bad), Some(FamilyState::Accepted));
    let (receipt, accepted, _) = r.reg.receipt(&t.id.to_string(), now()).unwrap();
    assert_eq!((accepted, receipt.rejected.len()), (2, 0));
    assert!(r.reg.decide_quarantine("zz:1", true, now()).is_err());
    // The release is in the audit trail, with the revision and the family it let in.
    let log = r.reg.audit_log(None).unwrap();
    let last = log.last().unwrap();
    assert_eq!(last.action, "quarantine.release");
    assert!(last.objects.contains(&format!("family:{bad}")), "{last:?}");
}

#[test]
fn a_missing_bundle_is_a_gap_until_it_arrives() {
    let r = registry();
    let mut t = tablet(3);
    let mut rng = Rng::new(3);
    let mut bundles = Vec::new();
    for n in 0..3u128 {
        finalize(&mut t, record(10 + n), 1, valid_family(&mut rng));
        // a draft autosave takes a position too
        t.revise(record(20 + n), 1, Action::Saved, Answers::new(), vec![]);
        bundles.push(t.bundle(&r.recipients()).unwrap());
    }
    r.import(&bundles[0]);
    r.approve(&t);
    r.import(&bundles[2]);
    let gaps = r.reg.gaps().unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!((gaps[0].from, gaps[0].to), (3, 4));
    assert!(!r.reg.attention().unwrap().is_empty());
    r.import(&bundles[1]);
    assert!(r.reg.gaps().unwrap().is_empty());
    assert!(r.reg.attention().unwrap().is_empty());
}

#[test]
fn a_reset_tablet_reusing_its_positions_is_reported_for_an_operator() {
    let r = registry();
    let mut t = tablet(6);
    let mut rng = Rng::new(6);
    finalize(&mut t, record(30), 1, valid_family(&mut rng));
    finalize(&mut t, record(31), 1, valid_family(&mut rng));
    r.import(&t.bundle(&r.recipients()).unwrap());
    r.approve(&t);
    assert_eq!(r.state(record(30)), Some(FamilyState::Accepted));

    // The same tablet, wiped and set up again with its key: its sequence starts over with other families.
    let mut reset = tablet(6);
    finalize(&mut reset, record(40), 1, valid_family(&mut rng));
    finalize(&mut reset, record(41), 1, valid_family(&mut rng));
    finalize(&mut reset, record(42), 1, valid_family(&mut rng));
    let outcome = r.import(&reset.bundle(&r.recipients()).unwrap());
    let FileOutcome::Merged(entry) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (entry.merged.mismatched, entry.merged.accepted),
        (2, 1),
        "positions 1 and 2 differ from what was merged; position 3 is new"
    );
    assert!(
        outcome.needs_operator(),
        "differing copies of a position are for an operator"
    );
    assert!(r.reg.family(record(40)).unwrap().is_none(), "not stored");
    assert_eq!(r.state(record(42)), Some(FamilyState::Accepted));
}

#[test]
fn revoked_devices_and_borrowed_ids_are_refused() {
    let r = registry();
    let mut t = tablet(4);
    let mut rng = Rng::new(4);
    finalize(&mut t, record(1), 1, valid_family(&mut rng));
    r.import(&t.bundle(&r.recipients()).unwrap());
    r.approve(&t);
    // Another tablet claiming the same id with its own key.
    let mut impostor = tablet(5);
    impostor.id = t.id;
    finalize(&mut impostor, record(2), 1, valid_family(&mut rng));
    let FileOutcome::Refused { reason } = r.import(&impostor.bundle(&r.recipients()).unwrap())
    else {
        panic!("a different key under a known id must be refused")
    };
    assert!(reason.contains("another signing key"), "{reason}");
    assert!(r.reg.family(record(2)).unwrap().is_none());

    r.reg.revoke(&t.id.to_string(), now()).unwrap();
    finalize(&mut t, record(3), 1, valid_family(&mut rng));
    let FileOutcome::Refused { reason } = r.import(&t.bundle(&r.recipients()).unwrap()) else {
        panic!("a revoked device must be refused")
    };
    assert!(reason.contains("revoked"), "{reason}");
    assert!(r.reg.family(record(3)).unwrap().is_none());
    assert!(r.reg.approve(&t.id.to_string(), now()).is_err());
    // Files that are not bundles are refused with a reason, not an error.
    assert!(matches!(r.import(b"hello"), FileOutcome::Refused { .. }));
}

/// Gives `b` the same person as `a`'s member `i` (NIK, sex and birth date, so `b` stays valid).
fn share_member(a: &Answers, b: &mut Answers, i: usize) {
    for k in ["nik", "jenis_kelamin", "tanggal_lahir"] {
        b["anggota"][i][k] = a["anggota"][i][k].clone();
    }
}

#[test]
fn shared_niks_and_kk_numbers_are_conflicts_the_operator_decides() {
    let r = registry();
    let (mut t1, mut t2) = (tablet(6), tablet(7));
    let mut rng = Rng::new(6);
    let a = valid_family(&mut rng);
    let mut b = valid_family(&mut rng);
    share_member(&a, &mut b, 0);
    let nik = a["anggota"][0]["nik"].as_str().unwrap().to_string();
    let c = valid_family(&mut rng);
    let mut d = valid_family(&mut rng);
    d["no_kk"] = c["no_kk"].clone();
    let d_nik = d["anggota"][0]["nik"].as_str().unwrap().to_string();
    let d_seq;
    {
        finalize(&mut t1, record(1), 1, a);
        finalize(&mut t1, record(3), 1, c);
        finalize(&mut t2, record(2), 1, b);
        d_seq = finalize(&mut t2, record(4), 1, d);
    }
    for t in [&mut t1, &mut t2] {
        let bytes = t.bundle(&r.recipients()).unwrap();
        r.import(&bytes);
        r.approve(t);
    }
    let open = r.reg.conflicts(false).unwrap();
    let kinds: BTreeSet<(ConflictKind, String)> =
        open.iter().map(|c| (c.kind, c.key.clone())).collect();
    assert!(
        kinds.contains(&(ConflictKind::SharedNik, nik.clone())),
        "{open:?}"
    );
    assert!(open.iter().any(|c| c.kind == ConflictKind::SharedKk));
    for n in 1..=4 {
        assert_eq!(
            r.state(record(n)),
            Some(FamilyState::Conflict),
            "family {n}"
        );
    }
    // Held for the decision: neither accepted nor rejected in the receipt.
    let (receipt, _, held) = r.reg.receipt(&t2.id.to_string(), now()).unwrap();
    assert_eq!(held, 2);
    assert!(receipt.rejected.is_empty());

    let nik_conflict = open
        .iter()
        .find(|c| c.kind == ConflictKind::SharedNik)
        .unwrap();
    r.reg.distinct(nik_conflict.id, now()).unwrap();
    assert_eq!(r.state(record(1)), Some(FamilyState::Accepted));
    assert_eq!(r.state(record(2)), Some(FamilyState::Accepted));

    let kk_conflict = open
        .iter()
        .find(|c| c.kind == ConflictKind::SharedKk)
        .unwrap();
    let keep = kk_conflict
        .members
        .iter()
        .position(|m| m.record == record(3))
        .unwrap();
    assert_eq!(r.reg.families_with_nik(&d_nik).unwrap(), vec![record(4)]);
    r.reg.keep(kk_conflict.id, keep + 1, now()).unwrap();
    assert_eq!(r.state(record(3)), Some(FamilyState::Accepted));
    assert_eq!(r.state(record(4)), Some(FamilyState::Quarantined));
    // The overruled family's numbers leave the indexes with the decision.
    assert!(r.reg.families_with_nik(&d_nik).unwrap().is_empty());
    assert!(r.reg.conflicts(false).unwrap().is_empty());
    let (receipt, _, held) = r.reg.receipt(&t2.id.to_string(), now()).unwrap();
    assert_eq!(held, 0);
    assert_eq!(receipt.rejected.len(), 1);
    assert_eq!(receipt.rejected[0].seq, d_seq);
    assert!(
        receipt.rejected[0].reasons[0]
            .en
            .contains("already registered")
    );
    // Deciding twice, or a conflict that does not exist, is refused.
    assert!(r.reg.distinct(nik_conflict.id, now()).is_err());
    assert!(r.reg.keep(999, 1, now()).is_err());

    // A later revision that no longer shares the NIK leaves no conflict behind; one that shares it
    // with a third family opens a new one (the earlier decision covered two families only).
    let a_again = r.reg.family(record(1)).unwrap().unwrap();
    assert!(a_again.niks.contains(&nik));
    let mut t3 = tablet(8);
    let mut f = valid_family(&mut rng);
    share_member(&read_answers(&r, record(1)), &mut f, 0);
    finalize(&mut t3, record(5), 1, f);
    r.import(&t3.bundle(&r.recipients()).unwrap());
    r.approve(&t3);
    let reopened = r.reg.conflicts(false).unwrap();
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].members.len(), 3);
}

fn read_answers(r: &Reg, id: Uuid) -> Answers {
    let mut out = None;
    r.reg
        .for_each_family(|f, rev| {
            if f.family.record == id {
                out = Some(rev.answers.clone());
            }
            Ok(())
        })
        .unwrap();
    out.unwrap()
}

#[test]
fn one_family_revised_on_two_devices_is_a_conflict_until_one_revision_is_kept() {
    let r = registry();
    let (mut t1, mut t2) = (tablet(9), tablet(10));
    let mut rng = Rng::new(9);
    let a = valid_family(&mut rng);
    finalize(&mut t1, record(1), 1, a.clone());
    let mut a2 = a.clone();
    a2["alamat"] = json!("Jl. Baru 2");
    t2.clock = t1.clock + chrono::Duration::hours(1);
    finalize(&mut t2, record(1), 2, a2);
    for t in [&mut t1, &mut t2] {
        let bytes = t.bundle(&r.recipients()).unwrap();
        r.import(&bytes);
        r.approve(t);
    }
    let open = r.reg.conflicts(false).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, ConflictKind::TwoDevices);
    assert_eq!(r.state(record(1)), Some(FamilyState::Conflict));
    let keep = open[0]
        .members
        .iter()
        .position(|m| m.device == t1.id)
        .unwrap();
    r.reg.keep(open[0].id, keep + 1, now()).unwrap();
    let f = r.reg.family(record(1)).unwrap().unwrap();
    assert_eq!(
        (f.family.state, f.family.device),
        (FamilyState::Accepted, t1.id)
    );
    let (receipt, _, _) = r.reg.receipt(&t2.id.to_string(), now()).unwrap();
    assert_eq!(receipt.rejected.len(), 1);
    assert!(r.reg.conflicts(false).unwrap().is_empty());
}

/// A canonical picture of a registry's state, independent of the order things arrived in.
#[derive(Debug, PartialEq)]
struct Picture {
    families: BTreeMap<Uuid, (FamilyState, Uuid, u32, Vec<String>)>,
    conflicts: BTreeSet<(ConflictKind, String, Vec<(Uuid, Uuid, u32)>)>,
    quarantine: BTreeSet<(Uuid, u64)>,
    coverage: BTreeMap<Uuid, Vec<(u64, u64)>>,
    /// Every NIK of a family and the families the index finds for it.
    nik_index: BTreeMap<String, Vec<Uuid>>,
}

fn picture(r: &Reg) -> Picture {
    let mut families = BTreeMap::new();
    r.reg
        .family_entries(|f| {
            families.insert(
                f.family.record,
                (
                    f.family.state,
                    f.family.device,
                    f.family.revision,
                    f.niks.clone(),
                ),
            );
        })
        .unwrap();
    let conflicts = r
        .reg
        .conflicts(false)
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.kind,
                c.key,
                c.members
                    .iter()
                    .map(|m| (m.record, m.device, m.revision))
                    .collect(),
            )
        })
        .collect();
    let quarantine = r
        .reg
        .quarantine(false)
        .unwrap()
        .into_iter()
        .map(|q| (q.device, q.seq))
        .collect();
    let coverage = r
        .reg
        .devices()
        .unwrap()
        .into_iter()
        .map(|d| {
            (
                d.id,
                r.reg
                    .coverage(d.id)
                    .unwrap()
                    .iter()
                    .map(|s| (s.from, s.to))
                    .collect(),
            )
        })
        .collect();
    let nik_index = families
        .values()
        .flat_map(|(_, _, _, niks)| niks.iter())
        .map(|nik| (nik.clone(), r.reg.families_with_nik(nik).unwrap()))
        .collect();
    Picture {
        nik_index,
        families,
        conflicts,
        quarantine,
        coverage,
    }
}

#[test]
fn many_devices_many_bundles_in_shuffled_order_with_repeats_end_in_the_same_state() {
    // 4 tablets, 3 bundles each: new families, corrections and re-finalizations, a NIK shared across
    // tablets, a bad revision, a family touched by two tablets.
    let recipients = vec![
        registry::load(&shared_key_dir())
            .unwrap()
            .identity
            .to_public(),
    ];
    let mut rng = Rng::new(42);
    let mut tablets: Vec<SynthTablet> = (0..4).map(|n| tablet(20 + n)).collect();
    let mut bundles: Vec<Vec<u8>> = Vec::new();
    let mut shared = valid_family(&mut rng);
    let mut next = 100u128;
    for round in 0..3 {
        for (ti, t) in tablets.iter_mut().enumerate() {
            for _ in 0..4 {
                next += 1;
                let mut fam = valid_family(&mut rng);
                if next.is_multiple_of(7) {
                    share_member(&shared, &mut fam, 0);
                }
                finalize(t, record(next), 1, fam.clone());
                if next.is_multiple_of(3) {
                    // corrected and finalized again in the same round
                    t.revise(record(next), 2, Action::Corrected, fam.clone(), vec![]);
                    fam["alamat"] = json!(format!("Jl. Koreksi {next}"));
                    finalize(t, record(next), 3, fam);
                }
            }
            if ti == 1 && round == 1 {
                let mut bad = valid_family(&mut rng);
                bad["anggota"][0]["nik"] = json!("12");
                t.revise(record(9000), 1, Action::Finalized, bad, vec![]);
            }
            if round == 2 && ti >= 2 {
                // tablets 2 and 3 both revise family 9001
                let fam = std::mem::replace(&mut shared, valid_family(&mut rng));
                finalize(t, record(9001), ti as u32, fam);
            }
            bundles.push(t.bundle(&recipients).unwrap());
        }
    }

    let in_order = registry_with_same_keys(&bundles, &(0..bundles.len()).collect::<Vec<_>>());
    let expected = picture(&in_order);
    assert!(expected.families.len() > 40);
    assert!(!expected.conflicts.is_empty());
    assert!(expected.nik_index.values().any(|records| records.len() > 1));
    assert_eq!(expected.quarantine.len(), 1);

    let mut order_rng = Rng::new(7);
    for round in 0..4 {
        let mut order: Vec<usize> = (0..bundles.len()).collect();
        for i in (1..order.len()).rev() {
            let j = order_rng.range(0, i as i64) as usize;
            order.swap(i, j);
        }
        // repeats: some bundles twice
        let extra: Vec<usize> = order.iter().step_by(3 + round).copied().collect();
        order.extend(extra);
        let other = registry_with_same_keys(&bundles, &order);
        assert_eq!(picture(&other), expected, "order {order:?}");
        // The same files in one `registry import` (one transaction for them all, or one per file): a
        // file repeated within the import is recognised as merged, and every outcome is reported
        // once, in order.
        let one = one_import(&bundles, &order, &tablets, round % 2 == 1);
        assert_eq!(picture(&one), expected, "one import, order {order:?}");
    }
}

/// All `order`'s bundles in one `import_files` call, as files (repeats under other names), the tablets
/// enrolled before.
/// `save_every_file`: a transaction per file instead of one for them all.
fn one_import(
    bundles: &[Vec<u8>],
    order: &[usize],
    tablets: &[SynthTablet],
    save_every_file: bool,
) -> Reg {
    let mut r = registry_with_same_keys(&[], &[]);
    if save_every_file {
        r.reg.save_every = std::time::Duration::ZERO;
    }
    for t in tablets {
        let key = pendata::bundle::hex(t.key.verifying_key().as_bytes());
        r.reg.enrol(t.id, &t.name, &key, now()).unwrap();
    }
    let dir = r._tmp.path().join("stick");
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<PathBuf> = order
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let f = dir.join(format!("{k:03}-{i}.age"));
            std::fs::write(&f, &bundles[i]).unwrap();
            f
        })
        .collect();
    let mut told = Vec::new();
    let outcomes = r
        .reg
        .import_files(&files, now(), |i, f, o| {
            assert_eq!(f, files[i].as_path());
            told.push((i, o.clone()));
        })
        .unwrap();
    assert_eq!(outcomes.len(), files.len());
    assert_eq!(
        told.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..files.len()).collect::<Vec<_>>(),
        "each file told once, in order"
    );
    let mut first = BTreeSet::new();
    for (k, (&i, o)) in order.iter().zip(&outcomes).enumerate() {
        assert_eq!(&told[k].1, o);
        if first.insert(i) {
            assert!(matches!(o, FileOutcome::Merged(_)), "{k}: {o:?}");
        } else {
            assert!(
                matches!(o, FileOutcome::AlreadyImported { .. }),
                "{k}: {o:?}"
            );
        }
    }
    r
}

/// Bundles are encrypted to one registry's key; the shuffled imports need registries that share it.
fn registry_with_same_keys(bundles: &[Vec<u8>], order: &[usize]) -> Reg {
    every_bundle_once_at_least(order, bundles.len());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    copy_keys(&shared_key_dir(), &dir);
    let reg = Registry::open(&dir).unwrap();
    let r = Reg { _tmp: tmp, reg };
    for &i in order {
        if let FileOutcome::Held { device, .. } = r.import(&bundles[i]) {
            r.reg.approve(&device.id.to_string(), now()).unwrap();
        }
    }
    r
}

fn every_bundle_once_at_least(order: &[usize], n: usize) {
    let seen: BTreeSet<usize> = order.iter().copied().collect();
    assert_eq!(seen.len(), n, "every bundle appears at least once");
}

/// One registry key folder shared by the tests that need several registries with the same key.
fn shared_key_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        registry::init(&t.path().join("keys"), "Kaltim", now()).unwrap();
        t
    })
    .path()
    .join("keys")
}

fn copy_keys(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("keys")).unwrap();
    for f in [
        "registry.pub",
        "keys/registry-age.key",
        "keys/registry-signing.pem",
    ] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

/// A store of format 1 kept its NIK and KK indexes as multimaps keyed by text; opening it with this
/// build rebuilds them as format 2's number-keyed tables from the family entries (format 3 then adds
/// the package tables), and the merge goes on finding shared numbers in it.
#[test]
fn a_format_1_store_gets_its_nik_and_kk_indexes_rebuilt() {
    use redb::{MultimapTableDefinition, ReadableDatabase, TableDefinition};
    let r = registry();
    let dir = r._tmp.path().join("registry");
    let (mut t1, mut t2) = (tablet(16), tablet(17));
    let mut rng = Rng::new(16);
    let a = valid_family(&mut rng);
    let mut b = valid_family(&mut rng);
    share_member(&a, &mut b, 0);
    let nik = a["anggota"][0]["nik"].as_str().unwrap().to_string();
    let kk = a["no_kk"].as_str().unwrap().to_string();
    finalize(&mut t1, record(31), 1, a);
    let bytes = t1.bundle(&r.recipients()).unwrap();
    r.import(&bytes);
    r.approve(&t1);
    assert_eq!(r.reg.families_with_nik(&nik).unwrap(), vec![record(31)]);
    let Reg { _tmp, reg } = r;
    drop(reg);

    // Turn the store into format 1: the old multimaps with the same contents, the new tables gone.
    let meta: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
    let niks_v1: MultimapTableDefinition<&str, u128> = MultimapTableDefinition::new("niks");
    let kks_v1: MultimapTableDefinition<&str, u128> = MultimapTableDefinition::new("kks");
    let path = dir.join("registry.redb");
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let nik_index: TableDefinition<(u64, u128), ()> = TableDefinition::new("nik_index");
            let kk_index: TableDefinition<(u64, u128), ()> = TableDefinition::new("kk_index");
            assert!(txn.delete_table(nik_index).unwrap());
            assert!(txn.delete_table(kk_index).unwrap());
            let mut n = txn.open_multimap_table(niks_v1).unwrap();
            n.insert(nik.as_str(), record(31).as_u128()).unwrap();
            let mut k = txn.open_multimap_table(kks_v1).unwrap();
            k.insert(kk.as_str(), record(31).as_u128()).unwrap();
            txn.open_table(meta)
                .unwrap()
                .insert("format_version", b"1".as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }

    let reg = Registry::open(&dir).unwrap();
    assert_eq!(reg.families_with_nik(&nik).unwrap(), vec![record(31)]);
    // The rebuilt index finds the NIK when another tablet's family shares it.
    finalize(&mut t2, record(32), 1, b);
    let bytes = t2
        .bundle(std::slice::from_ref(&reg.keys.identity.to_public()))
        .unwrap();
    reg.import_bytes(&bytes, "t2.age", now()).unwrap();
    reg.approve(&t2.id.simple().to_string(), now()).unwrap();
    let mut with = reg.families_with_nik(&nik).unwrap();
    with.sort();
    assert_eq!(with, vec![record(31), record(32)]);
    assert!(
        reg.conflicts(false)
            .unwrap()
            .iter()
            .any(|c| c.kind == ConflictKind::SharedNik && c.key == nik)
    );
    drop(reg);
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let version = txn
        .open_table(meta)
        .unwrap()
        .get("format_version")
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    assert_eq!(version, b"6");
    assert!(
        txn.open_multimap_table(niks_v1).is_err(),
        "the old index is gone"
    );
}

#[test]
fn a_file_that_cannot_be_read_is_refused_with_its_reason_and_the_others_are_merged() {
    // A file gone (a stick pulled out, a name that vanished): refused with its reason, the files
    // after it still merged and saved; run again, the missing file's bundle is merged too.
    let r = registry();
    let mut rng = Rng::new(11);
    let mut t = tablet(70);
    let key = pendata::bundle::hex(t.key.verifying_key().as_bytes());
    r.reg.enrol(t.id, &t.name, &key, now()).unwrap();
    let dir = r._tmp.path().join("stick");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for b in 0..3u128 {
        finalize(&mut t, record(700 + b), 1, valid_family(&mut rng));
        let f = dir.join(format!("{b}.age"));
        std::fs::write(&f, t.bundle(&r.recipients()).unwrap()).unwrap();
        files.push(f);
    }
    let mut with_gap = files.clone();
    with_gap.insert(2, dir.join("pulled-out.age"));
    let mut told = Vec::new();
    let outcomes = r
        .reg
        .import_files(&with_gap, now(), |i, _, o| told.push((i, o.clone())))
        .unwrap();
    assert_eq!(told.len(), 4, "every file is told once it is saved");
    let FileOutcome::Refused { reason } = &outcomes[2] else {
        panic!("{:?}", outcomes[2])
    };
    assert!(reason.contains("cannot be read"), "{reason}");
    for i in [0, 1, 3] {
        assert!(matches!(outcomes[i], FileOutcome::Merged(_)), "{i}");
    }
    for n in 700..703 {
        assert_eq!(r.state(record(n)), Some(FamilyState::Accepted));
    }
    let again = r.reg.import_files(&files, now(), |_, _, _| {}).unwrap();
    assert!(
        again
            .iter()
            .all(|o| matches!(o, FileOutcome::AlreadyImported { .. }))
    );
}

/// The registry's hash of a family's current revision: what a work package gives as a visit's base.
fn base_of(reg: &Registry, family: Uuid) -> String {
    use pendata::registry::storage::Storage;
    let mut hash = None;
    reg.db
        .families_with_revisions(|f, rev| {
            if f.family.record == family {
                hash = Some(registry::package::revision_hash(rev));
            }
            Ok(())
        })
        .unwrap();
    hash.unwrap()
}

/// Visits (revisions of registry families with their base) merge as updates of those families,
/// whatever the order of the bundles; a visit whose family changed since its base is an update
/// conflict, the same in every order; no family is duplicated and no NIK or KK conflicts with itself.
#[test]
fn visits_merge_as_updates_in_any_order_and_a_stale_base_is_an_update_conflict() {
    let (r1, r2) = (registry(), registry());
    let both: Vec<_> = r1.recipients().into_iter().chain(r2.recipients()).collect();
    let mut rng = Rng::new(41);
    let (x, y) = (record(501), record(502));
    let mut t1 = tablet(51);
    let (ax, ay) = (valid_family(&mut rng), valid_family(&mut rng));
    finalize(&mut t1, x, 1, ax.clone());
    finalize(&mut t1, y, 1, ay.clone());
    let b1 = t1.bundle(&both).unwrap();
    // The package's bases, from the registry that has the families.
    r1.import(&b1);
    r1.approve(&t1);
    let (hx, hy) = (base_of(&r1.reg, x), base_of(&r1.reg, y));

    // Tablet 52 visits both families from the package.
    let mut t2 = tablet(52);
    let package = Uuid::from_u128(77);
    let visit = |family: Uuid, base: &str, mut a: Answers| {
        a.insert("id_keluarga_daftar".into(), json!(family.to_string()));
        a.insert("tanggal_kunjungan".into(), json!("2026-11-20"));
        a.insert("status_kunjungan".into(), json!("1"));
        a.insert("alamat".into(), json!("Jl. Kunjungan"));
        (
            pendata::model::record::VisitBase {
                family,
                revision: base.to_string(),
                package,
            },
            a,
        )
    };
    for (family, base, answers) in [(x, &hx, ax), (y, &hy, ay.clone())] {
        let (b, a) = visit(family, base, answers);
        t2.visit = Some(b);
        finalize(&mut t2, family, 2, a);
    }
    let b2 = t2.bundle(&both).unwrap();
    // Meanwhile tablet 51 corrects family y: the visit of y started from an older version.
    let mut corrected = ay;
    corrected.insert("alamat".into(), json!("Jl. Koreksi"));
    finalize(&mut t1, y, 2, corrected);
    let b3 = t1.bundle(&both).unwrap();

    r1.import(&b3);
    r1.import(&b2);
    r1.approve(&t2);
    r2.import(&b2);
    r2.import(&b3);
    r2.approve(&t2);
    r2.import(&b1);
    r2.approve(&t1);

    for r in [&r1, &r2] {
        let fx = r.reg.family(x).unwrap().unwrap();
        assert_eq!(fx.family.device, t2.id, "the visit is x's version now");
        assert_eq!(fx.family.state, FamilyState::Accepted);
        assert_eq!(r.state(y), Some(FamilyState::Conflict));
        let conflicts = r.reg.conflicts(false).unwrap();
        let kinds: Vec<_> = conflicts.iter().map(|c| (c.kind, c.key.clone())).collect();
        assert_eq!(kinds, vec![(ConflictKind::Update, y.to_string())]);
        let mut families = 0;
        r.reg.family_entries(|_| families += 1).unwrap();
        assert_eq!(families, 2);
    }
    let picture = |r: &Reg| {
        let fam = |id| {
            let f = r.reg.family(id).unwrap().unwrap().family;
            (f.device, f.seq, f.state)
        };
        let conflicts: Vec<_> = r
            .reg
            .conflicts(false)
            .unwrap()
            .into_iter()
            .map(|c| (c.kind, c.key, c.members))
            .collect();
        (fam(x), fam(y), conflicts)
    };
    assert_eq!(
        picture(&r1),
        picture(&r2),
        "the order of bundles does not matter"
    );

    // The operator keeps the visit of y: it becomes y's version.
    let c = r1.reg.conflicts(false).unwrap().remove(0);
    let n = c.members.iter().position(|m| m.device == t2.id).unwrap() + 1;
    r1.reg.keep(c.id, n, now()).unwrap();
    let fy = r1.reg.family(y).unwrap().unwrap();
    assert_eq!(
        (fy.family.device, fy.family.state),
        (t2.id, FamilyState::Accepted)
    );
}

/// The address of a family's current revision at the registry.
fn address_of(reg: &Registry, family: Uuid) -> String {
    use pendata::registry::storage::Storage;
    let mut out = String::new();
    reg.db
        .families_with_revisions(|f, rev| {
            if f.family.record == family {
                out = rev.answers["alamat"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
            }
            Ok(())
        })
        .unwrap();
    out
}

/// A family entered as new on another tablet (its KK and NIKs those of a registry family) is merged as
/// an update of the registry's family when the operator says it is the same family: one family, with
/// the newer answers; that tablet's later corrections keep updating it.
#[test]
fn a_family_entered_again_as_new_is_merged_as_an_update_of_the_registry_family() {
    let r = registry();
    let mut rng = Rng::new(43);
    let (x, z) = (record(601), record(602));
    let mut t1 = tablet(61);
    let ax = valid_family(&mut rng);
    finalize(&mut t1, x, 1, ax.clone());
    r.import(&t1.bundle(&r.recipients()).unwrap());
    r.approve(&t1);
    let mut t2 = tablet(62);
    let mut az = ax;
    az.insert("alamat".into(), json!("Jl. Pindahan 2"));
    finalize(&mut t2, z, 1, az.clone());
    r.import(&t2.bundle(&r.recipients()).unwrap());
    r.approve(&t2);
    let open = r.reg.conflicts(false).unwrap();
    assert!(!open.is_empty());
    assert!(
        open.iter()
            .all(|c| matches!(c.kind, ConflictKind::SharedNik | ConflictKind::SharedKk))
    );
    let c = open
        .iter()
        .find(|c| c.kind == ConflictKind::SharedKk)
        .unwrap();
    let n = c.members.iter().position(|m| m.record == x).unwrap() + 1;
    r.reg.same(c.id, n, now()).unwrap();

    assert!(
        r.reg.conflicts(false).unwrap().is_empty(),
        "every shared number was this family's"
    );
    let mut families = 0;
    r.reg.family_entries(|_| families += 1).unwrap();
    assert_eq!(families, 1, "no family added");
    assert!(r.reg.family(z).unwrap().is_none());
    let fx = r.reg.family(x).unwrap().unwrap().family;
    assert_eq!((fx.device, fx.state), (t2.id, FamilyState::Accepted));
    assert_eq!(address_of(&r.reg, x), "Jl. Pindahan 2");

    // The second tablet corrects its family later: the registry's family follows.
    az.insert("alamat".into(), json!("Jl. Pindahan 3"));
    finalize(&mut t2, z, 2, az);
    r.import(&t2.bundle(&r.recipients()).unwrap());
    assert!(r.reg.conflicts(false).unwrap().is_empty());
    assert_eq!(address_of(&r.reg, x), "Jl. Pindahan 3");
    assert_eq!(r.state(x), Some(FamilyState::Accepted));
}

/// Two tablets visiting the same family from the same version: neither becomes the family's version
/// by itself; an update conflict holds both for the operator, and the family stays one family.
#[test]
fn two_visits_of_the_same_version_are_an_update_conflict() {
    let r = registry();
    let mut rng = Rng::new(47);
    let x = record(701);
    let mut t1 = tablet(71);
    let ax = valid_family(&mut rng);
    finalize(&mut t1, x, 1, ax.clone());
    r.import(&t1.bundle(&r.recipients()).unwrap());
    r.approve(&t1);
    let base = base_of(&r.reg, x);
    for n in [72, 73] {
        let mut t = tablet(n);
        let mut a = ax.clone();
        a.insert("id_keluarga_daftar".into(), json!(x.to_string()));
        a.insert("tanggal_kunjungan".into(), json!("2026-11-20"));
        a.insert("status_kunjungan".into(), json!("1"));
        t.visit = Some(pendata::model::record::VisitBase {
            family: x,
            revision: base.clone(),
            package: Uuid::from_u128(u128::from(n)),
        });
        finalize(&mut t, x, 2, a);
        r.import(&t.bundle(&r.recipients()).unwrap());
        r.approve(&t);
    }
    let conflicts = r.reg.conflicts(false).unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].kind, ConflictKind::Update);
    let devices: BTreeSet<Uuid> = conflicts[0].members.iter().map(|m| m.device).collect();
    assert_eq!(devices, [t1.id, tablet(72).id, tablet(73).id].into());
    assert_eq!(r.state(x), Some(FamilyState::Conflict));
    let mut families = 0;
    r.reg.family_entries(|_| families += 1).unwrap();
    assert_eq!(families, 1);
}

/// The families of a desa a package for it lists.
fn packaged(reg: &Registry, device: Uuid, desa: &str, to: &Path) -> BTreeSet<Uuid> {
    // Each package into a folder of its own (two written in the same second have the same name).
    let to = &to.join(Uuid::now_v7().simple().to_string());
    std::fs::create_dir_all(to).unwrap();
    let desa = vec![desa.to_string()];
    let req = registry::package::PackageRequest {
        device: &device.simple().to_string(),
        desa: &desa,
        to,
        due: None,
        note: None,
        reassign: true,
    };
    let written = reg.write_package(&req, now()).unwrap();
    written.entry.families.iter().map(|(f, _)| *f).collect()
}

#[test]
fn a_format_3_store_gets_its_desa_index_and_a_package_lists_only_its_desa_families() {
    use redb::{ReadableDatabase, TableDefinition};
    let r = registry();
    let dir = r._tmp.path().join("registry");
    let to = r._tmp.path().join("stick");
    std::fs::create_dir_all(&to).unwrap();
    let mut t = tablet(18);
    t.age_recipient = Some(age::x25519::Identity::generate().to_public().to_string());
    let mut rng = Rng::new(18);
    let mut made: Vec<(Uuid, Answers)> = Vec::new();
    let desa_of = |a: &Answers| a["wilayah_desa"].as_str().unwrap().to_string();
    // Families of two desa at least: the first family's desa, and another one.
    while made.len() < 6 || made.iter().all(|(_, a)| desa_of(a) == desa_of(&made[0].1)) {
        let a = valid_family(&mut rng);
        let id = record(40 + made.len() as u128);
        finalize(&mut t, id, 1, a.clone());
        made.push((id, a));
    }
    let home = desa_of(&made[0].1);
    let (moved, other) = made
        .iter()
        .find(|(_, a)| desa_of(a) != home)
        .map(|(id, a)| (*id, a.clone()))
        .unwrap();
    let of_home: BTreeSet<Uuid> = made
        .iter()
        .filter(|(_, a)| desa_of(a) == home)
        .map(|(id, _)| *id)
        .collect();
    r.import(&t.bundle(&r.recipients()).unwrap());
    r.approve(&t);
    let Reg { _tmp, reg } = r;
    drop(reg);

    // Turn the store into format 3: the desa index gone.
    let meta: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
    let path = dir.join("registry.redb");
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let desa_index: TableDefinition<(u64, u128), ()> = TableDefinition::new("desa_index");
            assert!(txn.delete_table(desa_index).unwrap());
            txn.open_table(meta)
                .unwrap()
                .insert("format_version", b"3".as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }

    let reg = Registry::open(&dir).unwrap();
    assert_eq!(packaged(&reg, t.id, &home, &to), of_home);
    // Dotted or digits only, the same desa.
    assert_eq!(packaged(&reg, t.id, &home.replace('.', ""), &to), of_home);

    // A correction that moves a family to the first family's desa: the index follows it.
    let mut corrected = other.clone();
    for k in ["wilayah_kabkota", "wilayah_kecamatan", "wilayah_desa"] {
        corrected[k] = made[0].1[k].clone();
    }
    finalize(&mut t, moved, 2, corrected);
    let out = reg
        .import_bytes(
            &t.bundle(std::slice::from_ref(&reg.keys.identity.to_public()))
                .unwrap(),
            "t.age",
            now(),
        )
        .unwrap();
    assert!(matches!(out, FileOutcome::Merged(_)), "{out:?}");
    let mut with_moved = of_home.clone();
    with_moved.insert(moved);
    assert_eq!(packaged(&reg, t.id, &home, &to), with_moved);
    let old = desa_of(&other);
    assert!(
        !packaged_or_none(&reg, t.id, &old, &to).contains(&moved),
        "the family moved out of desa {old}"
    );
    drop(reg);
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let version = txn
        .open_table(meta)
        .unwrap()
        .get("format_version")
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    assert_eq!(version, b"6");
}

/// Like `packaged`, but a desa left without accepted families gives none (the registry refuses to
/// write an empty package).
fn packaged_or_none(reg: &Registry, device: Uuid, desa: &str, to: &Path) -> BTreeSet<Uuid> {
    // Each package into a folder of its own (two written in the same second have the same name).
    let to = &to.join(Uuid::now_v7().simple().to_string());
    std::fs::create_dir_all(to).unwrap();
    let desa_list = vec![desa.to_string()];
    let req = registry::package::PackageRequest {
        device: &device.simple().to_string(),
        desa: &desa_list,
        to,
        due: None,
        note: None,
        reassign: true,
    };
    match reg.write_package(&req, now()) {
        Ok(w) => w.entry.families.iter().map(|(f, _)| *f).collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// Makes a family's entry one written before entries kept their revision's hash.
fn forget_hash(reg: &Registry, id: Uuid) {
    use pendata::registry::storage::{Storage, Tables, Transaction};
    let txn = reg.db.begin().unwrap();
    {
        let mut rows = txn.tables().unwrap();
        let mut e = rows.family(id.as_u128()).unwrap().unwrap();
        assert!(e.revision_hash.is_some(), "the merge kept the hash");
        e.revision_hash = None;
        rows.put_family(id.as_u128(), &e).unwrap();
    }
    txn.commit().unwrap();
}

/// A family's entry and its current revision as stored.
fn current(reg: &Registry, id: Uuid) -> (registry::FamilyEntry, pendata::model::record::Revision) {
    use pendata::registry::storage::Storage;
    let e = reg.family(id).unwrap().unwrap();
    let stored = reg
        .db
        .stored_revision(e.family.device, e.family.seq)
        .unwrap()
        .unwrap();
    (e, stored)
}

/// A package carries each family's current answers as the registry stored them and, as the base of a
/// visit, the hash of that revision: kept in the family's entry by the merge, or worked out from the
/// revision for an entry written before entries kept it. Visits based on either merge as updates, and
/// the package's progress counts them.
#[test]
fn a_package_carries_the_stored_answers_and_the_hash_of_the_current_revision() {
    let r = registry();
    let to = r._tmp.path().join("stick");
    std::fs::create_dir_all(&to).unwrap();
    let mut t = tablet(19);
    let identity = age::x25519::Identity::generate();
    t.age_recipient = Some(identity.to_public().to_string());
    let mut rng = Rng::new(19);
    let first = valid_family(&mut rng);
    let mut made = vec![(record(60), first.clone())];
    for n in 61..63 {
        let mut a = valid_family(&mut rng);
        for k in ["wilayah_kabkota", "wilayah_kecamatan", "wilayah_desa"] {
            a[k] = first[k].clone();
        }
        made.push((record(n), a));
    }
    for (id, a) in &made {
        finalize(&mut t, *id, 1, a.clone());
    }
    r.import(&t.bundle(&r.recipients()).unwrap());
    r.approve(&t);
    // The last family's entry as one written before entries kept their revision's hash.
    let old = made[2].0;
    forget_hash(&r.reg, old);
    let desa = first["wilayah_desa"].as_str().unwrap().to_string();
    let req = registry::package::PackageRequest {
        device: &t.id.simple().to_string(),
        desa: std::slice::from_ref(&desa),
        to: &to,
        due: None,
        note: None,
        reassign: false,
    };
    let written = r.reg.write_package(&req, now()).unwrap();
    let package = pendata::bundle::package::Package::open(
        &std::fs::read(&written.path).unwrap(),
        &identity,
        &r.reg.keys.signing.verifying_key(),
    )
    .unwrap();
    assert_eq!(package.families.len(), 3);
    for f in &package.families {
        let (e, stored) = current(&r.reg, f.family);
        assert_eq!(f.answers, stored.answers, "the stored answers, as they are");
        assert_eq!(
            (&f.form_id, f.form_version),
            (&stored.form_id, stored.form_version)
        );
        assert_eq!(f.base, registry::package::revision_hash(&stored));
        if f.family == old {
            assert_eq!(e.revision_hash, None);
        } else {
            assert_eq!(e.revision_hash.as_ref(), Some(&f.base));
        }
    }

    // Visits of the family whose entry kept the hash and of the one whose entry did not.
    let mut v = tablet(20);
    for f in package.families.iter().filter(|f| f.family != made[1].0) {
        let mut a = f.answers.clone();
        a.insert("id_keluarga_daftar".into(), json!(f.family.to_string()));
        a.insert("tanggal_kunjungan".into(), json!("2026-11-20"));
        a.insert("status_kunjungan".into(), json!("1"));
        a.insert("alamat".into(), json!("Jl. Kunjungan 1"));
        v.visit = Some(pendata::model::record::VisitBase {
            family: f.family,
            revision: f.base.clone(),
            package: package.package_id,
        });
        finalize(&mut v, f.family, 2, a);
    }
    v.visit = None;
    r.import(&v.bundle(&r.recipients()).unwrap());
    r.approve(&v);
    assert!(
        r.reg.conflicts(false).unwrap().is_empty(),
        "updates, not conflicts"
    );
    for id in [made[0].0, old] {
        let (e, stored) = current(&r.reg, id);
        assert_eq!(
            (e.family.device, e.family.state),
            (v.id, FamilyState::Accepted)
        );
        assert_eq!(stored.answers["alamat"], json!("Jl. Kunjungan 1"));
        assert_eq!(
            e.revision_hash,
            Some(registry::package::revision_hash(&stored)),
            "the visit's hash kept for the next package"
        );
    }
    let progress = r.reg.package_progress(&written.entry).unwrap();
    assert_eq!((progress.visited, progress.total), (2, 3));
    assert_eq!(progress.desa.get(&desa), Some(&(2, 3)));
}

/// A kabupaten's packages in one call (`write_packages`, three threads overlapping the packages):
/// each is what `write_package` writes for its desa and device — its own file, encrypted to that
/// device alone, its families recorded as in it — and a batch naming a desa twice is refused before
/// anything is written.
#[test]
fn packages_written_in_one_call_are_each_their_own_package() {
    use pendata::bundle::package::Package;
    use registry::package::PackageRequest;
    let r = registry();
    let to = r._tmp.path().join("stick");
    std::fs::create_dir_all(&to).unwrap();
    let mut devices: Vec<(SynthTablet, age::x25519::Identity)> = [21, 22]
        .into_iter()
        .map(|n| {
            let mut t = tablet(n);
            let identity = age::x25519::Identity::generate();
            t.age_recipient = Some(identity.to_public().to_string());
            (t, identity)
        })
        .collect();
    let desa_of = |a: &Answers| a["wilayah_desa"].as_str().unwrap().to_string();
    let mut rng = Rng::new(21);
    let mut made: Vec<(Uuid, Answers)> = Vec::new();
    // Families of two desa at least, from both devices (each tells the registry its key).
    while made.len() < 6 || made.iter().all(|(_, a)| desa_of(a) == desa_of(&made[0].1)) {
        let a = valid_family(&mut rng);
        let id = record(80 + made.len() as u128);
        finalize(&mut devices[made.len() % 2].0, id, 1, a.clone());
        made.push((id, a));
    }
    for (t, _) in &mut devices {
        r.import(&t.bundle(&r.recipients()).unwrap());
        r.approve(t);
    }
    let home = desa_of(&made[0].1);
    let other = made
        .iter()
        .map(|(_, a)| desa_of(a))
        .find(|d| *d != home)
        .unwrap();
    let of_desa = |d: &str| -> BTreeSet<Uuid> {
        made.iter()
            .filter(|(_, a)| desa_of(a) == d)
            .map(|(id, _)| *id)
            .collect()
    };
    let ids: Vec<String> = devices
        .iter()
        .map(|(t, _)| t.id.simple().to_string())
        .collect();
    let desa = [vec![home.clone()], vec![other.clone()]];
    let req = |i: usize| PackageRequest {
        device: &ids[i],
        desa: &desa[i],
        to: &to,
        due: None,
        note: None,
        reassign: false,
    };

    let twice = [
        req(0),
        PackageRequest {
            desa: &desa[0],
            ..req(1)
        },
    ];
    let e = r.reg.write_packages(&twice, now()).unwrap_err();
    assert!(e.to_string().contains("two packages"), "{e}");
    assert!(std::fs::read_dir(&to).unwrap().next().is_none(), "no file");
    assert!(r.reg.packages().unwrap().is_empty(), "no package recorded");

    let written = r.reg.write_packages(&[req(0), req(1)], now()).unwrap();
    assert_eq!(written.len(), 2);
    let key = r.reg.keys.signing.verifying_key();
    for (i, (w, d)) in written.iter().zip([&home, &other]).enumerate() {
        let bytes = std::fs::read(&w.path).unwrap();
        let p = Package::open(&bytes, &devices[i].1, &key).unwrap();
        assert_eq!(
            (p.package_id, p.device),
            (w.entry.package_id, devices[i].0.id)
        );
        assert_eq!(p.desa, vec![d.clone()]);
        let families: BTreeSet<Uuid> = p.families.iter().map(|f| f.family).collect();
        assert_eq!(families, of_desa(d));
        let recorded: BTreeSet<Uuid> = w.entry.families.iter().map(|(f, _)| *f).collect();
        assert_eq!(recorded, families);
        assert!(
            Package::open(&bytes, &devices[1 - i].1, &key).is_err(),
            "not for the other device"
        );
    }
    let listed: BTreeSet<Uuid> = r
        .reg
        .packages()
        .unwrap()
        .iter()
        .filter(|p| p.state == registry::PackageState::Open)
        .map(|p| p.package_id)
        .collect();
    let issued: BTreeSet<Uuid> = written.iter().map(|w| w.entry.package_id).collect();
    assert_eq!(listed, issued);
    // Its families are recorded as in the package: another package of the desa needs --reassign.
    let e = r.reg.write_package(&req(0), now()).unwrap_err();
    assert!(e.to_string().contains("another open package"), "{e}");
}
