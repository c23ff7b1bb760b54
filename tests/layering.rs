//! The layering the architecture promises, checked on the source: redb is named only by the stores,
//! `src/store/` (the tablet's) and `src/registry/db/` (the registry's); everything else reaches storage
//! through them (ARCHITECTURE.md, "Invariants").

#![expect(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};

/// Where redb may be named, relative to the crate root.
const REDB_ALLOWED: [&str; 2] = ["src/store/", "src/registry/db/"];

/// The lines of Rust source that name the `redb` crate in code (comments do not count).
fn lines_naming_redb(source: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let named = code.match_indices("redb").any(|(at, _)| {
            let before = code[..at].chars().next_back();
            let after = code[at + "redb".len()..].trim_start();
            let starts_word = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
            let path_or_use = after.starts_with("::")
                || after.starts_with(';')
                || after.starts_with(" as ")
                || code[..at].trim_end().ends_with("use")
                || code[..at].trim_end().ends_with("crate");
            starts_word && path_or_use && !inside_string(code, at)
        });
        if named {
            out.push((n + 1, line.trim().to_string()));
        }
    }
    out
}

/// Whether byte `at` of a line lies inside a string literal (an odd number of unescaped quotes before).
fn inside_string(code: &str, at: usize) -> bool {
    let mut quotes = 0;
    let mut escaped = false;
    for c in code[..at].chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => quotes += 1,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    quotes % 2 == 1
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn redb_is_named_only_in_the_store_and_the_registry_db() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 20, "the source was not found: {files:?}");
    let mut seen_allowed = 0;
    let mut offending = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let lines = lines_naming_redb(&std::fs::read_to_string(f).unwrap());
        if REDB_ALLOWED.iter().any(|a| rel.starts_with(a)) {
            seen_allowed += lines.len();
            continue;
        }
        for (n, line) in lines {
            offending.push(format!("{rel}:{n}: {line}"));
        }
    }
    assert!(
        offending.is_empty(),
        "redb is named outside {REDB_ALLOWED:?} — go through the store's interface (registry::storage for the registry):\n{}",
        offending.join("\n")
    );
    // The check sees the stores' own use of redb: it would see any other.
    assert!(seen_allowed > 10, "{seen_allowed}");
}

#[test]
fn the_check_tells_code_from_comments_and_strings() {
    let named = [
        "use redb::{Database, ReadableTable};",
        "    let t: redb::Table<u128, u64> = todo!();",
        "use redb;",
        "extern crate redb;",
        "fn f(txn: &redb::WriteTransaction) {}",
        "use redb as store;",
    ];
    for line in named {
        assert_eq!(lines_naming_redb(line).len(), 1, "{line}");
    }
    let not_named = [
        "//! the only registry code that names redb",
        "let x = 1; // redb::Table would be wrong here",
        r#"let s = "redb::Database";"#,
        "let redbox = 2;",
        "fn uses_redb_free_code() {}",
        "/// `redb`'s page cache",
    ];
    for line in not_named {
        assert!(lines_naming_redb(line).is_empty(), "{line}");
    }
}
