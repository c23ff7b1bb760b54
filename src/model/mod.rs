//! Domain values shared by every layer: texts in two languages, identity numbers (NIK, KK), region codes,
//! the household form's well-known field names.
//! No I/O here.

pub mod household;
pub mod ids;
pub mod printable;
pub mod record;

use serde::{Deserialize, Serialize};

/// The languages users read: Indonesian first, English second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    Id,
    En,
}

/// A user-visible text in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    pub id: String,
    pub en: String,
}

impl Localized {
    pub fn new(id: impl Into<String>, en: impl Into<String>) -> Self {
        Localized {
            id: id.into(),
            en: en.into(),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Id => &self.id,
            Lang::En => &self.en,
        }
    }
}
