//! The provincial registry: its folder, keys and store, the import of bundles and their merge, the
//! operator's decisions, and the outputs (reports, exports). Layers, from the bottom:
//!
//! - `entries`, `family`: what the registry keeps (documents any storage holds);
//! - `storage`: the storage interface (traits); `db`: it over redb, the only registry code naming redb;
//! - `validate`, `merge`: the rules (pure, and over the storage traits);
//! - `import` (the pipeline), `decide` (operator decisions), `query` (read-only views), `keys`;
//! - `report`, `export`, `facts`: the outputs, which read families through `query`.
//!
//! ```text
//! DIR/registry.pub                 public: give it to every tablet (on the stick)
//! DIR/keys/                        SECRET: the age identity and the signing key (see `keys`)
//! DIR/registry.redb                the store (see `db`)
//! DIR/pending/                     bundles held until their device is approved
//! ```

pub mod db;
pub mod decide;
pub mod endorse;
pub mod entries;
pub mod evaluate;
pub mod export;
pub mod facts;
pub mod family;
pub mod forward;
pub mod import;
pub mod keys;
pub(crate) mod merge;
pub mod operators;
pub mod package;
pub mod prelist;
pub mod private;
pub mod query;
pub mod queue;
pub mod receipt;
pub mod report;
pub mod scope;
pub mod storage;
#[cfg(feature = "test-support")]
pub mod synth;
pub mod upstream_receipt;
pub mod upward_import;
pub(crate) mod validate;
pub mod visits;

use std::path::{Path, PathBuf};

use crate::form::catalog::Catalog;

pub use entries::*;
pub use import::FileOutcome;
pub use keys::{
    AGE_KEY_FILE, Initialized, KEY_DIR, PUB_FILE, RegistryKeys, SIGNING_KEY_FILE, init, init_demo,
    is_protected, load, load_with, read_age_identity, read_age_identity_with,
};

/// An open registry: its keys, its store and the forms it validates against. Everything it does goes
/// through the store's traits (`storage`); `open` opens the redb store (`db`).
pub struct Registry<S = db::Db> {
    pub dir: PathBuf,
    pub keys: RegistryKeys,
    pub db: S,
    pub catalog: &'static Catalog,
    /// How long an import of many files merges into one write transaction before it commits it
    /// durably and reports the files in it ([`import::SAVE_EVERY`]; zero: after every file).
    pub save_every: std::time::Duration,
    /// What an import reads of a bundle at most (the file, its decompressed lines, their count and
    /// size); a test sets small ones.
    pub limits: crate::bundle::Limits,
    /// How many forwarded families a preparing thread takes at a time when the province imports an
    /// upward bundle ([`upward_import::SHARE`]); a test sets a small one.
    pub share: usize,
    /// Who is signed in, and the reason given for the decisions made (`operators`).
    pub session: operators::Session,
}

impl Registry {
    /// Opens the registry in `dir` (its keys must be there; the store is created on first use).
    pub fn open(dir: &Path) -> Result<Registry> {
        Registry::open_with(dir, None)
    }

    /// [`Registry::open`] of a registry whose secret keys may be under a passphrase
    /// ([`keys::is_protected`]).
    pub fn open_with(
        dir: &Path,
        passphrase: Option<&age::secrecy::SecretString>,
    ) -> Result<Registry> {
        let keys = keys::load_with(dir, passphrase)?;
        private::tighten(dir);
        let db = db::Db::open_or_create(dir)?;
        let catalog = Catalog::shared().map_err(|e| RegistryError::Key {
            path: dir.to_path_buf(),
            detail: format!("the built-in forms do not load: {e}"),
        })?;
        Ok(Registry {
            dir: dir.to_path_buf(),
            keys,
            db,
            catalog,
            save_every: import::SAVE_EVERY,
            limits: crate::bundle::Limits::default(),
            share: upward_import::SHARE,
            session: operators::Session::default(),
        })
    }

    /// Creates the store in a registry folder that has none yet (`registry init`: a fresh registry is
    /// complete, and a broken folder is noticed at once).
    pub fn create_store(dir: &Path) -> Result<()> {
        db::Db::open_or_create(dir)?;
        private::tighten(dir);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "{0} already holds registry keys; they were left untouched (a new key would lock out every tablet)"
    )]
    AlreadyInitialized(PathBuf),
    #[error("{0} is not a registry folder (no {PUB_FILE}): run `pendata registry init DIR` first")]
    NotInitialized(PathBuf),
    #[error("{path}: {detail}")]
    Key { path: PathBuf, detail: String },
    /// The secret keys are under a passphrase and none was given.
    #[error(
        "{0}: the registry's secret keys are kept under a passphrase: give it at the prompt, or in PENDATA_REGISTRY_PASSPHRASE"
    )]
    Locked(PathBuf),
    #[error("{0}: wrong passphrase for the registry's secret keys; nothing was done")]
    WrongPassphrase(PathBuf),
    /// The redb store failed (`db`); a second storage backend adds its own variant beside it.
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("{0}")]
    Invalid(String),
    /// Not signed in, a wrong passphrase, or a decision the signed-in operator's role may not make.
    #[error("{0}")]
    Operator(String),
    /// A merge failed partway through an import: the bundles merged since its last save were dropped
    /// with the failed one (nothing else was changed).
    #[error(
        "{source} — the import stopped; the {unsaved} file(s) merged since its last save were not kept: run the same import again (files already saved are recognised)"
    )]
    Unsaved {
        source: Box<RegistryError>,
        unsaved: usize,
    },
    /// A file the registry writes (a held copy, a receipt) was not written.
    #[error(transparent)]
    Write(#[from] crate::durable::WriteError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The report's facts about a family's answers, stored with the family so reports never re-read them.
pub(crate) fn facts_of(
    form: &crate::form::Form,
    answers: &crate::model::record::Answers,
) -> Option<facts::Facts> {
    Some(facts::extract(form, answers))
}

/// The report's names: regions and results from the latest household form.
pub fn names(reg: &Registry<impl storage::Storage>) -> report::Names {
    reg.catalog
        .latest("keluarga")
        .map(report::Names::from_form)
        .unwrap_or_else(|| report::Names::new(Vec::new(), Vec::new()))
}

/// The report now; `previous` is the snapshot to show changes against.
pub fn report(
    reg: &Registry<impl storage::Storage>,
    previous: Option<&report::Snapshot>,
) -> Result<report::RegistryReport> {
    let mut rows = Vec::new();
    reg.family_entries(|f| {
        rows.push((f.family.state, f.facts.clone().unwrap_or_default()));
    })?;
    Ok(report::RegistryReport::build(rows, previous, &names(reg)))
}

/// The report as shown to a person: with the registry's name, the time `now` and the data's cut-off
/// (the newest import).
pub fn report_now(
    reg: &Registry<impl storage::Storage>,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> Result<report::RegistryReport> {
    let previous = previous_snapshot(reg)?;
    let mut r = report(reg, previous.as_ref())?;
    r.about = Some(report::About {
        registry: reg.keys.public.name.clone(),
        made_at: now,
        data_cut_off: reg.imports()?.last().map(|i| i.at),
    });
    Ok(r)
}

/// The report's snapshot of the registry now, kept with each import for "changes since the previous
/// import".
pub fn snapshot(reg: &Registry<impl storage::Storage>) -> Result<Option<serde_json::Value>> {
    let snap = report(reg, None)?.snapshot();
    Ok(serde_json::to_value(snap).ok())
}

/// The snapshot to compare the report with: the one kept at the import before the latest (the latest
/// one is the state the latest import left).
pub fn previous_snapshot(
    reg: &Registry<impl storage::Storage>,
) -> Result<Option<report::Snapshot>> {
    let imports = reg.imports()?;
    Ok(imports
        .len()
        .checked_sub(2)
        .and_then(|i| imports.get(i))
        .and_then(|e| e.snapshot.clone())
        .and_then(|v| serde_json::from_value(v).ok()))
}
