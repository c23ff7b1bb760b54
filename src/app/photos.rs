//! Photos for photo fields: where the camera keeps them on this platform, the newest ones there, small
//! thumbnails decoded from JPEG or PNG within memory limits, and storing a photo file by content. No egui
//! here, and the store only through `Device`.

use std::collections::HashSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use super::{AppError, Device, Result, drives};

/// The largest photo file attached or shown (a 50 MP phone photo is about 15 MB as JPEG).
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// The widest and tallest picture decoded.
pub const MAX_SIDE: u32 = 12_000;
/// The most memory one decode may take: a 9000×9000 colour photo, or 50 MP with room to spare.
pub const MAX_ALLOC: u64 = 256 * 1024 * 1024;
/// How deep below a camera folder photos are looked for (`DCIM/100MEDIA/IMG_0001.JPG` is 2 down).
const DEPTH: usize = 3;
/// Files looked at in one listing at most, so a folder of a hundred thousand files cannot stall it.
const SCAN_CAP: usize = 20_000;

/// Why a photo cannot be stored or shown.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("not a JPEG or PNG photo")]
    NotAPhoto,
    #[error("larger than 20 MB")]
    TooBig,
    #[error(
        "{width}×{height} pixels is more than this app decodes (at most {MAX_SIDE} a side and {} MB)",
        MAX_ALLOC >> 20
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("cannot be read: {0}")]
    Unreadable(String),
    #[error("damaged or incomplete: {0}")]
    Damaged(String),
    #[error("not stored on this tablet")]
    Missing,
}

/// A photo file found in a camera folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoFile {
    pub path: PathBuf,
    pub modified: SystemTime,
    pub size: u64,
}

impl PhotoFile {
    /// The file's name, as a person reads it.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A small picture: `width × height` pixels, RGBA with 8 bits a channel, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumb {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// Where the photos are on this tablet, behind one interface for every platform: `$PENDATA_PHOTO_DIR`
/// first when set (odd devices, tests), then the user's Pictures folder, the camera folders under the
/// home folder (Linux) and `DCIM` on every removable drive (SD cards, sticks, a camera plugged in).
/// Only folders that exist are returned, each once.
pub fn camera_folders() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::env::var_os("PENDATA_PHOTO_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Some(user) = directories::UserDirs::new() {
        if let Some(p) = user.picture_dir() {
            out.push(p.to_path_buf());
        }
        let home = user.home_dir();
        #[cfg(not(windows))]
        out.extend([
            home.join("Pictures"),
            home.join("Pictures").join("Camera"),
            home.join("DCIM"),
        ]);
        #[cfg(windows)]
        out.push(home.join("Pictures"));
    }
    out.extend(drives::removable().into_iter().map(|d| d.path.join("DCIM")));
    let mut seen = HashSet::new();
    out.retain(|p| p.is_dir() && seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    out
}

/// Whether a file name looks like a photo this app takes (by extension, any case).
pub fn is_photo_name(name: &str) -> bool {
    let Some((_, ext)) = name.rsplit_once('.') else {
        return false;
    };
    ["jpg", "jpeg", "png"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
}

/// JPEG and PNG files in `folders` and a few levels below, newest change first, at most `limit`.
/// Hidden folders (`.thumbnails`) are skipped; a folder reached twice (nested roots, symbolic link
/// loops) is read once; a folder that cannot be read is skipped.
pub fn list_photos(folders: &[PathBuf], limit: usize) -> Vec<PhotoFile> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut scanned = 0;
    for f in folders {
        walk(f, 0, &mut seen, &mut scanned, &mut found);
    }
    found.sort_by(|a, b| {
        b.modified
            .cmp(&a.modified)
            .then_with(|| a.path.cmp(&b.path))
    });
    found.dedup_by(|a, b| a.path == b.path);
    found.truncate(limit);
    found
}

fn walk(
    dir: &Path,
    depth: usize,
    seen: &mut HashSet<PathBuf>,
    scanned: &mut usize,
    found: &mut Vec<PhotoFile>,
) {
    let Ok(real) = dir.canonicalize() else { return };
    if !seen.insert(real) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if *scanned >= SCAN_CAP {
            return;
        }
        *scanned += 1;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links (a Pictures folder linked to the SD card); `seen` stops loops.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if depth < DEPTH {
                walk(&path, depth + 1, seen, scanned, found);
            }
        } else if meta.is_file() && is_photo_name(&name) {
            found.push(PhotoFile {
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                size: meta.len(),
                path,
            });
        }
    }
}

/// The kind of photo `bytes` hold, by their first bytes.
fn photo_format(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else {
        None
    }
}

/// Whether a JPEG's last scan is followed by the end-of-image marker. The decoder paints a cut-off
/// photo's missing part grey without a word; a photo cut off while it was copied must be told. (Scan
/// data never holds `FF D9`: a 0xFF there is always followed by 0x00 or a restart marker.) Without any
/// scan, the decoder itself refuses the file.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let Some(scan) = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]) else {
        return true;
    };
    bytes
        .get(scan..)
        .is_some_and(|rest| rest.windows(2).any(|w| w == [0xFF, 0xD9]))
}

const CUT_OFF: &str = "the file ends before the picture does";

/// The size of a picture shrunk to fit `max_side` (never enlarged), keeping its shape.
pub fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let max_side = max_side.max(1);
    let long = width.max(height);
    if long <= max_side {
        return (width.max(1), height.max(1));
    }
    let scale =
        |n: u32| (u64::from(n) * u64::from(max_side) + u64::from(long) / 2) / u64::from(long);
    let w = u32::try_from(scale(width)).unwrap_or(max_side);
    let h = u32::try_from(scale(height)).unwrap_or(max_side);
    (w.max(1), h.max(1))
}

/// Decodes a JPEG or PNG photo and shrinks it to fit `max_side`, turned upright as its EXIF orientation
/// says. Pictures larger than [`MAX_SIDE`] a side or needing more than [`MAX_ALLOC`] are refused before
/// anything big is allocated.
pub fn thumbnail(bytes: &[u8], max_side: u32) -> Result<Thumb, PhotoError> {
    let format = photo_format(bytes).ok_or(PhotoError::NotAPhoto)?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(PhotoError::Damaged(CUT_OFF.into()));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(e, dimensions(bytes)))?;
    let (width, height) = decoder.dimensions();
    if decoder.total_bytes() > MAX_ALLOC {
        return Err(PhotoError::TooManyPixels { width, height });
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let image =
        DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, Some((width, height))))?;
    let (w, h) = fit(width, height, max_side);
    // A box average down to twice the size is fast and exact in area; the last step filters smoothly.
    let image = if width > w * 4 {
        image.thumbnail_exact(w * 2, h * 2)
    } else {
        image
    };
    let mut small = if (image.width(), image.height()) == (w, h) {
        image
    } else {
        image.resize_exact(w, h, image::imageops::FilterType::Triangle)
    };
    // Turned after shrinking: rotating a thumbnail costs nothing.
    small.apply_orientation(orientation);
    let rgba = small.into_rgba8();
    Ok(Thumb {
        width: rgba.width(),
        height: rgba.height(),
        rgba: rgba.into_raw(),
    })
}

fn decode_error(e: ImageError, size: Option<(u32, u32)>) -> PhotoError {
    match e {
        ImageError::Limits(_) => {
            let (width, height) = size.unwrap_or((0, 0));
            PhotoError::TooManyPixels { width, height }
        }
        ImageError::Unsupported(_) => PhotoError::NotAPhoto,
        ImageError::IoError(e) => PhotoError::Damaged(e.to_string()),
        other => PhotoError::Damaged(other.to_string()),
    }
}

/// The photo's size in pixels, from its header only (no decoding).
fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let format = photo_format(bytes)?;
    ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .ok()
}

fn photo_error(path: &Path, error: PhotoError) -> AppError {
    AppError::Photo {
        file: path.display().to_string(),
        error,
    }
}

/// Reads a photo file (JPEG or PNG, at most [`MAX_FILE_BYTES`]).
pub fn read_photo(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| photo_error(path, PhotoError::Unreadable(e.to_string())))?;
    if meta.is_dir() {
        return Err(photo_error(path, PhotoError::NotAPhoto));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(photo_error(path, PhotoError::TooBig));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| photo_error(path, PhotoError::Unreadable(e.to_string())))?;
    match photo_format(&bytes) {
        None => Err(photo_error(path, PhotoError::NotAPhoto)),
        Some(ImageFormat::Jpeg) if !jpeg_is_complete(&bytes) => {
            Err(photo_error(path, PhotoError::Damaged(CUT_OFF.into())))
        }
        Some(_) => Ok(bytes),
    }
}

/// A thumbnail of a photo file.
pub fn thumbnail_file(path: &Path, max_side: u32) -> Result<Thumb> {
    let bytes = read_photo(path)?;
    thumbnail(&bytes, max_side).map_err(|e| photo_error(path, e))
}

impl Device {
    /// Stores a photo from a file (JPEG or PNG, at most 20 MB, not more pixels than the app decodes)
    /// by content; returns its SHA-256, which is the answer of a photo field. The same photo twice is
    /// stored once.
    pub fn attach_file(&self, path: &Path) -> Result<String> {
        let bytes = read_photo(path)?;
        if let Some((width, height)) = dimensions(&bytes)
            && (width > MAX_SIDE || height > MAX_SIDE)
        {
            return Err(photo_error(
                path,
                PhotoError::TooManyPixels { width, height },
            ));
        }
        Ok(self.store.put_attachment(&bytes)?)
    }

    /// A thumbnail of a stored photo (by its SHA-256), to fit `max_side`.
    pub fn photo_thumbnail(&self, hash: &str, max_side: u32) -> Result<Thumb> {
        let name = format!("photo {}", hash.get(..12).unwrap_or(hash));
        let bytes = self
            .store
            .attachment(hash)?
            .ok_or_else(|| AppError::Photo {
                file: name.clone(),
                error: PhotoError::Missing,
            })?;
        thumbnail(&bytes, max_side).map_err(|error| AppError::Photo { file: name, error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb, RgbImage};

    /// A photo with a colour gradient, encoded as JPEG or PNG.
    fn photo(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 90])
        });
        let mut out = Vec::new();
        match format {
            ImageFormat::Png => image::codecs::png::PngEncoder::new(&mut out)
                .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
                .unwrap(),
            _ => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
                .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
                .unwrap(),
        }
        out
    }

    fn write_at(path: &Path, bytes: &[u8], secs_ago: u64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        let when = SystemTime::now() - std::time::Duration::from_secs(secs_ago);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn photos_are_listed_newest_first_by_extension_and_capped() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let jpg = photo(40, 30, ImageFormat::Jpeg);
        let png = photo(30, 40, ImageFormat::Png);
        write_at(&root.join("DCIM/100MEDIA/IMG_0001.JPG"), &jpg, 300);
        write_at(&root.join("DCIM/100MEDIA/IMG_0002.jpeg"), &jpg, 100);
        write_at(&root.join("DCIM/Camera/rumah.png"), &png, 200);
        write_at(&root.join("lantai.Png"), &png, 10);
        write_at(&root.join("catatan.txt"), b"bukan foto", 1);
        write_at(&root.join("video.mp4"), b"....", 2);
        write_at(&root.join("DCIM/.thumbnails/t1.jpg"), &jpg, 0);
        write_at(&root.join("a/b/c/d/too-deep.jpg"), &jpg, 0);

        let all = list_photos(&[root.to_path_buf()], 300);
        let names: Vec<String> = all.iter().map(PhotoFile::name).collect();
        assert_eq!(
            names,
            ["lantai.Png", "IMG_0002.jpeg", "rumah.png", "IMG_0001.JPG"]
        );
        assert_eq!(all[0].size, png.len() as u64);

        let two = list_photos(&[root.to_path_buf()], 2);
        assert_eq!(two, all[..2]);

        // The same folder twice, nested roots and a folder that is not there: each photo once.
        let again = list_photos(
            &[
                root.join("DCIM"),
                root.to_path_buf(),
                root.join("DCIM/100MEDIA"),
                root.join("no-such-folder"),
            ],
            300,
        );
        assert_eq!(again.len(), 4);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_loop_is_read_once() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write_at(
            &root.join("DCIM/IMG_0001.jpg"),
            &photo(8, 8, ImageFormat::Jpeg),
            5,
        );
        std::os::unix::fs::symlink(root, root.join("DCIM/loop")).unwrap();
        let found = list_photos(&[root.to_path_buf()], 300);
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn a_folder_that_cannot_be_read_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write_at(&root.join("ok/a.jpg"), &photo(8, 8, ImageFormat::Jpeg), 5);
        write_at(&root.join("not-a-folder.jpg"), b"x", 5);
        let found = list_photos(
            &[
                root.join("not-a-folder.jpg"),
                root.join("gone"),
                root.join("ok"),
            ],
            300,
        );
        let names: Vec<String> = found.iter().map(PhotoFile::name).collect();
        assert_eq!(names, ["a.jpg"]);
    }

    #[test]
    fn photo_names_are_recognised_in_any_case() {
        for (name, yes) in [
            ("IMG_0001.JPG", true),
            ("a.jpeg", true),
            ("b.PnG", true),
            ("c.jpg.txt", false),
            ("jpg", false),
            ("d.heic", false),
        ] {
            assert_eq!(is_photo_name(name), yes, "{name}");
        }
    }

    #[test]
    fn thumbnails_fit_the_box_and_keep_the_shape() {
        for (w, h, format, want) in [
            (4000, 3000, ImageFormat::Jpeg, (160, 120)),
            (3000, 4000, ImageFormat::Jpeg, (120, 160)),
            (1000, 250, ImageFormat::Png, (160, 40)),
            (100, 60, ImageFormat::Png, (100, 60)),
        ] {
            let t = thumbnail(&photo(w, h, format), 160).unwrap();
            assert_eq!((t.width, t.height), want, "{w}×{h}");
            assert_eq!(t.rgba.len(), (t.width * t.height * 4) as usize);
            // The gradient survives: red grows to the right.
            let px = |x: u32, y: u32| t.rgba[((y * t.width + x) * 4) as usize];
            assert!(px(t.width - 1, t.height / 2) > px(0, t.height / 2) + 100);
        }
        assert_eq!(fit(5, 3, 0), (1, 1));
        assert_eq!(fit(10_000, 1, 160), (160, 1));
    }

    #[test]
    fn exif_orientation_turns_the_thumbnail_upright() {
        // A landscape JPEG whose EXIF says "rotate 90° clockwise to view": a portrait thumbnail.
        let jpg = photo(200, 100, ImageFormat::Jpeg);
        let exif: &[u8] = &[
            b'E', b'x', b'i', b'f', 0, 0, b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 1, 1, 18, 0, 3, 0, 0,
            0, 1, 0, 6, 0, 0, 0, 0, 0, 0,
        ];
        let mut with_exif = jpg[..2].to_vec();
        with_exif.extend([0xFF, 0xE1, 0, (exif.len() + 2) as u8]);
        with_exif.extend(exif);
        with_exif.extend(&jpg[2..]);
        let t = thumbnail(&with_exif, 100).unwrap();
        assert_eq!((t.width, t.height), (50, 100));
        let plain = thumbnail(&jpg, 100).unwrap();
        assert_eq!((plain.width, plain.height), (100, 50));
    }

    #[test]
    fn broken_photos_are_errors_not_panics() {
        assert!(matches!(
            thumbnail(b"bukan foto", 160),
            Err(PhotoError::NotAPhoto)
        ));
        assert!(matches!(thumbnail(b"", 160), Err(PhotoError::NotAPhoto)));
        let jpg = photo(300, 200, ImageFormat::Jpeg);
        // The decoder alone would paint the missing part of most of these grey.
        for cut in [3, 20, 100, 400, jpg.len() / 3, jpg.len() - 2] {
            assert!(
                matches!(thumbnail(&jpg[..cut], 160), Err(PhotoError::Damaged(_))),
                "JPEG cut at {cut}"
            );
        }
        let png = photo(300, 200, ImageFormat::Png);
        for cut in [8, 30, png.len() / 2] {
            assert!(
                matches!(thumbnail(&png[..cut], 160), Err(PhotoError::Damaged(_))),
                "PNG cut at {cut}"
            );
        }
        // Garbage after a JPEG's first bytes.
        let mut junk = vec![0xFF, 0xD8, 0xFF, 0xE0];
        junk.extend(std::iter::repeat_n(7u8, 5000));
        assert!(thumbnail(&junk, 160).is_err());
    }

    #[test]
    fn huge_pictures_are_refused_before_decoding() {
        // A PNG header claiming 20000×20000 pixels (1.6 GB decoded), with no pixel data behind it.
        let mut png = photo(1, 1, ImageFormat::Png);
        png[16..24].copy_from_slice(&[0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20]);
        let ihdr_crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&ihdr_crc.to_be_bytes());
        assert!(matches!(
            thumbnail(&png, 160),
            Err(PhotoError::TooManyPixels {
                width: 20000,
                height: 20000
            })
        ));
        // Within the sides, over the memory: 11000×11000 RGB is 363 MB.
        png[16..24].copy_from_slice(&[0, 0, 0x2A, 0xF8, 0, 0, 0x2A, 0xF8]);
        let ihdr_crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&ihdr_crc.to_be_bytes());
        assert!(matches!(
            thumbnail(&png, 160),
            Err(PhotoError::TooManyPixels {
                width: 11000,
                height: 11000
            })
        ));
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_photo_file_is_attached_and_its_thumbnail_read_back_from_the_store() {
        let d = tempfile::tempdir().unwrap();
        let (device, _) = Device::init(&d.path().join("data"), "Tablet").unwrap();
        let file = d.path().join("rumah.jpg");
        std::fs::write(&file, photo(640, 480, ImageFormat::Jpeg)).unwrap();
        let hash = device.attach_file(&file).unwrap();
        let t = device.photo_thumbnail(&hash, 160).unwrap();
        assert_eq!((t.width, t.height), (160, 120));
        assert!(matches!(
            device.photo_thumbnail(&"0".repeat(64), 160),
            Err(AppError::Photo {
                error: PhotoError::Missing,
                ..
            })
        ));
        let cut = d.path().join("terpotong.jpg");
        let whole = std::fs::read(&file).unwrap();
        std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        assert!(matches!(
            device.attach_file(&cut),
            Err(AppError::Photo {
                error: PhotoError::Damaged(_),
                ..
            })
        ));
        let text = d.path().join("catatan.txt");
        std::fs::write(&text, "bukan foto").unwrap();
        assert!(matches!(
            device.attach_file(&text),
            Err(AppError::Photo {
                error: PhotoError::NotAPhoto,
                ..
            })
        ));
        assert!(matches!(
            device.attach_file(d.path()),
            Err(AppError::Photo {
                error: PhotoError::NotAPhoto,
                ..
            })
        ));
        assert!(matches!(
            device.attach_file(&d.path().join("missing.jpg")),
            Err(AppError::Photo {
                error: PhotoError::Unreadable(_),
                ..
            })
        ));
        let big = d.path().join("besar.jpg");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(matches!(
            device.attach_file(&big),
            Err(AppError::Photo {
                error: PhotoError::TooBig,
                ..
            })
        ));
    }
}
