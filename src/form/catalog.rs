//! The forms built into the program: every file of `schemas/` (all versions, so old records always open)
//! with the data files they use, embedded at compile time.

use std::sync::OnceLock;

use super::compile::{DataFiles, Form, FormProblem};

/// Form files shipped with the program, newest version last per id.
const FORM_FILES: &[(&str, &str)] = &[
    (
        "keluarga-2026112801.json",
        include_str!("../../schemas/keluarga-2026112801.json"),
    ),
    ("keluarga.json", include_str!("../../schemas/keluarga.json")),
];

/// Data files the shipped forms refer to, by their path relative to `schemas/`. The region list is cut to
/// Kalimantan Timur by `build.rs`: the shipped forms only offer regions of province 64.
const DATA_FILES: &[(&str, &str)] = &[(
    "data/wilayah.csv",
    include_str!(concat!(env!("OUT_DIR"), "/wilayah-64.csv")),
)];

/// The embedded data files.
pub struct EmbeddedData;

impl DataFiles for EmbeddedData {
    fn read(&self, name: &str) -> Result<String, String> {
        DATA_FILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| (*text).to_string())
            .ok_or_else(|| format!("no data file `{name}` is built in"))
    }
}

/// The shipped forms, loaded once.
pub struct Catalog {
    forms: Vec<Form>,
}

impl Catalog {
    /// Compiles every shipped form. A problem here is a build defect, caught by the test suite.
    pub fn load() -> Result<Catalog, (String, Vec<FormProblem>)> {
        let mut forms = Vec::new();
        for (file, text) in FORM_FILES {
            let form =
                Form::from_json(text, &EmbeddedData).map_err(|p| ((*file).to_string(), p))?;
            forms.push(form);
        }
        forms.sort_by(|a, b| (&a.id, a.version).cmp(&(&b.id, b.version)));
        Ok(Catalog { forms })
    }

    /// The process-wide catalog.
    pub fn shared() -> Result<&'static Catalog, String> {
        static CATALOG: OnceLock<Result<Catalog, String>> = OnceLock::new();
        CATALOG
            .get_or_init(|| {
                Catalog::load().map_err(|(file, problems)| {
                    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    format!("built-in form {file} is invalid: {}", list.join("; "))
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The newest version of a form.
    pub fn latest(&self, id: &str) -> Option<&Form> {
        self.forms.iter().rev().find(|f| f.id == id)
    }

    /// A specific version of a form.
    pub fn version(&self, id: &str, version: u64) -> Option<&Form> {
        self.forms
            .iter()
            .find(|f| f.id == id && f.version == version)
    }

    /// Ids and versions of every shipped form.
    pub fn list(&self) -> impl Iterator<Item = (&str, u64)> {
        self.forms.iter().map(|f| (f.id.as_str(), f.version))
    }

    /// The names of the shipped form files (for `form check` of the whole set).
    pub fn files() -> impl Iterator<Item = (&'static str, &'static str)> {
        FORM_FILES.iter().copied()
    }
}
