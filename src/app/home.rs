//! The home screen's figures (families per status, the last export), read on a worker thread: counting
//! 100,000 families takes longer than a frame, so the home screen opens at once and the figures follow.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel};

use super::{Device, Result};
use crate::store::{Counts, ExportLog};

/// What the home screen shows about the tablet's work.
#[derive(Debug, Clone, Default)]
pub struct HomeFacts {
    pub counts: Counts,
    pub last_export: Option<ExportLog>,
}

impl Device {
    /// Families per status and the newest export, read here and now (the worker's job; also tests).
    pub fn home_facts(&self) -> Result<HomeFacts> {
        Ok(HomeFacts {
            counts: self.counts()?,
            last_export: self.store.last_export()?,
        })
    }
}

/// One reading of [`HomeFacts`] on its own thread. Dropping it before the answer lets the thread finish
/// and its answer go nowhere.
pub struct HomeReader {
    answer: Receiver<std::result::Result<HomeFacts, String>>,
}

impl HomeReader {
    /// Starts the reading; `woken` is called once the answer is there (the UI asks for a frame).
    pub fn start(device: Arc<Device>, woken: impl FnOnce() + Send + 'static) -> HomeReader {
        let (tell, answer) = channel();
        let spawned = std::thread::Builder::new()
            .name("pendata-home".into())
            .spawn(move || {
                if tell
                    .send(device.home_facts().map_err(|e| e.to_string()))
                    .is_ok()
                {
                    woken();
                }
            });
        // Without a thread the answer is "the reading stopped" (see `poll`), not a wait for ever.
        drop(spawned);
        HomeReader { answer }
    }

    /// The answer, once it is there.
    pub fn poll(&self) -> Option<std::result::Result<HomeFacts, String>> {
        match self.answer.try_recv() {
            Ok(answer) => Some(answer),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(stopped())),
        }
    }

    /// Waits for the answer (tests, benchmarks).
    pub fn wait(&self) -> std::result::Result<HomeFacts, String> {
        self.answer.recv().unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> String {
    "the home screen's reading stopped".into()
}
