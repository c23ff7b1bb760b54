//! Embeds only Kalimantan Timur's part of the region list (the province Pendata serves) into the binary;
//! the full list stays in `schemas/data/wilayah.csv` for form files checked from disk.

use std::io::Write;

fn main() {
    let src = "schemas/data/wilayah.csv";
    println!("cargo:rerun-if-changed={src}");
    let text = std::fs::read_to_string(src).unwrap_or_default();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()))
        .join("wilayah-64.csv");
    let mut file = match std::fs::File::create(&out) {
        Ok(f) => f,
        Err(e) => panic!("cannot write {}: {e}", out.display()),
    };
    for (i, line) in text.lines().enumerate() {
        if i == 0 || line.starts_with("64,") || line.starts_with("64.") {
            let _ = writeln!(file, "{}", line.trim_end_matches('\r'));
        }
    }
}
