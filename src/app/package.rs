//! Work packages on the tablet: opening one (the device's age identity, the registry's signature),
//! the checks that refuse it with nothing changed (another device, another registry, expired, a form
//! version this program lacks), and its families made records through the store.

use std::path::Path;

use serde::Serialize;

use super::{AppError, Device, Result, now};
use crate::bundle::package::Package;
use crate::model::Localized;
use crate::model::household as hh;
use crate::model::record::VisitBase;
use crate::store::{PackageApplied, PackageLog, PackagedRecord};

/// A package applied (or found applied before).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub package_id: uuid::Uuid,
    pub registry: String,
    pub desa: Vec<String>,
    pub families: usize,
    #[serde(flatten)]
    pub outcome: PackageApplied,
}

impl Device {
    /// Applies a package file's bytes: refused, with nothing changed, unless it opens with this
    /// tablet's key, carries this tablet's registry's signature, names this tablet, has not expired
    /// and uses only forms this program has. Applying it again changes nothing.
    pub fn apply_package(&self, bytes: &[u8], petugas: &str) -> Result<Applied> {
        let key = self.registry_key()?.ok_or(AppError::NoRegistryKey)?;
        let identity = self.store.age_identity()?;
        let package = Package::open(bytes, &identity, &key.verifying_key()?).map_err(|e| {
            use crate::bundle::BundleError as B;
            match e {
                B::Decrypt(_) => refused(
                    "paket ini bukan untuk tablet ini (dienkripsi untuk perangkat lain)",
                    "this package is not for this tablet (it is encrypted to another device)",
                ),
                B::Signature(_) => refused(
                    "paket ini tidak ditandatangani oleh registri tablet ini (atau telah diubah)",
                    "this package was not signed by this tablet's registry (or was altered)",
                ),
                B::Truncated(_) => refused(
                    "berkas paket terpotong: salin lagi dari registri",
                    "the package file is truncated: copy it again from the registry",
                ),
                B::Tampered(_) => refused(
                    "berkas paket rusak atau telah diubah: minta paket baru dari registri",
                    "the package file is damaged or was altered: ask the registry for a new one",
                ),
                other => AppError::Bundle(other),
            }
        })?;
        let device = self.store.device()?;
        if package.device != device.id {
            return Err(refused(
                "paket ini untuk perangkat lain".to_string(),
                format!(
                    "this package is for device {}, not this tablet {}",
                    package.device, device.id
                ),
            ));
        }
        if package.registry != key.name {
            return Err(refused(
                format!(
                    "paket ini dari registri \"{}\", bukan registri tablet ini",
                    package.registry
                ),
                format!(
                    "this package is from registry \"{}\", not this tablet's registry",
                    package.registry
                ),
            ));
        }
        let today = now().date_naive();
        if today > package.expires {
            return Err(refused(
                format!(
                    "paket ini kedaluwarsa pada {}: minta paket baru dari registri",
                    package.expires
                ),
                format!(
                    "this package expired on {}: ask the registry for a new one",
                    package.expires
                ),
            ));
        }
        if let Some(f) = package
            .forms
            .iter()
            .find(|f| self.catalog.version(&f.id, f.version).is_none())
        {
            return Err(refused(
                format!(
                    "paket ini memerlukan formulir {} versi {}, yang tidak ada di program ini: perbarui pendata",
                    f.id, f.version
                ),
                format!(
                    "this package needs form {} version {}, which this program lacks: update pendata",
                    f.id, f.version
                ),
            ));
        }
        self.apply_opened(package, petugas)
    }

    fn apply_opened(&self, package: Package, petugas: &str) -> Result<Applied> {
        let log = PackageLog {
            package_id: package.package_id,
            registry: package.registry.clone(),
            created_at: package.created_at,
            applied_at: now(),
            applied_by: petugas.to_string(),
            desa: package.desa.clone(),
            due: package.due,
            expires: package.expires,
            note: package.note.clone(),
            families: package.families.iter().map(|f| f.family).collect(),
            kept: Vec::new(),
        };
        let families = package.families.len();
        let records = package
            .families
            .into_iter()
            .map(|f| {
                let mut answers = f.answers;
                answers.insert(
                    hh::LISTED_FAMILY.to_string(),
                    serde_json::Value::String(f.family.to_string()),
                );
                // The outcome is the petugas's to record on this visit, never the previous one's.
                for field in hh::VISIT_FIELDS {
                    answers.remove(*field);
                }
                // The visit is entered with the newest version of the form (whose visit questions an
                // older version may lack); the registry's answers carry over.
                let form_version = self
                    .catalog
                    .latest(&f.form_id)
                    .map_or(f.form_version, |l| l.version.max(f.form_version));
                PackagedRecord {
                    base: VisitBase {
                        family: f.family,
                        revision: f.base,
                        package: package.package_id,
                    },
                    form_id: f.form_id,
                    form_version,
                    answers,
                }
            })
            .collect();
        let outcome = self
            .store
            .apply_package(&log, records, petugas, log.applied_at)?;
        tracing::info!(
            package = %log.package_id,
            first_time = outcome.first_time,
            created = outcome.created,
            kept = outcome.kept,
            "package applied"
        );
        Ok(Applied {
            package_id: log.package_id,
            registry: log.registry,
            desa: log.desa,
            families,
            outcome,
        })
    }

    /// Applies a package file.
    pub fn apply_package_file(&self, path: &Path, petugas: &str) -> Result<Applied> {
        let bytes =
            std::fs::read(path).map_err(|_| AppError::Unreadable(path.display().to_string()))?;
        self.apply_package(&bytes, petugas)
    }

    /// The packages applied on this tablet, oldest first.
    pub fn packages(&self) -> Result<Vec<PackageLog>> {
        Ok(self.store.packages()?)
    }
}

fn refused(id: impl Into<String>, en: impl Into<String>) -> AppError {
    AppError::PackageRefused(Localized::new(id, en))
}

/// A visit to make (or made): a family from a work package, as the Tugas kunjungan screen lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitRow {
    pub id: uuid::Uuid,
    pub desa: String,
    pub head_name: String,
    pub no_kk: String,
    pub address: String,
    /// Finalized (or later): the visit is done.
    pub done: bool,
}

impl Device {
    /// The families from work packages on this tablet, per desa then head of family.
    pub fn visits(&self) -> Result<Vec<VisitRow>> {
        let mut rows: Vec<VisitRow> = self
            .store
            .visits()?
            .into_iter()
            .map(|h| VisitRow {
                id: h.id,
                done: h.status != crate::store::Status::Draft,
                desa: h.summary.desa,
                head_name: h.summary.head_name,
                no_kk: h.summary.no_kk,
                address: h.summary.address,
            })
            .collect();
        rows.sort_by(|a, b| (&a.desa, &a.head_name).cmp(&(&b.desa, &b.head_name)));
        Ok(rows)
    }
}

/// Reads the visits on their own thread (a package may list a thousand families).
pub fn read_visits(
    device: std::sync::Arc<Device>,
    wake: super::task::Wake,
) -> super::task::Task<Result<Vec<VisitRow>>> {
    super::task::Task::start("visits", wake, move || device.visits())
}
