//! The families screen: search as one types, and a family's page with its whole history.

use egui::Ui;

use crate::app::office::Office;
use crate::app::task::Wake;
use crate::model::Lang;

/// The screen's state, kept by the office shell while the window is open. The shell makes it once after
/// sign-in and calls [`FamiliesScreen::ui`] every frame while it is shown.
pub struct FamiliesScreen {
    #[expect(dead_code, reason = "the screen is being built")]
    office: Office,
    #[expect(dead_code, reason = "the screen is being built")]
    wake: Wake,
}

impl FamiliesScreen {
    pub fn new(office: Office, wake: Wake) -> FamiliesScreen {
        FamiliesScreen { office, wake }
    }

    /// Draws the screen into `ui` (the shell's central panel).
    pub fn ui(&mut self, ui: &mut Ui, lang: Lang) {
        let _ = lang;
        ui.label("…");
    }
}
