//! The Receipts screen removes the families the registry accepted (DESIGN: purged after a retention
//! period): the count for the day typed, a confirmation, the removal on its own thread, and the families
//! gone from the tablet while the others stay. The removal is the CLI's `purge` with the file rewritten
//! under a new data key (`Device::purge_and_erase`), whose erasure `tests/store_crypt.rs` checks page by
//! page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{code, p, run};
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use pendata::bundle::manifest::SeqRange;
use pendata::bundle::receipt::Receipt;

fn open(tab: &std::path::Path) -> pendata::app::Device {
    common::open_when_free(tab)
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as the petugas goes through it"
)]
#[test]
fn the_petugas_removes_the_accepted_families_from_the_receipts_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("reg");
    let tab = tmp.path().join("tablet");
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    code(&run(None, &["registry", "init", p(&reg), "--demo"], ""), 0);
    let keys = pendata::registry::load(&reg).unwrap();
    let pub_file = reg.join("registry.pub");
    let init = [
        "init",
        "--demo",
        "--device-name",
        "T1",
        "--registry-key",
        p(&pub_file),
    ];
    code(&run(Some(&tab), &init, ""), 0);
    code(
        &run(
            Some(&tab),
            &[
                "petugas",
                "add",
                "--code",
                "P001",
                "--name",
                "Siti",
                "--pin-stdin",
            ],
            &format!("{}\n", common::PIN),
        ),
        0,
    );
    // No drafts: with the demo's random share of drafts, the first half of the tablet's changes could
    // hold no finalized family (the test then found nothing accepted, once in CI).
    let demo = [
        "demo",
        "--families",
        "4",
        "--petugas",
        "P001",
        "--drafts",
        "0",
    ];
    code(&run(Some(&tab), &demo, ""), 0);
    code(&run(Some(&tab), &["export", "--to", p(&stick)], ""), 0);

    // The registry accepts the first half of the tablet's changes: some families accepted, the
    // others still waiting.
    let device = open(&tab);
    let id = device.store.device().unwrap().id;
    let last = device.store.last_seq().unwrap();
    let accepted_seq = last / 2;
    drop(device);
    let r = Receipt::new(
        &keys.public.name,
        id,
        chrono::Local::now().fixed_offset(),
        vec![SeqRange {
            from: 1,
            to: accepted_seq,
        }],
        Vec::new(),
    );
    let file = stick.join(r.file_name());
    std::fs::write(&file, r.sign(&keys.signing)).unwrap();
    code(&run(Some(&tab), &["receipt", "apply", p(&file)], ""), 0);
    let device = open(&tab);
    let all = device.list(None).unwrap();
    let accepted: Vec<_> = all
        .iter()
        .filter(|h| h.status == pendata::store::Status::Accepted)
        .map(|h| (h.id, h.summary.head_name.clone()))
        .collect();
    let kept = all.len() - accepted.len();
    assert!(
        !accepted.is_empty() && kept > 0,
        "{accepted:?} of {}",
        all.len()
    );
    drop(device);

    let mut h = common::signed_in_app(&tab, "Siti · P001");
    h.get_by_label("Kuitansi").click();
    h.run();
    // The default day (30 days back) finds none of today's acceptances.
    assert!(
        h.query_by_label("Tidak ada keluarga yang diterima sebelum tanggal itu.")
            .is_some()
    );
    let field = "Hapus keluarga yang diterima sebelum tanggal (hh-bb-tttt)";
    let tomorrow = (chrono::Local::now().date_naive() + chrono::Duration::days(1))
        .format("%d-%m-%Y")
        .to_string();
    // The field cleared as a person selects its text; then the day typed.
    {
        let pendata::ui::Screen::Receipts(st) = &mut h.state_mut().screen else {
            panic!("not on the Receipts screen")
        };
        st.purge_date.clear();
    }
    h.run();
    h.get_by_role_and_label(Role::TextInput, field).focus();
    h.run();
    h.get_by_role_and_label(Role::TextInput, field)
        .type_text(&tomorrow);
    h.run();
    let n = accepted.len().to_string();
    h.get_by_label(&format!("Hapus {n} keluarga yang sudah diterima…"))
        .click();
    h.run();
    // Asked once more, with what cannot be undone; nothing removed yet.
    assert!(
        h.query_by_label_contains("tidak dapat dikembalikan")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("keluarga dihapus dari tablet")
            .is_none()
    );
    h.get_by_label(&format!("Ya, hapus {n} keluarga")).click();
    // The removal runs on its own thread; the screen says so (a spinner: frames one by one) and comes
    // back with the outcome.
    h.step();
    h.step();
    assert!(h.query_by_label_contains("Jangan matikan tablet").is_some());
    for _ in 0..400 {
        if h.query_by_label_contains("keluarga dihapus dari tablet")
            .is_some()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
        h.step();
    }
    h.run();
    assert!(
        h.query_by_label(&format!(
            "{n} keluarga dihapus dari tablet; sisa datanya juga dihapus dari berkas."
        ))
        .is_some()
    );
    drop(h);

    let device = open(&tab);
    let left = device.list(None).unwrap();
    assert_eq!(left.len(), kept);
    for (id, _) in &accepted {
        assert!(left.iter().all(|h| h.id != *id));
    }
}
