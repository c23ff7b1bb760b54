//! The office app's use cases: the registry opened once for the office screens (`pendata office`), shared
//! by the screens and their background work ([`crate::app::task::Task`]). The screens never touch the
//! registry's store or its formats: they call the functions of these modules, which call the registry's
//! own (`crate::registry`), and show what comes back.
//!
//! - [`Office`]: the open registry, read by many tasks at once and written by one decision at a time;
//! - `queue`: the work queue (quarantine, conflicts, update conflicts) and its decisions;
//! - `families`: search among the families and a family's page with its history;
//! - `session`: opening a registry (its passphrase), signing in and out, the registries on this PC;
//! - `dashboard`: the figures per kabupaten/kota and kecamatan, and their change since a date;
//! - `import`: bundle files from a stick or a folder, with an update per file and the outcome in words;
//! - `devices`: the devices with their key fingerprints, approve / revoke / discard held bundles;
//! - `outputs`: receipts to the sticks, the report and the CSV/XLSX export, the work packages.

pub mod chain;
pub mod dashboard;
pub mod devices;
pub mod families;
pub mod import;
pub mod outputs;
pub mod queue;
pub mod session;

use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::registry::Registry;

/// The registry opened for the office screens. Cheap to clone: every screen and every background task
/// holds one. Reads (lists, search, reports) run side by side; a decision or an import takes the
/// registry alone for as long as it writes.
#[derive(Clone)]
pub struct Office {
    registry: Arc<RwLock<Registry>>,
    dir: PathBuf,
}

impl Office {
    /// Wraps a registry already opened (and signed in to: `Registry::session`).
    pub fn new(registry: Registry) -> Office {
        let dir = registry.dir.clone();
        Office {
            registry: Arc::new(RwLock::new(registry)),
            dir,
        }
    }

    /// The registry's folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The registry's name (from its `registry.pub`), for the top bar.
    pub fn name(&self) -> String {
        crate::model::printable::clean(&self.read().keys.public.name).into_owned()
    }

    /// The registry for reading. A task that panicked while holding it left nothing half-written (the
    /// store's transactions are all or nothing), so a poisoned lock is taken over, not propagated.
    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The registry for a decision, an import or a sign-in (which sets `Registry::session`).
    pub fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The screens hand an `Office` to background threads.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Office>();
};
