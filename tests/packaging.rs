//! What the packages ship besides the binary stays true to it: the help of every command, the man pages
//! (generated from the same clap definitions, committed under `packaging/man/`), the desktop entry and
//! the icons.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use pendata::cli::Cli;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every command and every option says what it is for: `--help` and the man pages are complete.
#[test]
fn every_command_and_option_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if cmd.get_about().is_none() {
            missing.push(format!("command `{path}`"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("`{path}` argument `{id}`"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), "pendata", &mut missing);
    assert!(
        missing.is_empty(),
        "no help text for:\n{}",
        missing.join("\n")
    );
}

/// The man pages under packaging/man are what clap_mangen makes of the current command line. After a
/// change to the commands (or the version), regenerate them: `PENDATA_BLESS=1 cargo test --test packaging`.
#[test]
fn man_pages_match_the_command_line() {
    let fresh = tempfile::tempdir().unwrap();
    clap_mangen::generate_to(Cli::command(), fresh.path()).unwrap();
    let committed = root().join("packaging/man");
    if std::env::var_os("PENDATA_BLESS").is_some() {
        if committed.exists() {
            std::fs::remove_dir_all(&committed).unwrap();
        }
        std::fs::create_dir_all(&committed).unwrap();
        for (name, text) in pages(fresh.path()) {
            std::fs::write(committed.join(name), text).unwrap();
        }
    }
    let want = pages(fresh.path());
    let have = pages(&committed);
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        have.keys().collect::<Vec<_>>(),
        "man pages differ from the commands: run PENDATA_BLESS=1 cargo test --test packaging"
    );
    for (name, text) in &want {
        assert!(
            have[name] == *text,
            "{name} is out of date: run PENDATA_BLESS=1 cargo test --test packaging"
        );
    }
    // The top page refers to every command's page (roff writes `-` as `\-`).
    let top = &want["pendata.1"];
    for sub in Cli::command().get_subcommands() {
        let page = format!("pendata-{}", sub.get_name()).replace('-', "\\-");
        assert!(
            top.contains(&format!("{page}(1)")),
            "pendata.1 lacks {page}"
        );
    }
}

fn pages(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".1"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap();
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect()
}

/// The desktop entry starts the installed binary and names the icon the package installs, which is the
/// app id the window announces.
#[test]
fn desktop_entry_matches_binary_and_icons() {
    let text = std::fs::read_to_string(root().join("packaging/linux/pendata.desktop")).unwrap();
    let entry: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(entry["Exec"], "pendata");
    assert_eq!(entry["Icon"], "pendata");
    assert_eq!(entry["Terminal"], "false");
    assert!(entry.contains_key("Comment[id]"));
    let ui = std::fs::read_to_string(root().join("src/ui/mod.rs")).unwrap();
    assert!(ui.contains(".with_app_id(\"pendata\")"));
}

/// Every PNG size desktops look for is there, at its size, and the Windows icon holds the small ones.
#[test]
fn icons_exist_at_every_size() {
    for size in [16u32, 32, 48, 64, 128, 256, 512] {
        let path = root().join(format!(
            "packaging/icons/hicolor/{size}x{size}/apps/pendata.png"
        ));
        let bytes = std::fs::read(&path).unwrap();
        let icon = eframe::icon_data::from_png_bytes(&bytes).unwrap();
        assert_eq!(
            (icon.width, icon.height),
            (size, size),
            "{}",
            path.display()
        );
    }
    let ico = std::fs::read(root().join("packaging/icons/pendata.ico")).unwrap();
    // ICONDIR: reserved 0, type 1 (icon), then the number of images.
    assert_eq!(&ico[..4], &[0, 0, 1, 0]);
    assert!(u16::from_le_bytes([ico[4], ico[5]]) >= 4);
}
