//! Work packages on the tablet: the registry families a package lists become records like any other
//! (a first draft revision with the registry's answers, the visit's base on the head), all in one
//! transaction with the package's log entry; a package applies once.

use chrono::{DateTime, FixedOffset, NaiveDate};
use redb::{ReadableTable, TableError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::tables::{PACKAGES, RECORDS};
use super::{Action, Answers, RecordHead, Result, Store, StoreError, append, decode, read_head};
use crate::model::record::VisitBase;

/// A package applied on this tablet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageLog {
    pub package_id: Uuid,
    pub registry: String,
    pub created_at: DateTime<FixedOffset>,
    pub applied_at: DateTime<FixedOffset>,
    pub applied_by: String,
    pub desa: Vec<String>,
    #[serde(default)]
    pub due: Option<NaiveDate>,
    pub expires: NaiveDate,
    #[serde(default)]
    pub note: Option<String>,
    /// The families it listed (record ids).
    pub families: Vec<Uuid>,
    /// Families already on this tablet when it was applied: left as they were.
    #[serde(default)]
    pub kept: Vec<Uuid>,
}

/// One family of a package, to become a record.
pub struct PackagedRecord {
    pub base: VisitBase,
    pub form_id: String,
    pub form_version: u64,
    pub answers: Answers,
}

/// What applying a package did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageApplied {
    /// False when the package had been applied before: nothing changed.
    pub first_time: bool,
    /// Families that became records.
    pub created: u64,
    /// Families already on this tablet, left as they were.
    pub kept: u64,
}

impl Store {
    /// Applies a package's families in one durable transaction; a package applied before changes
    /// nothing.
    pub fn apply_package(
        &self,
        log: &PackageLog,
        families: Vec<PackagedRecord>,
        petugas: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<PackageApplied> {
        let device = self.device()?;
        self.petugas(petugas)?;
        let txn = self.db.begin_write()?;
        let key = log.package_id.as_u128();
        if txn.open_table(PACKAGES)?.get(key)?.is_some() {
            return Ok(PackageApplied {
                first_time: false,
                created: 0,
                kept: 0,
            });
        }
        let mut log = log.clone();
        let mut created = 0;
        for f in families {
            let id = f.base.family;
            if txn.open_table(RECORDS)?.get(id.as_u128())?.is_some() {
                log.kept.push(id);
                continue;
            }
            let mut head = RecordHead::new(id, f.form_id, f.form_version, petugas, now);
            head.base = Some(f.base);
            // A family this tablet entered and purged keeps counting its revisions.
            head.revision = super::sync::purged_revisions(&txn, id.as_u128())?.unwrap_or(0);
            append(
                &txn,
                &mut head,
                Action::Created,
                f.answers,
                petugas,
                device.id,
                now,
                None,
                Vec::new(),
            )?;
            created += 1;
        }
        txn.open_table(PACKAGES)?
            .insert(key, serde_json::to_vec(&log)?.as_slice())?;
        let kept = log.kept.len() as u64;
        txn.commit()?;
        Ok(PackageApplied {
            first_time: true,
            created,
            kept,
        })
    }

    /// The records the applied packages made (visits), read by id: the cost follows the number of
    /// visits, not of families on the tablet. Purged ones are skipped.
    pub fn visits(&self) -> Result<Vec<RecordHead>> {
        let txn = self.db.begin_read()?;
        let packages = match txn.open_table(PACKAGES) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::from(e)),
        };
        let mut ids = std::collections::BTreeSet::new();
        for r in packages.iter()? {
            let (_, v) = r?;
            let log: PackageLog = decode(v.value(), "package")?;
            ids.extend(log.families.into_iter().filter(|f| !log.kept.contains(f)));
        }
        let records = txn.open_table(RECORDS)?;
        let marks = super::sync::Marks::read(&txn)?;
        let mut out = Vec::new();
        for id in ids {
            match read_head(&records, &marks, id) {
                Ok(h) if h.base.is_some() => out.push(h),
                Ok(_) | Err(StoreError::UnknownRecord(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The packages applied on this tablet, oldest first.
    pub fn packages(&self) -> Result<Vec<PackageLog>> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(PACKAGES) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::from(e)),
        };
        let mut out: Vec<PackageLog> = Vec::new();
        for r in table.iter()? {
            let (_, v) = r?;
            out.push(decode(v.value(), "package")?);
        }
        out.sort_by_key(|p| p.applied_at);
        Ok(out)
    }
}
