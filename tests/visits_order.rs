//! A property of the registry's merge: visit bundles (visits of listed families, every outcome, two
//! tablets visiting one family, stale bases, a visit made again, a bad one) and new-family bundles
//! (some sharing a NIK or a KK with a listed family) imported in any order end in the same registry:
//! the same families with the same current revisions, answers and facts, the same conflicts and the
//! same quarantine — whether the tablets were enrolled, held and approved, or all came on one stick,
//! and with some bundles brought twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::form::catalog::Catalog;
use pendata::form::{Form, evaluate};
use pendata::model::record::{Action, Answers, VisitBase};
use pendata::registry::storage::Storage;
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, FileOutcome, Registry};
use proptest::prelude::*;
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

fn valid_family(rng: &mut Rng) -> Answers {
    let spec = FamilySpec {
        interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    demo::family(form(), rng, &spec)
}

/// The warnings a tablet has the petugas acknowledge; the answers must have no errors.
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

fn finalize(t: &mut SynthTablet, record: Uuid, number: u32, answers: Answers) -> u64 {
    let day = (t.clock + chrono::Duration::minutes(3)).date_naive();
    let ack = acknowledged(&answers, day);
    t.revise(record, number, Action::Finalized, answers, ack)
}

fn record(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_2222_0000_7000_8000_0000_0000_0000 | n)
}

fn tablet(n: u64) -> SynthTablet {
    SynthTablet::new(n, at("2026-11-20T08:00:00+08:00"))
}

/// Gives `b` the same person as `a`'s member `i` (NIK, sex and birth date, so `b` stays valid).
fn share_member(a: &Answers, b: &mut Answers, i: usize) {
    for k in ["nik", "jenis_kelamin", "tanggal_lahir"] {
        b["anggota"][i][k] = a["anggota"][i][k].clone();
    }
}

/// One registry key folder shared by every registry of the test (bundles are encrypted to it).
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

fn recipients() -> Vec<age::x25519::Recipient> {
    vec![
        registry::load(&shared_key_dir())
            .unwrap()
            .identity
            .to_public(),
    ]
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

/// How many families the registry has before the visits.
const LISTED: usize = 4;
/// The tablet that entered the listed families (and corrects some of them later).
const ORIGIN: u64 = 80;
/// The tablets that visit.
const VISITORS: [u64; 3] = [81, 82, 83];
/// The tablet that enters new families.
const NEWCOMER: u64 = 84;

/// What a visit found: `status_kunjungan` 1–6, or answers the registry holds in quarantine.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Code(u8),
    Bad,
}

#[derive(Debug, Clone)]
struct VisitSpec {
    family: usize,
    visitor: usize,
    outcome: Outcome,
    /// Based on the listed family's correction (a later package) rather than its first version.
    on_correction: bool,
    /// The tablet seals a bundle after this visit.
    seal: bool,
}

#[derive(Debug, Clone)]
struct NewSpec {
    /// The listed family (index) it shares a person with, if any.
    shares_nik: Option<usize>,
    /// The listed family (index) whose KK number it has, if any.
    shares_kk: Option<usize>,
    seal: bool,
}

#[derive(Debug, Clone)]
struct Scenario {
    /// The listed families the origin tablet corrects (in a bundle of its own): visits based on their
    /// first version become stale.
    corrected: Vec<bool>,
    visits: Vec<VisitSpec>,
    new: Vec<NewSpec>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let outcome = prop_oneof![
        6 => (1u8..=6).prop_map(Outcome::Code),
        1 => Just(Outcome::Bad),
    ];
    let visit = (
        0..LISTED,
        0..VISITORS.len(),
        outcome,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(family, visitor, outcome, on_correction, seal)| VisitSpec {
                family,
                visitor,
                outcome,
                on_correction,
                seal,
            },
        );
    let new = (
        prop::option::of(0..LISTED),
        prop::option::weighted(0.3, 0..LISTED),
        any::<bool>(),
    )
        .prop_map(|(shares_nik, shares_kk, seal)| NewSpec {
            shares_nik,
            shares_kk,
            seal,
        });
    (
        prop::collection::vec(any::<bool>(), LISTED),
        prop::collection::vec(visit, 1..8),
        prop::collection::vec(new, 0..4),
    )
        .prop_map(|(corrected, visits, new)| Scenario {
            corrected,
            visits,
            new,
        })
}

/// The bundles of a scenario: first the one that lists the families (imported before the others),
/// then the ones whose order the property varies.
struct Bundles {
    listing: Vec<u8>,
    others: Vec<Vec<u8>>,
    tablets: Vec<Enrolled>,
}

/// A tablet as the registry enrols it: id, name, public key.
type Enrolled = (Uuid, String, String);

/// The registry's hash of each listed family's current revision (what a work package gives as base).
fn bases(listing: &[u8], tablets: &[Enrolled]) -> Vec<String> {
    let r = fresh(tablets);
    r.reg.import_bytes(listing, "listing.age", now()).unwrap();
    let mut out = vec![String::new(); LISTED];
    r.reg
        .db
        .families_with_revisions(|f, rev| {
            if let Some(i) = (0..LISTED).find(|&i| record(i as u128) == f.family.record) {
                out[i] = registry::package::revision_hash(rev);
            }
            Ok(())
        })
        .unwrap();
    out
}

fn visit_answers(mut a: Answers, family: Uuid, outcome: Outcome, n: usize) -> Answers {
    a.insert("id_keluarga_daftar".into(), json!(family.to_string()));
    a.insert("tanggal_kunjungan".into(), json!("2026-11-20"));
    let (code, extra) = match outcome {
        Outcome::Code(1) | Outcome::Bad => ("1", Some(("alamat", format!("Jl. Kunjungan {n}")))),
        Outcome::Code(2) => ("2", Some(("pindah_ke", "Kota Bontang".to_string()))),
        Outcome::Code(3) => ("3", Some(("keterangan_kunjungan", "ketua RT".to_string()))),
        Outcome::Code(4) => ("4", Some(("keterangan_kunjungan", "rumah kosong".into()))),
        Outcome::Code(5) => ("5", None),
        Outcome::Code(_) => ("6", Some(("duplikat_dari", "keluarga pertama".into()))),
    };
    a.insert("status_kunjungan".into(), json!(code));
    if let Some((k, v)) = extra {
        a.insert(k.into(), json!(v));
    }
    a
}

#[expect(
    clippy::too_many_lines,
    reason = "the scenario's bundles read as one script: families, corrections, visits, new families"
)]
fn make_bundles(s: &Scenario) -> Bundles {
    let rcp = recipients();
    let mut rng = Rng::new(17);
    let mut origin = tablet(ORIGIN);
    let listed: Vec<Answers> = (0..LISTED).map(|_| valid_family(&mut rng)).collect();
    for (i, a) in listed.iter().enumerate() {
        finalize(&mut origin, record(i as u128), 1, a.clone());
    }
    let listing = origin.bundle(&rcp).unwrap();
    let mut visitors: Vec<SynthTablet> = VISITORS.iter().map(|&n| tablet(n)).collect();
    let mut newcomer = tablet(NEWCOMER);
    let enrolled: Vec<Enrolled> = std::iter::once(&origin)
        .chain(visitors.iter())
        .chain(std::iter::once(&newcomer))
        .map(|t| {
            let key = pendata::bundle::hex(t.key.verifying_key().as_bytes());
            (t.id, t.name.clone(), key)
        })
        .collect();
    let first = bases(&listing, &enrolled);

    // The origin tablet's corrections, and the bases a later package gives for them.
    let mut corrected = listed.clone();
    let mut correction_base = first.clone();
    let mut others = Vec::new();
    if s.corrected.iter().any(|&c| c) {
        for (i, a) in corrected.iter_mut().enumerate() {
            if s.corrected[i] {
                a.insert("alamat".into(), json!(format!("Jl. Koreksi {i}")));
                finalize(&mut origin, record(i as u128), 2, a.clone());
            }
        }
        let correction = origin.bundle(&rcp).unwrap();
        let r = fresh(&enrolled);
        r.reg.import_bytes(&listing, "l.age", now()).unwrap();
        r.reg.import_bytes(&correction, "c.age", now()).unwrap();
        r.reg
            .db
            .families_with_revisions(|f, rev| {
                if let Some(i) = (0..LISTED).find(|&i| record(i as u128) == f.family.record) {
                    correction_base[i] = registry::package::revision_hash(rev);
                }
                Ok(())
            })
            .unwrap();
        others.push(correction);
    }

    // Visits: the last revision number each tablet gave each family, and the base it had.
    let mut unsealed = [false; VISITORS.len()];
    let mut numbers: BTreeMap<(usize, usize), (u32, bool)> = BTreeMap::new();
    for (n, v) in s.visits.iter().enumerate() {
        let on_correction = v.on_correction && s.corrected[v.family];
        let (answers, base) = if on_correction {
            (&corrected[v.family], &correction_base[v.family])
        } else {
            (&listed[v.family], &first[v.family])
        };
        let family = record(v.family as u128);
        let t = &mut visitors[v.visitor];
        t.visit = Some(VisitBase {
            family,
            revision: base.clone(),
            package: Uuid::from_u128(1000 + u128::from(on_correction)),
        });
        let a = visit_answers(answers.clone(), family, v.outcome, n);
        let number = match numbers.get(&(v.visitor, v.family)) {
            // The same visit again: corrected and finalized anew, keeping its base.
            Some(&(last, was)) if was == on_correction => {
                t.revise(family, last + 1, Action::Corrected, a.clone(), vec![]);
                last + 2
            }
            // A later package brought the family again (its correction): a new visit of it.
            Some(&(last, _)) => last + 1,
            None => 2,
        };
        numbers.insert((v.visitor, v.family), (number, on_correction));
        match v.outcome {
            Outcome::Bad => {
                let mut bad = a;
                bad["anggota"][0]["nik"] = json!("12");
                t.revise(family, number, Action::Finalized, bad, vec![]);
            }
            Outcome::Code(_) => {
                finalize(t, family, number, a);
            }
        }
        t.visit = None;
        unsealed[v.visitor] = !v.seal;
        if v.seal {
            others.push(t.bundle(&rcp).unwrap());
        }
    }

    // New families, some sharing a person or a KK number with a listed family.
    let mut new_unsealed = false;
    for (n, spec) in s.new.iter().enumerate() {
        let mut a = valid_family(&mut rng);
        if let Some(i) = spec.shares_nik {
            share_member(&listed[i], &mut a, 0);
        }
        if let Some(i) = spec.shares_kk {
            a.insert("no_kk".into(), listed[i]["no_kk"].clone());
        }
        finalize(&mut newcomer, record(100 + n as u128), 1, a);
        new_unsealed = !spec.seal;
        if spec.seal {
            others.push(newcomer.bundle(&rcp).unwrap());
        }
    }
    for (t, open) in visitors
        .iter_mut()
        .zip(unsealed)
        .chain(std::iter::once((&mut newcomer, new_unsealed)))
    {
        if open {
            others.push(t.bundle(&rcp).unwrap());
        }
    }
    Bundles {
        listing,
        others,
        tablets: enrolled,
    }
}

/// A registry with the shared key and every tablet enrolled.
struct Reg {
    _tmp: tempfile::TempDir,
    reg: Registry,
}

fn fresh(tablets: &[Enrolled]) -> Reg {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    copy_keys(&shared_key_dir(), &dir);
    let reg = Registry::open(&dir).unwrap();
    for (id, name, key) in tablets {
        reg.enrol(*id, name, key, now()).unwrap();
    }
    Reg { _tmp: tmp, reg }
}

/// The listing bundle, then the others in `order`, each imported on its own (every tablet enrolled).
fn imported(b: &Bundles, order: &[usize]) -> Reg {
    imported_as(b, order, How::Enrolled)
}

/// How the bundles reach the registry.
#[derive(Debug, Clone, Copy)]
enum How {
    /// Every tablet enrolled before; one import per bundle.
    Enrolled,
    /// No tablet known: each device's first bundle is held, then the device approved (which merges
    /// what was held); one import per bundle.
    Approved,
    /// Every tablet enrolled; all the files in one import (one stick).
    OneStick,
}

/// The listing bundle, then the others in `order` (a bundle may come more than once: only its first
/// arrival merges).
fn imported_as(b: &Bundles, order: &[usize], how: How) -> Reg {
    let r = fresh(match how {
        How::Approved => &[],
        How::Enrolled | How::OneStick => &b.tablets,
    });
    let all: Vec<&[u8]> = std::iter::once(b.listing.as_slice())
        .chain(order.iter().map(|&i| b.others[i].as_slice()))
        .collect();
    let mut first = BTreeSet::new();
    let firsts: Vec<bool> = std::iter::once(true)
        .chain(order.iter().map(|&i| first.insert(i)))
        .collect();
    let outcomes: Vec<FileOutcome> = match how {
        How::OneStick => {
            let dir = r._tmp.path().join("stick");
            std::fs::create_dir_all(&dir).unwrap();
            let files: Vec<PathBuf> = all
                .iter()
                .enumerate()
                .map(|(k, bytes)| {
                    let f = dir.join(format!("{k:03}.age"));
                    std::fs::write(&f, bytes).unwrap();
                    f
                })
                .collect();
            r.reg.import_files(&files, now(), |_, _, _| {}).unwrap()
        }
        How::Enrolled | How::Approved => all
            .iter()
            .map(|bytes| {
                let o = r.reg.import_bytes(bytes, "bundle.age", now()).unwrap();
                if let FileOutcome::Held { device, .. } = &o {
                    let (_, merged) = r.reg.approve(&device.id.to_string(), now()).unwrap();
                    assert!(!merged.is_empty(), "approving merges what was held");
                }
                o
            })
            .collect(),
    };
    for (k, (o, first)) in outcomes.iter().zip(firsts).enumerate() {
        let ok = match (how, first) {
            (How::Approved, true) => {
                matches!(o, FileOutcome::Merged(_) | FileOutcome::Held { .. })
            }
            (_, true) => matches!(o, FileOutcome::Merged(_)),
            (_, false) => matches!(o, FileOutcome::AlreadyImported { .. }),
        };
        assert!(ok, "{how:?}, file {k} of {order:?}: {o:?}");
    }
    r
}

/// A family as the property compares it: state, device, revision, position, NIKs, KK, the facts'
/// visit outcome, and its answers (address, outcome and the revision's hash).
type FamilyRow = (
    String,
    Uuid,
    u32,
    u64,
    Vec<String>,
    Option<String>,
    String,
    String,
);

/// A conflict's kind, key and members (record, device, revision, position).
type ConflictRow = (String, String, BTreeSet<(Uuid, Uuid, u32, u64)>);

/// Everything the order of imports must not change.
#[derive(Debug, PartialEq)]
struct Picture {
    families: BTreeMap<Uuid, FamilyRow>,
    conflicts: BTreeSet<ConflictRow>,
    /// (device, position, record, revision)
    quarantine: BTreeSet<(Uuid, u64, Uuid, u32)>,
}

fn picture(r: &Reg) -> Picture {
    let mut families = BTreeMap::new();
    r.reg
        .db
        .families_with_revisions(|f, rev| {
            // The hash an entry keeps is its current revision's, whatever the order.
            if let Some(h) = &f.revision_hash {
                assert_eq!(
                    *h,
                    registry::package::revision_hash(rev),
                    "{}",
                    f.family.record
                );
            }
            families.insert(
                f.family.record,
                (
                    format!("{:?}", f.family.state),
                    f.family.device,
                    f.family.revision,
                    f.family.seq,
                    f.niks.clone(),
                    f.kk.clone(),
                    f.facts
                        .as_ref()
                        .map(|x| format!("{:?}", x.visit))
                        .unwrap_or_default(),
                    format!(
                        "{} {} {}",
                        rev.answers.get("alamat").unwrap_or(&json!(null)),
                        rev.answers.get("status_kunjungan").unwrap_or(&json!(null)),
                        registry::package::revision_hash(rev)
                    ),
                ),
            );
            Ok(())
        })
        .unwrap();
    let mut count = 0;
    r.reg.family_entries(|_| count += 1).unwrap();
    assert_eq!(
        count,
        families.len(),
        "every family has its current revision"
    );
    let conflicts = r
        .reg
        .conflicts(false)
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                format!("{:?}", c.kind),
                c.key,
                c.members
                    .iter()
                    .map(|m| (m.record, m.device, m.revision, m.seq))
                    .collect(),
            )
        })
        .collect();
    let quarantine = r
        .reg
        .quarantine(false)
        .unwrap()
        .into_iter()
        .map(|q| (q.device, q.seq, q.record, q.revision))
        .collect();
    Picture {
        families,
        conflicts,
        quarantine,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Visit and new-family bundles imported in any order (each order into a fresh registry) give the
    /// same registry as in the order they were made.
    #[test]
    fn visits_and_new_families_in_any_order_end_in_the_same_registry(
        s in scenario(),
        keys in prop::collection::vec(any::<u16>(), 32),
        repeats in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        how in prop_oneof![Just(How::Enrolled), Just(How::Approved), Just(How::OneStick)],
    ) {
        let b = make_bundles(&s);
        let made: Vec<usize> = (0..b.others.len()).collect();
        let mut order = made.clone();
        order.sort_by_key(|&i| (keys[i % keys.len()], i));
        // Some bundles brought again (another stick with the same files).
        order.extend(repeats.iter().map(|i| *i.get(&made)));
        let expected = picture(&imported(&b, &made));
        // Nothing is lost: every listed family and every new one is there, none twice.
        prop_assert_eq!(expected.families.len(), LISTED + s.new.len());
        let got = picture(&imported_as(&b, &order, how));
        prop_assert_eq!(got, expected, "{:?}: order {:?} of {:?}", how, order, made);
    }
}

/// A tablet that finalized one revision number of a family twice, at two positions, in two bundles
/// (a tablet's numbers only grow, so only a faulty or forged one does): the later position is the
/// family's version, whichever bundle comes first. Found by the property above when its tablets reused
/// numbers: the registry kept the one imported last.
#[test]
fn one_revision_number_finalized_twice_keeps_the_later_position_in_either_order() {
    let rcp = recipients();
    let mut rng = Rng::new(23);
    let x = record(900);
    let mut t = tablet(90);
    let mut a = valid_family(&mut rng);
    finalize(&mut t, x, 1, a.clone());
    let first = t.bundle(&rcp).unwrap();
    a.insert("alamat".into(), json!("Jl. Kedua"));
    finalize(&mut t, x, 1, a);
    let second = t.bundle(&rcp).unwrap();
    let key = pendata::bundle::hex(t.key.verifying_key().as_bytes());
    let enrolled = vec![(t.id, t.name.clone(), key)];
    let mut seen = Vec::new();
    for order in [[&first, &second], [&second, &first]] {
        let r = fresh(&enrolled);
        for b in order {
            let o = r.reg.import_bytes(b, "t.age", now()).unwrap();
            assert!(matches!(o, FileOutcome::Merged(_)), "{o:?}");
        }
        let f = r.reg.family(x).unwrap().unwrap().family;
        assert_eq!((f.seq, f.revision), (2, 1), "the later position");
        seen.push(picture(&r));
    }
    assert_eq!(seen[0], seen[1]);
}

/// One scenario with every case the property draws from, to show it reaches them: two tablets visiting
/// one family, a stale base and a visit of the correction, a bad visit, a visit made again, new families
/// sharing a NIK and a KK number with listed ones — and the same registry in several orders.
#[test]
fn a_scenario_with_every_case_ends_the_same_in_several_orders() {
    let v = |family, visitor, outcome, on_correction, seal| VisitSpec {
        family,
        visitor,
        outcome,
        on_correction,
        seal,
    };
    let s = Scenario {
        corrected: vec![false, true, false, false],
        visits: vec![
            v(0, 0, Outcome::Code(1), false, true),
            v(0, 1, Outcome::Code(2), false, false),
            v(1, 2, Outcome::Code(3), false, true),
            v(1, 0, Outcome::Code(1), true, false),
            v(2, 1, Outcome::Bad, false, true),
            v(3, 2, Outcome::Code(4), false, false),
            v(3, 2, Outcome::Code(5), false, false),
        ],
        new: vec![
            NewSpec {
                shares_nik: Some(3),
                shares_kk: None,
                seal: true,
            },
            NewSpec {
                shares_nik: None,
                shares_kk: Some(2),
                seal: false,
            },
        ],
    };
    let b = make_bundles(&s);
    let n = b.others.len();
    let made: Vec<usize> = (0..n).collect();
    let expected = picture(&imported(&b, &made));
    let device = |t: u64| tablet(t).id;
    let fam = |i: u128| &expected.families[&record(i)];
    let update = |i: u128| {
        expected
            .conflicts
            .iter()
            .find(|c| c.0 == "Update" && c.1 == record(i).to_string())
            .map(|c| c.2.iter().map(|m| m.1).collect::<BTreeSet<_>>())
    };
    assert_eq!(expected.families.len(), LISTED + 2);
    // Two tablets visited family 0 from the same version: both wait for the operator.
    assert_eq!(
        update(0),
        Some([device(ORIGIN), device(81), device(82)].into())
    );
    // Family 1: the visit of its correction is its version; the visit of its first one is stale.
    assert_eq!(fam(1).1, device(81));
    assert_eq!(update(1), Some([device(83), device(81)].into()));
    // The bad visit of family 2 is held; the family keeps its version.
    assert_eq!(expected.quarantine.len(), 1);
    assert_eq!(expected.quarantine.iter().next().unwrap().0, device(82));
    assert_eq!(fam(2).1, device(ORIGIN));
    // Family 3 was visited twice by one tablet: the later visit (refused) is its version.
    assert_eq!((fam(3).1, fam(3).6.as_str()), (device(83), "Some(\"5\")"));
    assert!(update(3).is_none());
    let kinds: BTreeSet<&str> = expected.conflicts.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(kinds, ["SharedKk", "SharedNik", "Update"].into());

    let mut orders: Vec<Vec<usize>> = vec![made.iter().rev().copied().collect()];
    for k in 1..n {
        orders.push(made.iter().cycle().skip(k).take(n).copied().collect());
    }
    for order in orders {
        assert_eq!(picture(&imported(&b, &order)), expected, "order {order:?}");
    }
}
