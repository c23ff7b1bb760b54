//! Photo fields: the stored photo's thumbnail, and the picker — a grid of the camera folders' newest
//! photos to tap. Thumbnails are decoded by `app::photos` in a few background tasks and turned into
//! textures here; the screen repaints only while some are still coming.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use egui::{Color32, RichText, Ui};

use super::TOUCH;
use super::i18n::{tr, trf};
use crate::app::photos::{self, PhotoFile, Thumb};
use crate::app::task::{Task, Updates, Wake};
use crate::app::{AppError, Device};
use crate::model::Lang;

/// Photos offered at most, newest first.
const LIMIT: usize = 300;
/// Thumbnails decoded at once: enough to fill a screen quickly, few enough to leave the tablet usable.
const WORKERS: usize = 2;
/// Decoded thumbnails turned into textures in one frame.
const PER_FRAME: usize = 6;
/// A tile of the picker: the picture's square (at least this wide; the tiles share the width) and two
/// lines of text.
const TILE: f32 = 150.0;
const TILE_TEXT: f32 = 44.0;
/// Thumbnail sizes decoded, in pixels: the picker's tiles, and the photo shown in its field.
const PICKER_SIDE: u32 = 192;
const FIELD_SIDE: u32 = 320;
/// The stored photo's box in its field.
pub const FIELD_BOX: f32 = 180.0;
const RED: Color32 = Color32::from_rgb(180, 0, 0);

/// What a thumbnail shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A photo stored on the tablet, by its SHA-256.
    Stored(String),
    /// A file in a camera folder.
    File(PathBuf),
}

enum Tile {
    Loading,
    Ready(egui::TextureHandle),
    /// Kept as the error, to be told in the language of the moment.
    Failed(AppError),
}

type Decoded = (Source, Result<Thumb, AppError>);

/// Thumbnails asked for, decoding and ready, by what they show. Dropping it drops the textures, and the
/// workers stop after the picture they are on.
pub struct Thumbs {
    max_side: u32,
    device: Arc<Device>,
    wake: Wake,
    tiles: HashMap<Source, Tile>,
    /// What waits to be decoded; the workers take from the front.
    waiting: Arc<Mutex<VecDeque<Source>>>,
    /// At most [`WORKERS`] tasks decoding, each sending a thumbnail as an update when it is done.
    workers: Vec<Task<(), Decoded>>,
    /// Decoded, not yet turned into textures.
    decoded: VecDeque<Decoded>,
}

impl Thumbs {
    fn new(device: &Arc<Device>, max_side: u32, wake: Wake) -> Thumbs {
        Thumbs {
            max_side,
            device: Arc::clone(device),
            wake,
            tiles: HashMap::new(),
            waiting: Arc::default(),
            workers: Vec::new(),
            decoded: VecDeque::new(),
        }
    }

    /// Thumbnails for photos shown in their fields.
    pub fn for_fields(device: &Arc<Device>, wake: Wake) -> Thumbs {
        Thumbs::new(device, FIELD_SIDE, wake)
    }

    /// The tile of `src`, asking a worker for it the first time.
    fn tile(&mut self, src: &Source) -> &Tile {
        if !self.tiles.contains_key(src) {
            self.tiles.insert(src.clone(), Tile::Loading);
            if let Ok(mut waiting) = self.waiting.lock() {
                waiting.push_back(src.clone());
            }
            self.start_workers();
        }
        self.tiles.get(src).unwrap_or(&Tile::Loading)
    }

    /// Starts workers while something waits and fewer than [`WORKERS`] run.
    fn start_workers(&mut self) {
        let waiting = self.waiting.lock().map_or(0, |w| w.len());
        for _ in self.workers.len()..WORKERS.min(self.workers.len() + waiting) {
            let (queue, device, side) = (
                Arc::clone(&self.waiting),
                Arc::clone(&self.device),
                self.max_side,
            );
            self.workers.push(Task::with_updates(
                "thumbnails",
                self.wake.clone(),
                move |decoded| decode_waiting(&queue, decoded, &device, side),
            ));
        }
    }

    /// Turns decoded thumbnails into textures, a few a frame. True while some are still coming.
    pub fn poll(&mut self, ctx: &egui::Context) -> bool {
        let decoded = &mut self.decoded;
        self.workers.retain_mut(|w| {
            // A worker sends every thumbnail before it ends: once it has ended, all are there.
            let ended = w.poll().is_some() || w.is_done();
            decoded.extend(std::iter::from_fn(|| w.update()));
            !ended
        });
        // A picture asked for just as a worker found nothing more to do still gets one.
        self.start_workers();
        for _ in 0..PER_FRAME {
            let Some((src, result)) = self.decoded.pop_front() else {
                break;
            };
            let tile = match result {
                Ok(t) => {
                    let size = [t.width as usize, t.height as usize];
                    let image = egui::ColorImage::from_rgba_unmultiplied(size, &t.rgba);
                    let name = match &src {
                        Source::Stored(h) => format!("photo {h}"),
                        Source::File(p) => p.display().to_string(),
                    };
                    Tile::Ready(ctx.load_texture(name, image, egui::TextureOptions::LINEAR))
                }
                Err(e) => Tile::Failed(e),
            };
            self.tiles.insert(src, tile);
        }
        self.tiles.values().any(|t| matches!(t, Tile::Loading))
    }
}

impl Drop for Thumbs {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.clear();
        }
    }
}

/// Decodes what is waiting until nothing is, or until nobody listens any more.
fn decode_waiting(
    waiting: &Mutex<VecDeque<Source>>,
    decoded: &Updates<Decoded>,
    device: &Device,
    side: u32,
) {
    loop {
        let Some(next) = waiting.lock().ok().and_then(|mut w| w.pop_front()) else {
            return;
        };
        let result = match &next {
            Source::Stored(hash) => device.photo_thumbnail(hash, side),
            Source::File(path) => photos::thumbnail_file(path, side),
        };
        if !decoded.send((next, result)) {
            return;
        }
    }
}

/// Why a photo could not be attached or shown, in the petugas's language, with the file it concerns.
pub fn reason(lang: Lang, e: &AppError) -> String {
    match e {
        AppError::Photo { .. } => e.text().get(lang).to_string(),
        _ => format!("{}: {}", tr(lang, "error.prefix"), e.text().get(lang)),
    }
}

/// Draws a thumbnail fitted into `rect`, or what stands in for it while it loads or when it cannot be
/// shown (`failed` says why).
fn thumb_in_box(ui: &mut Ui, lang: Lang, tile: &Tile, rect: egui::Rect, failed: &str) {
    match tile {
        Tile::Ready(tex) => {
            let fitted = fit_rect(tex.size_vec2(), rect);
            egui::Image::new(tex)
                .corner_radius(4.0)
                .paint_at(ui, fitted);
        }
        Tile::Loading => {
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                tr(lang, "photo.loading"),
                egui::TextStyle::Small.resolve(ui.style()),
                ui.visuals().weak_text_color(),
            );
        }
        Tile::Failed(_) => {
            let galley = ui.painter().layout(
                failed.to_string(),
                egui::TextStyle::Small.resolve(ui.style()),
                RED,
                rect.width() - 8.0,
            );
            let pos = rect.center() - galley.size() / 2.0;
            ui.painter().with_clip_rect(rect).galley(pos, galley, RED);
        }
    }
}

/// The largest rectangle of `size`'s shape inside `outer`, centred.
fn fit_rect(size: egui::Vec2, outer: egui::Rect) -> egui::Rect {
    if size.x <= 0.0 || size.y <= 0.0 {
        return outer;
    }
    let scale = (outer.width() / size.x).min(outer.height() / size.y);
    egui::Rect::from_center_size(outer.center(), size * scale)
}

/// The stored photo of a field, as a thumbnail (or why it cannot be shown).
pub fn stored_ui(ui: &mut Ui, lang: Lang, thumbs: &mut Thumbs, hash: &str) {
    let src = Source::Stored(hash.to_string());
    let alt = trf(
        lang,
        "photo.preview",
        &[("id", hash.get(..12).unwrap_or(hash))],
    );
    let tile = thumbs.tile(&src);
    let failed = match tile {
        Tile::Failed(e) => format!("{}: {}", tr(lang, "photo.cannot_show"), reason(lang, e)),
        _ => String::new(),
    };
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(FIELD_BOX, FIELD_BOX), egui::Sense::hover());
    // Screen readers (and tests) hear the photo, that it is loading, or why it cannot be shown.
    let said = match tile {
        Tile::Ready(_) => alt,
        Tile::Loading => format!("{alt} {}", tr(lang, "photo.loading")),
        Tile::Failed(_) => failed.clone(),
    };
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &said));
    ui.painter()
        .rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
    thumb_in_box(ui, lang, tile, rect, &failed);
}

/// The picker of one photo field, open over its page.
pub struct Picker {
    pub field: usize,
    pub member: Option<usize>,
    /// Another folder (or one photo file) typed by hand.
    pub other: String,
    /// Where to look instead of the platform's camera folders (tests, odd devices).
    camera: Option<Vec<PathBuf>>,
    folders: Vec<PathBuf>,
    photos: Vec<PhotoFile>,
    /// The camera folders being looked through (an SD card can be slow): the folders, and the photos.
    listing: Option<Task<(Vec<PathBuf>, Vec<PhotoFile>)>>,
    thumbs: Thumbs,
    wake: Wake,
}

/// What the petugas did in the picker.
pub enum Picked {
    File(PathBuf),
    Cancel,
}

impl Picker {
    /// Opens the picker of a field and starts looking for photos: in `camera` when given, else in the
    /// platform's camera folders.
    pub fn open(
        field: usize,
        member: Option<usize>,
        camera: Option<Vec<PathBuf>>,
        device: &Arc<Device>,
        wake: Wake,
    ) -> Picker {
        let mut p = Picker {
            field,
            member,
            other: String::new(),
            camera,
            folders: Vec::new(),
            photos: Vec::new(),
            listing: None,
            thumbs: Thumbs::new(device, PICKER_SIDE, wake.clone()),
            wake,
        };
        p.refresh();
        p
    }

    /// Looks again: in the typed folder when there is one, else in the camera folders. The listing
    /// runs on a worker thread (an SD card can be slow).
    fn refresh(&mut self) {
        let typed = self.other.trim();
        let chosen = if typed.is_empty() {
            self.camera.clone()
        } else {
            Some(vec![PathBuf::from(typed)])
        };
        self.listing = Some(Task::start("photo-listing", self.wake.clone(), move || {
            let folders = chosen.unwrap_or_else(photos::camera_folders);
            let found = photos::list_photos(&folders, LIMIT);
            (folders, found)
        }));
    }

    /// Takes what the workers sent; true while something is still coming.
    fn poll(&mut self, ctx: &egui::Context) -> bool {
        if let Some(listed) = self.listing.as_mut().and_then(Task::poll) {
            // A listing that stopped leaves what was shown; Refresh looks again.
            if let Ok((folders, found)) = listed {
                self.folders = folders;
                self.photos = found;
            }
            self.listing = None;
        }
        let thumbs = self.thumbs.poll(ctx);
        thumbs || self.listing.is_some()
    }
}

/// The picker: the newest photos as a grid of tiles to tap, another folder or file by hand, Cancel.
/// `error` says why the last photo chosen was not attached.
pub fn picker_ui(
    ui: &mut Ui,
    lang: Lang,
    field_label: &str,
    error: Option<&str>,
    p: &mut Picker,
) -> Option<Picked> {
    if p.poll(ui.ctx()) {
        ui.ctx().request_repaint_after(Duration::from_millis(80));
    }
    let mut picked = None;
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(trf(lang, "photo.title", &[("field", field_label)]))
                .size(20.0)
                .strong(),
        );
        if ui
            .add(egui::Button::new(tr(lang, "photo.cancel")).min_size([TOUCH * 2.0, TOUCH].into()))
            .clicked()
        {
            picked = Some(Picked::Cancel);
        }
    });
    ui.horizontal_wrapped(|ui| {
        let l = ui.label(tr(lang, "photo.other"));
        ui.add(
            egui::TextEdit::singleline(&mut p.other)
                .hint_text(tr(lang, "form.photo_hint"))
                .min_size([320.0, TOUCH].into())
                .desired_width(360.0),
        )
        .labelled_by(l.id);
        if ui
            .add(egui::Button::new(tr(lang, "photo.refresh")).min_size([TOUCH * 2.0, TOUCH].into()))
            .clicked()
        {
            p.refresh();
        }
        let typed = p.other.trim();
        if ui
            .add_enabled(
                !typed.is_empty(),
                egui::Button::new(tr(lang, "photo.attach_file"))
                    .min_size([TOUCH * 2.0, TOUCH].into()),
            )
            .clicked()
        {
            picked = Some(Picked::File(PathBuf::from(typed)));
        }
    });
    if let Some(e) = error {
        ui.label(RichText::new(e).color(RED).strong());
    }
    if p.listing.is_some() {
        ui.label(tr(lang, "photo.listing"));
    } else {
        let folders: Vec<String> = p.folders.iter().map(|f| f.display().to_string()).collect();
        let text = if p.photos.is_empty() {
            tr(lang, "photo.none").to_string()
        } else {
            trf(
                lang,
                "photo.found",
                &[
                    ("n", &p.photos.len().to_string()),
                    ("folders", &folders.join(", ")),
                ],
            )
        };
        ui.label(RichText::new(text).weak());
    }
    let gap = ui.spacing().item_spacing;
    let width = ui.available_width();
    let cols = (((width + gap.x) / (TILE + gap.x)).floor() as usize).max(1);
    let tile = ((width - gap.x * (cols - 1) as f32) / cols as f32).clamp(TILE, TILE * 1.4);
    let rows = p.photos.len().div_ceil(cols);
    egui::ScrollArea::vertical()
        .id_salt("photo-picker")
        .auto_shrink(false)
        .show_rows(ui, tile + TILE_TEXT, rows, |ui, range| {
            for row in range {
                ui.horizontal(|ui| {
                    for col in 0..cols {
                        let Some(photo) = p.photos.get(row * cols + col) else {
                            break;
                        };
                        if tile_ui(ui, lang, &mut p.thumbs, photo, tile).clicked() {
                            picked = Some(Picked::File(photo.path.clone()));
                        }
                    }
                });
            }
        });
    picked
}

/// One photo of the picker: its thumbnail, name and date; tapped to attach it.
fn tile_ui(
    ui: &mut Ui,
    lang: Lang,
    thumbs: &mut Thumbs,
    photo: &PhotoFile,
    side: f32,
) -> egui::Response {
    let name = photo.name();
    let when = chrono::DateTime::<chrono::Local>::from(photo.modified)
        .format("%d-%m-%Y %H:%M")
        .to_string();
    let tile = thumbs.tile(&Source::File(photo.path.clone()));
    let failed = match tile {
        Tile::Failed(e) => reason(lang, e),
        _ => String::new(),
    };
    let label = match tile {
        Tile::Ready(_) => format!("{name} · {when}"),
        Tile::Loading => format!("{name} · {when} {}", tr(lang, "photo.loading")),
        Tile::Failed(_) => format!("{name} · {when}: {failed}"),
    };
    // A photo that cannot be decoded cannot be attached either: the tile says why instead.
    let usable = failed.is_empty();
    let (rect, response) = ui
        .add_enabled_ui(usable, |ui| {
            ui.allocate_exact_size(egui::vec2(side, side + TILE_TEXT), egui::Sense::click())
        })
        .inner;
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, usable, &label));
    if !ui.is_rect_visible(rect) {
        return response;
    }
    let visuals = ui.style().interact(&response);
    ui.painter().rect(
        rect,
        6.0,
        visuals.bg_fill,
        visuals.bg_stroke,
        egui::StrokeKind::Inside,
    );
    let picture = egui::Rect::from_min_size(rect.min, egui::vec2(side, side)).shrink(6.0);
    thumb_in_box(ui, lang, tile, picture, &failed);
    let painter = ui.painter().with_clip_rect(rect.shrink(4.0));
    let small = egui::TextStyle::Small.resolve(ui.style());
    let color = ui.visuals().text_color();
    painter.text(
        egui::pos2(rect.left() + 6.0, rect.top() + side),
        egui::Align2::LEFT_TOP,
        &when,
        small.clone(),
        color,
    );
    painter.text(
        egui::pos2(rect.left() + 6.0, rect.top() + side + 20.0),
        egui::Align2::LEFT_TOP,
        elide_middle(&name, (side / 8.0) as usize),
        small,
        ui.visuals().weak_text_color(),
    );
    response
}

/// A name shortened to `max` characters by cutting its middle: camera files differ at the end
/// (`IMG_202…9_0008.jpg`).
fn elide_middle(name: &str, max: usize) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= max || max < 5 {
        return name.to_string();
    }
    let tail = (max - 1) * 3 / 5;
    let head = max - 1 - tail;
    let start: String = chars.iter().take(head).collect();
    let end: String = chars.iter().skip(chars.len() - tail).collect();
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_keep_their_ends() {
        assert_eq!(
            elide_middle("IMG_20261129_0008.jpg", 18),
            "IMG_202…9_0008.jpg"
        );
        assert_eq!(elide_middle("rumah.jpg", 18), "rumah.jpg");
        assert_eq!(
            elide_middle("fotó_rumah_pak_budi.jpg", 12).chars().count(),
            12
        );
    }

    #[test]
    fn a_thumbnail_fits_its_box_keeping_its_shape() {
        let outer = egui::Rect::from_min_size(egui::pos2(0.0, 0.0), egui::vec2(180.0, 180.0));
        let r = fit_rect(egui::vec2(320.0, 240.0), outer);
        assert_eq!((r.width(), r.height()), (180.0, 135.0));
        assert_eq!(r.center(), outer.center());
        assert_eq!(fit_rect(egui::vec2(0.0, 10.0), outer), outer);
    }
}
