//! The home screen's figures (families per status, the last export), read on a worker thread: counting
//! 100,000 families takes longer than a frame, so the home screen opens at once and the figures follow.

use std::sync::Arc;

use super::task::{Task, Wake};
use super::{Device, Result};
use crate::store::{ExportLog, StatusCounts};

/// What the home screen shows about the tablet's work.
#[derive(Debug, Clone, Default)]
pub struct HomeFacts {
    pub counts: StatusCounts,
    pub last_export: Option<ExportLog>,
    /// Visits of families from work packages: (done, total).
    pub visits: (usize, usize),
}

impl Device {
    /// Families per status and the newest export, read here and now (the worker's job; also tests).
    pub fn home_facts(&self) -> Result<HomeFacts> {
        let visits = self.visits()?;
        Ok(HomeFacts {
            counts: self.counts()?,
            last_export: self.store.last_export()?,
            visits: (visits.iter().filter(|v| v.done).count(), visits.len()),
        })
    }
}

/// Starts reading the [`HomeFacts`] on their own thread; `wake` is called once they are there.
pub fn read(device: Arc<Device>, wake: Wake) -> Task<Result<HomeFacts>> {
    Task::start("home", wake, move || device.home_facts())
}
