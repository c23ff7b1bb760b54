//! The form file format as written in `schemas/*.json` (see `docs/form-format.md`): serde types only,
//! no meaning. `compile` turns them into a checked [`super::Form`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Localized;

/// One form file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FormDef {
    pub id: String,
    pub version: u64,
    pub title: Localized,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Localized>,
    #[serde(default)]
    pub choice_lists: BTreeMap<String, ChoiceListDef>,
    pub pages: Vec<PageDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckDef>,
}

/// A group of fields shown as one screen.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageDef {
    pub name: String,
    pub label: Localized,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<String>,
    pub fields: Vec<FieldDef>,
}

/// What kind of answer a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Integer,
    Decimal,
    Date,
    SelectOne,
    SelectMultiple,
    Nik,
    Kk,
    Phone,
    Gps,
    Photo,
    Note,
    Calculated,
    Repeat,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Integer => "integer",
            FieldKind::Decimal => "decimal",
            FieldKind::Date => "date",
            FieldKind::SelectOne => "select_one",
            FieldKind::SelectMultiple => "select_multiple",
            FieldKind::Nik => "nik",
            FieldKind::Kk => "kk",
            FieldKind::Phone => "phone",
            FieldKind::Gps => "gps",
            FieldKind::Photo => "photo",
            FieldKind::Note => "note",
            FieldKind::Calculated => "calculated",
            FieldKind::Repeat => "repeat",
        }
    }

    /// Kinds that take an answer from the person entering data.
    pub fn is_answered(self) -> bool {
        !matches!(
            self,
            FieldKind::Note | FieldKind::Calculated | FieldKind::Repeat
        )
    }

    pub fn is_select(self) -> bool {
        matches!(self, FieldKind::SelectOne | FieldKind::SelectMultiple)
    }
}

/// `required`: a constant or an expression.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RequiredDef {
    Always(bool),
    When(String),
}

/// One field of a page or of a repeat.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub name: String,
    pub kind: FieldKind,
    pub label: Localized,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Localized>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<RequiredDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_message: Option<Localized>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint_message: Option<Localized>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_filter: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub female_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_field: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_count: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    /// Text fields only: the most characters an answer may have (default
    /// [`crate::form::DEFAULT_MAX_LENGTH`]); longer answers are refused at entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

/// Severity of a rule: errors block finalizing, warnings must be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// A rule that must hold, with its message.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDef {
    pub rule: String,
    pub severity: Severity,
    pub message: Localized,
    /// Form-level checks only: the field the message is shown at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A choice list: inline choices or a data file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ChoiceListDef {
    Inline { choices: Vec<ChoiceDef> },
    File { source: ChoiceSourceDef },
}

/// One choice of an inline list.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceDef {
    pub value: String,
    pub label: Localized,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

/// How the code hierarchy of a data file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hierarchy {
    /// `64.72.01.1001`: parent is the code without its last dotted part.
    Dotted,
}

/// Choices read from a CSV file next to the form.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceSourceDef {
    pub file: String,
    pub value_column: String,
    pub label_column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hierarchy: Option<Hierarchy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}
