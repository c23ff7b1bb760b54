//! Limits at entry: how long an answer may be. A text answer holds at most its field's `max_length`
//! characters (default [`DEFAULT_MAX_LENGTH`]); so does any other text in the answers (a code, a number
//! typed as text, a key no field knows). The engine reports a longer text as a `too_long` error; the use
//! cases refuse to save one ([`too_long`]), so nothing reaches the store, or a bundle, that the registry
//! would refuse for its size.

use serde_json::Value as Json;

use super::compile::{Field, Form};
use super::eval::Issue;
use super::schema::{FieldKind, Severity};
use crate::model::Localized;

/// The most characters of a text answer when its field does not say (`max_length` in the form file).
pub const DEFAULT_MAX_LENGTH: usize = 1000;

impl Field {
    /// The most characters an answer of this field may have.
    pub fn max_chars(&self) -> usize {
        match (self.kind, self.max_length) {
            (FieldKind::Text, Some(n)) => n as usize,
            _ => DEFAULT_MAX_LENGTH,
        }
    }
}

/// What a person reads of a text of `len` characters where `max` are allowed.
pub fn too_long_message(max: usize, len: usize) -> Localized {
    Localized::new(
        format!("Terlalu panjang: paling banyak {max} karakter (ada {len})"),
        format!("Too long: at most {max} characters (this has {len})"),
    )
}

/// The error for a text of `len` characters in `path`, longer than `max`.
fn too_long_issue(path: String, max: usize, len: usize) -> Issue {
    Issue {
        path,
        severity: Severity::Error,
        code: "too_long",
        message: too_long_message(max, len),
        field: None,
        instance: None,
    }
}

/// Every text in `answers` longer than its field allows, with its path; empty when all fit.
pub fn too_long(form: &Form, answers: &serde_json::Map<String, Json>) -> Vec<Issue> {
    let mut out = Vec::new();
    for (key, value) in answers {
        walk(form, key, key.clone(), value, &mut out);
    }
    out
}

fn walk(form: &Form, key: &str, path: String, value: &Json, out: &mut Vec<Issue>) {
    match value {
        Json::String(s) => {
            let max = form.field(key).map_or(DEFAULT_MAX_LENGTH, Field::max_chars);
            // Bytes bound characters from above: the count is only needed past the limit.
            if s.len() > max {
                let len = s.chars().count();
                if len > max {
                    out.push(too_long_issue(path, max, len));
                }
            }
        }
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(form, key, format!("{path}[{i}]"), item, out);
            }
        }
        Json::Object(map) => {
            for (k, v) in map {
                walk(form, k, format!("{path}.{k}"), v, out);
            }
        }
        Json::Null | Json::Bool(_) | Json::Number(_) => {}
    }
}
