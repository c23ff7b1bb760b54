//! The work queue screen: quarantine, conflicts and update conflicts in one list, filtered, decided one at a time or for a filtered set.

use egui::Ui;

use crate::app::office::Office;
use crate::app::task::Wake;
use crate::model::Lang;

/// The screen's state, kept by the office shell while the window is open. The shell makes it once after
/// sign-in and calls [`QueueScreen::ui`] every frame while it is shown.
pub struct QueueScreen {
    #[expect(dead_code, reason = "the screen is being built")]
    office: Office,
    #[expect(dead_code, reason = "the screen is being built")]
    wake: Wake,
}

impl QueueScreen {
    pub fn new(office: Office, wake: Wake) -> QueueScreen {
        QueueScreen { office, wake }
    }

    /// Draws the screen into `ui` (the shell's central panel).
    pub fn ui(&mut self, ui: &mut Ui, lang: Lang) {
        let _ = lang;
        ui.label("…");
    }
}
