//! The family list's queries (a filter, a search) answered on a worker thread: a short prefix can match
//! tens of thousands of families, and a filter change scans the whole list index, so a frame never waits
//! for either. Only the newest question is answered; older ones still waiting are dropped.

use std::sync::Arc;

use super::task::{Stopped, Task, Wake};
use super::{AppError, Device};
use crate::store::{ListFilter, ListRow, ListView};

/// At most this many search results are shown (newest first); a longer list means a longer query.
pub const SEARCH_LIMIT: usize = 500;

/// What the list asks: a search (empty for the whole list) under a filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListQuery {
    pub search: String,
    pub filter: ListFilter,
}

/// The answer to a [`ListQuery`].
#[derive(Debug)]
pub enum ListAnswer {
    /// The whole list under the filter, read a page at a time with [`Device::list_rows`].
    View(ListView),
    /// Search results under the filter, newest first.
    Found(Vec<ListRow>),
    /// The store could not answer.
    Failed(AppError),
}

impl Device {
    /// Answers a list query here and now (the worker's job; also for the CLI and tests).
    pub fn answer(&self, query: &ListQuery) -> ListAnswer {
        let result = if query.search.trim().is_empty() {
            self.list_view(query.filter.clone()).map(ListAnswer::View)
        } else {
            self.search(&query.search, SEARCH_LIMIT).map(|found| {
                ListAnswer::Found(
                    found
                        .iter()
                        .filter(|h| query.filter.matches(h.status, &h.summary.desa))
                        .map(ListRow::from)
                        .collect(),
                )
            })
        };
        result.unwrap_or_else(ListAnswer::Failed)
    }
}

/// Answers list queries off the UI thread, one at a time: a question asked while another is being
/// answered waits, and a newer one replaces it, so only the newest question is answered. Dropping it
/// lets the query being answered finish and its answer go nowhere.
pub struct ListWorker {
    device: Arc<Device>,
    wake: Wake,
    /// The question being answered, and whether it is still the newest.
    running: Option<(Task<ListAnswer>, bool)>,
    /// The newest question, waiting for the one being answered.
    waiting: Option<ListQuery>,
}

impl ListWorker {
    /// A worker for `device`; `wake` is called after every answer (the UI asks for a frame there).
    pub fn start(device: Arc<Device>, wake: Wake) -> ListWorker {
        ListWorker {
            device,
            wake,
            running: None,
            waiting: None,
        }
    }

    /// Asks `query`; its answer replaces any older one still on its way.
    pub fn ask(&mut self, query: ListQuery) {
        match &mut self.running {
            Some((_, newest)) => {
                *newest = false;
                self.waiting = Some(query);
            }
            None => self.run(query),
        }
    }

    fn run(&mut self, query: ListQuery) {
        let device = Arc::clone(&self.device);
        let task = Task::start("list", self.wake.clone(), move || device.answer(&query));
        self.running = Some((task, true));
    }

    /// Takes a finished answer: the answer to the newest question, or `None` when it was older (and
    /// the newest question is started).
    fn take(&mut self, answer: Result<ListAnswer, Stopped>, newest: bool) -> Option<ListAnswer> {
        self.running = None;
        if let Some(query) = self.waiting.take() {
            self.run(query);
        }
        newest.then(|| answer.unwrap_or_else(|e| ListAnswer::Failed(e.into())))
    }

    /// The answer to the last question, once it is there (answers to older questions are dropped).
    pub fn poll(&mut self) -> Option<ListAnswer> {
        let (task, newest) = self.running.as_mut()?;
        let newest = *newest;
        let answer = task.poll()?;
        self.take(answer, newest)
    }

    /// Waits for the answer to the last question (tests, and a screen that must not show stale rows).
    pub fn wait(&mut self) -> Option<ListAnswer> {
        loop {
            let (task, newest) = self.running.as_mut()?;
            let newest = *newest;
            let answer = task.wait();
            if let Some(answer) = self.take(answer, newest) {
                return Some(answer);
            }
        }
    }
}
