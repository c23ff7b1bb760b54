//! Photos from the command line: `record attach` stores a photo by content as the app does, a photo field
//! holding anything else (a path typed as text, a hash with nothing stored) blocks finalizing, and the
//! exported bundle carries the photo.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{code, p, run};
use sha2::{Digest, Sha256};

fn jpeg(path: &std::path::Path) -> Vec<u8> {
    use image::ImageEncoder;
    let (w, h) = (64, 48);
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 90]));
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as a person goes through it"
)]
#[test]
fn a_photo_attached_from_the_command_line_is_stored_checked_and_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    let tab = tmp.path().join("tablet");
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    code(&run(None, &["registry", "init", p(&reg)], ""), 0);
    let key = reg.join("registry.pub");
    let t = Some(tab.as_path());
    code(
        &run(
            t,
            &["init", "--device-name", "T1", "--registry-key", p(&key)],
            "",
        ),
        0,
    );
    code(
        &run(
            t,
            &[
                "petugas",
                "add",
                "--code",
                "P001",
                "--name",
                "Siti",
                "--pin-stdin",
            ],
            "246810\n",
        ),
        0,
    );
    let id = code(
        &run(
            t,
            &[
                "record",
                "new",
                "--form",
                "keluarga",
                "--petugas",
                "P001",
                "--answers",
                "docs/examples/keluarga-lengkap.json",
            ],
            "",
        ),
        0,
    );
    let id = id.lines().next().unwrap().trim().to_string();

    let photo = tmp.path().join("rumah.jpg");
    let bytes = jpeg(&photo);
    let attach = |field: &str, file: &std::path::Path| {
        run(
            t,
            &[
                "record",
                "attach",
                &id,
                "--field",
                field,
                p(file),
                "--petugas",
                "P001",
            ],
            "",
        )
    };
    let out = attach("foto_depan", &photo);
    let hash = code(&out, 0);
    let want: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(common::text(&out.stdout).trim(), want, "{hash}");
    let shown = code(&run(t, &["record", "show", &id, "--json"], ""), 0);
    assert!(
        shown.contains(&format!("\"foto_depan\": \"{want}\"")),
        "{shown}"
    );

    // Not a photo, not a photo field: bad input, nothing saved.
    let text_file = tmp.path().join("catatan.txt");
    std::fs::write(&text_file, "bukan foto").unwrap();
    let out = code(&attach("foto_lantai", &text_file), 2);
    assert!(out.contains("JPEG"), "{out}");
    let out = code(&attach("alamat", &photo), 2);
    assert!(out.contains("alamat"), "{out}");

    let finalize = || {
        run(
            t,
            &[
                "record",
                "finalize",
                &id,
                "--petugas",
                "P001",
                "--today",
                "2026-11-28",
            ],
            "",
        )
    };
    let set = |answers: &str| {
        run(
            t,
            &["record", "set", &id, "--petugas", "P001", "--answers", "-"],
            answers,
        )
    };
    // A path typed as text is not a photo: the draft keeps it, finalizing is refused at that field.
    code(&set(r#"{"foto_lantai": "foto/lantai.jpg"}"#), 0);
    let out = code(&finalize(), 1);
    assert!(
        out.contains("foto_lantai") && out.contains("invalid_value"),
        "{out}"
    );
    // A hash with no photo stored under it is refused too.
    let absent = "ab".repeat(32);
    code(
        &set(&format!(
            r#"{{"foto_lantai": null, "foto_atap": "{absent}"}}"#
        )),
        0,
    );
    let out = code(&finalize(), 1);
    assert!(
        out.contains("foto_atap") && out.contains("photo_missing"),
        "{out}"
    );
    code(&set(r#"{"foto_atap": null}"#), 0);
    code(&finalize(), 0);

    code(&run(t, &["export", "--to", p(&stick)], ""), 0);
    let bundle = std::fs::read_dir(&stick)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let identity = reg.join("keys/registry-age.key");
    let out = code(
        &run(
            None,
            &[
                "bundle",
                "inspect",
                p(&bundle),
                "--identity",
                p(&identity),
                "--json",
            ],
            "",
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(v["manifest"]["counts"]["attachments"], 1, "{out}");
    assert!(
        out.contains(&want),
        "the bundle lists the photo by its hash: {out}"
    );
}
