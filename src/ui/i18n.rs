//! UI texts from the translation files `src/ui/i18n/{id,en}.json` (key → text). No UI string is written
//! in code: screens ask for a key, and a test checks that both files hold every key the code uses.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::model::Lang;

const ID: &str = include_str!("i18n/id.json");
const EN: &str = include_str!("i18n/en.json");

fn table(lang: Lang) -> &'static BTreeMap<String, String> {
    static TABLES: OnceLock<[BTreeMap<String, String>; 2]> = OnceLock::new();
    let [id, en] = TABLES.get_or_init(|| {
        // A broken translation file shows keys instead of texts; the test suite catches it first.
        [
            serde_json::from_str(ID).unwrap_or_default(),
            serde_json::from_str(EN).unwrap_or_default(),
        ]
    });
    match lang {
        Lang::Id => id,
        Lang::En => en,
    }
}

/// The text for `key` in `lang`; a key missing there falls back to the other language, then to a visible
/// marker — never a crash. A test keeps both files complete.
pub fn tr(lang: Lang, key: &str) -> &'static str {
    let other = match lang {
        Lang::Id => Lang::En,
        Lang::En => Lang::Id,
    };
    table(lang)
        .get(key)
        .or_else(|| table(other).get(key))
        .map_or("⟨?⟩", String::as_str)
}

/// The text for `key` with `{name}` placeholders filled in.
pub fn trf(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = tr(lang, key).to_string();
    for (k, v) in args {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// Every key of a language (for tests).
pub fn keys(lang: Lang) -> impl Iterator<Item = &'static str> {
    table(lang).keys().map(String::as_str)
}
