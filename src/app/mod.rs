//! Use cases of the tablet: they join the form engine (`form`) and the device store (`store`).
//! The CLI and the UI call these; neither touches the store or the engine for a use case directly.

pub mod crash;
pub mod demo;
pub mod drives;
pub mod gps;
pub mod home;
pub mod list;
pub mod office;
pub mod package;
pub mod photos;
pub mod sync;
pub mod task;
pub mod text;

use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDate};
use uuid::Uuid;

use crate::form::catalog::Catalog;
use crate::form::{Form, Issue, evaluate};
use crate::model::Localized;
use crate::store::{Access, Answers, DeviceInfo, RecordHead, Store, StoreError, Unlock};

/// Why a use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown form `{0}`")]
    UnknownForm(String),
    #[error("form {0} version {1} is not built into this program: update pendata")]
    UnknownFormVersion(String, u64),
    #[error("{file}: {error}")]
    Photo {
        file: String,
        error: photos::PhotoError,
    },
    #[error("the built-in forms are broken: {0}")]
    Forms(String),
    /// Finalizing was refused: errors remain, or warnings were not acknowledged.
    #[error("{} error(s) and {} unacknowledged warning(s) block finalizing", errors.len(), warnings.len())]
    NotReady {
        errors: Vec<Issue>,
        warnings: Vec<Issue>,
    },
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error(transparent)]
    Write(#[from] crate::bundle::write::WriteError),
    #[error(
        "this tablet has no registry key yet: copy registry.pub from the registry (on the stick) and run `pendata registry-key set FILE`, or set it in the app's Export screen"
    )]
    NoRegistryKey,
    #[error("{0} is not a folder that exists")]
    NoFolder(String),
    #[error(
        "no desa of the household form's list lies in `{0}`: give a province (64), kabupaten/kota (64.72), kecamatan (64.72.01) or desa code of Kalimantan Timur"
    )]
    UnknownWilayah(String),
    #[error("cannot read {0}")]
    Unreadable(String),
    #[error("range {a}..{b} is not within this tablet's change sequence 1..{last}")]
    BadRange { a: u64, b: u64, last: u64 },
    #[error("this receipt is for device {receipt}, but this tablet is {this}")]
    WrongDevice { receipt: String, this: String },
    #[error(transparent)]
    Stopped(#[from] task::Stopped),
    /// Answers to questions the form does not have: refused before anything is saved.
    #[error("answers for questions form {form} does not have: {}; nothing was saved", paths(.unknown))]
    UnknownFields { form: String, unknown: Vec<Issue> },
    #[error("form {form} has no photo field `{field}`")]
    NotAPhotoField { form: String, field: String },
    /// A work package was refused (nothing changed): why, in both languages.
    #[error("{}", .0.en)]
    PackageRefused(crate::model::Localized),
    /// An answer longer than its field allows (`form::limits`): refused at entry, nothing saved.
    #[error("{path}: {}; nothing was saved", message.en)]
    TooLong { path: String, message: Localized },
    #[error(
        "this is not a demo tablet: synthetic families go only into a store made for them, in its own data directory (`pendata --data-dir DIR init --demo --device-name NAME`)"
    )]
    NotDemo,
    /// A registry key of the other kind: a demo registry's on a real tablet, or a real one's on a demo
    /// tablet (`tablet_demo` says which this tablet is).
    #[error("{}", if *tablet_demo {
        "this is a demo tablet and that is a real registry's key: a real registry refuses demo bundles; set a demo registry's key (`pendata registry init DIR --demo`)"
    } else {
        "that is a demo registry's key and this is a real tablet: a demo registry refuses real bundles; set the real registry's key"
    })]
    DemoMismatch { tablet_demo: bool },
    /// Another registry key than the one set (pinned): replacing it needs `--replace`.
    #[error("{}", pinned_en(current, new, *same_signer))]
    RegistryKeyPinned {
        current: String,
        new: String,
        /// The signing key is the same and only the encryption recipients differ.
        same_signer: bool,
    },
}

fn pinned_en(current: &str, new: &str, same_signer: bool) -> String {
    let what = if same_signer {
        format!(
            "that file has the same signing key ({current}) but other encryption keys than the registry key this tablet trusts"
        )
    } else {
        format!(
            "that is another registry's key (fingerprint {new}); this tablet trusts the registry key with fingerprint {current}"
        )
    };
    format!(
        "{what}. Nothing was changed. Compare both fingerprints with the registry's office (`pendata registry-key show`, and on the registry PC `pendata registry status DIR`); only if the office confirms the new key, run `pendata registry-key set FILE --replace`"
    )
}

/// The paths of some issues, `a, b, c`.
fn paths(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| i.path.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses answers to questions `form` does not have (a `null`, which removes an answer, is allowed).
fn refuse_unknown(form: &Form, answers: &Answers) -> Result<()> {
    let given: Answers = answers
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unknown = crate::form::unknown_answers(form, &given);
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(AppError::UnknownFields {
            form: form.id.clone(),
            unknown,
        })
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// The device's clock: UTC with the local offset.
pub fn now() -> DateTime<FixedOffset> {
    chrono::Local::now().fixed_offset()
}

/// Merges `patch` into `answers`: each key replaces the answer (a repeat replaces the whole list);
/// `null` removes an answer.
pub fn merge_answers(answers: &mut Answers, patch: Answers) {
    for (k, v) in patch {
        if v.is_null() {
            answers.remove(&k);
        } else {
            answers.insert(k, v);
        }
    }
}

/// Refuses answers holding a text longer than its field allows (`form::limits`), naming the first.
fn refuse_too_long(form: &Form, answers: &Answers) -> Result<()> {
    match crate::form::limits::too_long(form, answers)
        .into_iter()
        .next()
    {
        Some(issue) => Err(AppError::TooLong {
            path: issue.path,
            message: issue.message,
        }),
        None => Ok(()),
    }
}

/// The tablet: its store and the forms it knows.
/// A tablet as its registry knows it (`Device::identity`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub id: Uuid,
    pub name: String,
    /// The key's fingerprint (`bundle::keys::key_fingerprint`): what the operator compares.
    pub fingerprint: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The age recipient work packages for this tablet are encrypted to.
    pub age_recipient: String,
}

pub struct Device {
    pub store: Store,
    pub(crate) catalog: &'static Catalog,
}

impl Device {
    pub fn init(dir: &Path, name: &str) -> Result<(Device, DeviceInfo)> {
        let catalog = Catalog::shared().map_err(AppError::Forms)?;
        let (store, info) = Store::create(dir, name, now())?;
        tracing::info!(device = %info.id, "store created");
        Ok((Device { store, catalog }, info))
    }

    /// [`Device::init`] for a demo tablet (`pendata init --demo`): see [`Device::demo`].
    pub fn init_demo(dir: &Path, name: &str) -> Result<(Device, DeviceInfo)> {
        let catalog = Catalog::shared().map_err(AppError::Forms)?;
        let (store, info) = Store::create_demo(dir, name, now())?;
        tracing::info!(device = %info.id, "demo store created");
        Ok((Device { store, catalog }, info))
    }

    /// First-run setup: the device and its first petugas. Everything is checked before anything is
    /// created, so a refused setup (a short PIN, an empty name) leaves no store behind to block the next
    /// try.
    pub fn set_up(
        dir: &Path,
        device_name: &str,
        code: &str,
        name: &str,
        pin: &str,
    ) -> Result<(Device, DeviceInfo)> {
        crate::store::check_petugas(code, name, pin)?;
        let catalog = Catalog::shared().map_err(AppError::Forms)?;
        let (store, info) = Store::create_with_petugas(dir, device_name, (code, name, pin), now())?;
        tracing::info!(device = %info.id, "store created");
        Ok((Device { store, catalog }, info))
    }

    /// Opens the tablet's store for writing (checked first when not provably closed cleanly), unlocked
    /// by `unlock`.
    pub fn open(dir: &Path, unlock: Unlock<'_>) -> Result<Device> {
        Device::open_as(dir, Access::Write, unlock)
    }

    /// Sign-in with the store closed: the petugas's PIN unlocks and opens it.
    pub fn unlock(dir: &Path, code: &str, pin: &str) -> Result<(Device, crate::store::Petugas)> {
        let device = Device::open(dir, Unlock::Pin { code, pin })?;
        let petugas = if device.store.is_encrypted() {
            device.store.petugas(code)?
        } else {
            device.store.verify_pin(code, pin)?
        };
        Ok((device, petugas))
    }

    /// The petugas who can sign in (code, name), read without opening the store; `None` for a store of
    /// an earlier build, which opens without a PIN.
    pub fn holders(dir: &Path) -> Result<Option<Vec<(String, String)>>> {
        Ok(crate::store::holders(dir)?)
    }

    /// Opens the tablet's store as `access` asks, unlocked by `unlock`: read-only for what only reads,
    /// checked completely before an export or `check`.
    pub fn open_as(dir: &Path, access: Access, unlock: Unlock<'_>) -> Result<Device> {
        let started = std::time::Instant::now();
        let catalog = Catalog::shared().map_err(AppError::Forms)?;
        let store = Store::open_as(dir, access, unlock)?;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            ?access,
            opened = ?store.opened(),
            "store opened"
        );
        Ok(Device { store, catalog })
    }

    /// Every page of the store checked (redb's check) before an export from the app; needs the device
    /// alone (no background work holding it).
    pub fn verify_store(&mut self) -> Result<()> {
        Ok(self.store.verify_pages()?)
    }

    /// The store's full check (`pendata check`): redb's page checksums (run by opening it with
    /// [`Access::Checked`]) and the store's own consistency. The problems found, none when clean.
    pub fn check_store(&self) -> Result<Vec<String>> {
        Ok(self.store.consistency()?)
    }

    pub fn catalog(&self) -> &'static Catalog {
        self.catalog
    }

    /// The form (exact version) a record was made with.
    pub fn form_of(&self, head: &RecordHead) -> Result<&'static Form> {
        self.catalog
            .version(&head.form_id, head.form_version)
            .ok_or_else(|| AppError::UnknownFormVersion(head.form_id.clone(), head.form_version))
    }

    /// Starts a record with the newest version of a form, prefilled with the form's defaults.
    pub fn new_record(&self, form_id: &str, petugas: &str, answers: Answers) -> Result<RecordHead> {
        let form = self
            .catalog
            .latest(form_id)
            .ok_or_else(|| AppError::UnknownForm(form_id.to_string()))?;
        refuse_unknown(form, &answers)?;
        let mut all = Answers::new();
        for f in &form.fields {
            if let (Some(d), crate::form::compile::Container::Top) = (&f.default, f.container) {
                all.insert(f.name.clone(), d.clone());
            }
        }
        merge_answers(&mut all, answers);
        refuse_too_long(form, &all)?;
        let head = self
            .store
            .create_record(&form.id, form.version, all, petugas, now())?;
        tracing::info!(record = %head.id, form = %head.form_id, "record created");
        Ok(head)
    }

    /// Merges answers into a record as a new revision (a correction when it was final: needs a reason).
    pub fn set_answers(
        &self,
        id: Uuid,
        petugas: &str,
        patch: Answers,
        reason: Option<&str>,
    ) -> Result<RecordHead> {
        let (head, mut answers) = self.store.answers(id)?;
        refuse_unknown(self.form_of(&head)?, &patch)?;
        merge_answers(&mut answers, patch);
        refuse_too_long(self.form_of(&head)?, &answers)?;
        Ok(self
            .store
            .save_answers(id, answers, petugas, reason, now())?)
    }

    pub fn counts(&self) -> Result<crate::store::StatusCounts> {
        Ok(self.store.counts()?)
    }

    pub fn list(&self, status: Option<crate::store::Status>) -> Result<Vec<RecordHead>> {
        Ok(self.store.list(status)?)
    }

    /// The family list under a filter, for paging (see [`Device::list_rows`]).
    pub fn list_view(&self, filter: crate::store::ListFilter) -> Result<crate::store::ListView> {
        Ok(self.store.list_view(filter)?)
    }

    /// Rows `range` of a list view, newest change first.
    pub fn list_rows(
        &self,
        view: &crate::store::ListView,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<crate::store::ListRow>> {
        Ok(self.store.list_rows(view, range)?)
    }

    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<RecordHead>> {
        Ok(self.store.search(query, limit)?)
    }

    pub fn record(&self, id: Uuid) -> Result<(RecordHead, Answers)> {
        Ok(self.store.answers(id)?)
    }

    /// What identifies this tablet to a registry: its id, name and key fingerprint, as Settings and
    /// `pendata device` show them (the registry's device listing shows the same fingerprint).
    pub fn identity(&self) -> Result<Identity> {
        let d = self.store.device()?;
        Ok(Identity {
            fingerprint: crate::bundle::keys::key_fingerprint(&d.public_key),
            id: d.id,
            name: d.name,
            public_key: d.public_key,
            age_recipient: self.store.age_recipient()?,
        })
    }

    pub fn petugas(&self) -> Result<Vec<crate::store::Petugas>> {
        Ok(self.store.petugas_list()?)
    }

    /// The petugas with this code.
    pub fn find_petugas(&self, code: &str) -> Result<crate::store::Petugas> {
        Ok(self.store.petugas(code)?)
    }

    /// Every revision of a record, oldest first: its audit trail.
    pub fn history(&self, id: Uuid) -> Result<Vec<crate::store::Revision>> {
        Ok(self.store.history(id)?)
    }

    pub fn sign_in(&self, code: &str, pin: &str) -> Result<crate::store::Petugas> {
        Ok(self.store.verify_pin(code, pin)?)
    }

    pub fn add_petugas(&self, code: &str, name: &str, pin: &str) -> Result<crate::store::Petugas> {
        Ok(self.store.add_petugas(code, name, pin, now())?)
    }

    /// Replaces a record's answers with a full snapshot (the app's autosave).
    pub fn save(
        &self,
        id: Uuid,
        petugas: &str,
        answers: Answers,
        reason: Option<&str>,
    ) -> Result<RecordHead> {
        let head = self.store.record(id)?;
        refuse_too_long(self.form_of(&head)?, &answers)?;
        Ok(self
            .store
            .save_answers(id, answers, petugas, reason, now())?)
    }

    /// Size in bytes of a stored attachment, if it is there.
    pub fn attachment_size(&self, hash: &str) -> Result<Option<usize>> {
        Ok(self.store.attachment(hash)?.map(|b| b.len()))
    }

    pub fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        Ok(self.store.put_setting(key, value)?)
    }

    pub fn setting(&self, key: &str) -> Result<Option<serde_json::Value>> {
        Ok(self.store.setting(key)?)
    }

    /// Stores a photo file (as the app does: by content, see [`Device::attach_file`]) and makes it the
    /// answer of the record's photo field `field`, as a new revision. Returns the head and the hash.
    pub fn attach_photo(
        &self,
        id: Uuid,
        field: &str,
        file: &Path,
        petugas: &str,
        reason: Option<&str>,
    ) -> Result<(RecordHead, String)> {
        let (head, _) = self.store.answers(id)?;
        let form = self.form_of(&head)?;
        let top_photo = form.field(field).is_some_and(|f| {
            f.kind == crate::form::FieldKind::Photo
                && f.container == crate::form::compile::Container::Top
        });
        if !top_photo {
            return Err(AppError::NotAPhotoField {
                form: form.id.clone(),
                field: field.to_string(),
            });
        }
        let hash = self.attach_file(file)?;
        let mut patch = Answers::new();
        patch.insert(field.to_string(), serde_json::Value::String(hash.clone()));
        let head = self.set_answers(id, petugas, patch, reason)?;
        tracing::info!(record = %id, revision = head.revision, "photo attached");
        Ok((head, hash))
    }

    /// Checks a record against its form version on `today`.
    pub fn check(&self, id: Uuid, today: NaiveDate) -> Result<(RecordHead, Vec<Issue>)> {
        let (head, answers) = self.store.answers(id)?;
        let form = self.form_of(&head)?;
        let ev = evaluate(form, &answers, today);
        let mut issues = ev.issues.clone();
        // A photo answer names stored bytes; a hash with nothing stored under it would export nothing.
        for (path, hash, field, instance) in ev.photos() {
            if self.store.attachment(&hash)?.is_none() {
                issues.push(Issue {
                    path,
                    severity: crate::form::Severity::Error,
                    code: "photo_missing",
                    message: crate::model::Localized::new(
                        "Foto tidak ada di tablet ini: ambil atau lampirkan lagi",
                        "The photo is not on this tablet: take or attach it again",
                    ),
                    field: Some(field),
                    instance,
                });
            }
        }
        Ok((head, issues))
    }

    /// Finalizes a draft: only when the engine finds no errors, and warnings are acknowledged.
    pub fn finalize(
        &self,
        id: Uuid,
        petugas: &str,
        ack_warnings: bool,
        today: NaiveDate,
    ) -> Result<RecordHead> {
        let (head, issues) = self.check(id, today)?;
        let (errors, warnings): (Vec<Issue>, Vec<Issue>) = issues
            .into_iter()
            .partition(|i| i.severity == crate::form::Severity::Error);
        if !errors.is_empty() || (!warnings.is_empty() && !ack_warnings) {
            return Err(AppError::NotReady {
                errors,
                warnings: if ack_warnings { Vec::new() } else { warnings },
            });
        }
        let acknowledged = warnings
            .iter()
            .map(|w| format!("{} {}", w.path, w.code))
            .collect();
        let head = self
            .store
            .finalize(id, head.revision, petugas, acknowledged, now())?;
        tracing::info!(record = %id, revision = head.revision, "record finalized");
        Ok(head)
    }
}
