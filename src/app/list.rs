//! The family list's queries (a filter, a search) answered on a worker thread: a short prefix can match
//! tens of thousands of families, and a filter change scans the whole list index, so a frame never waits
//! for either. Only the newest question is answered; older ones still waiting are dropped.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

use super::Device;
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
    Failed(String),
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
        result.unwrap_or_else(|e| ListAnswer::Failed(e.to_string()))
    }
}

/// A worker thread answering list queries. Dropping it ends the thread once its current query is done.
pub struct ListWorker {
    ask: Sender<(u64, ListQuery)>,
    answers: Receiver<(u64, ListAnswer)>,
    /// The number of the last question asked.
    asked: u64,
}

impl ListWorker {
    /// Starts the worker; `woken` is called after every answer (the UI asks for a frame there).
    pub fn start(device: Arc<Device>, woken: impl Fn() + Send + 'static) -> ListWorker {
        let (ask, questions) = channel::<(u64, ListQuery)>();
        let (tell, answers) = channel();
        let spawned = std::thread::Builder::new()
            .name("pendata-list".into())
            .spawn(move || {
                while let Ok(mut question) = questions.recv() {
                    // Only the newest question matters: the petugas has typed on meanwhile.
                    while let Ok(newer) = questions.try_recv() {
                        question = newer;
                    }
                    let (n, query) = question;
                    if tell.send((n, device.answer(&query))).is_err() {
                        return;
                    }
                    woken();
                }
            });
        // Without a thread every question is answered "the list worker stopped" (see `poll`): the screen
        // says so instead of waiting for ever.
        drop(spawned);
        ListWorker {
            ask,
            answers,
            asked: 0,
        }
    }

    /// Asks `query`; its answer replaces any older one still on its way.
    pub fn ask(&mut self, query: ListQuery) {
        self.asked += 1;
        let _ = self.ask.send((self.asked, query));
    }

    /// The answer to the last question, once it is there (answers to older questions are dropped).
    pub fn poll(&mut self) -> Option<ListAnswer> {
        let mut newest = None;
        loop {
            match self.answers.try_recv() {
                Ok((n, answer)) if n == self.asked => newest = Some(answer),
                Ok(_) => {}
                Err(TryRecvError::Empty) => return newest,
                Err(TryRecvError::Disconnected) => {
                    return newest.or_else(|| (self.asked > 0).then(stopped));
                }
            }
        }
    }

    /// Waits for the answer to the last question (tests, and a screen that must not show stale rows).
    pub fn wait(&mut self) -> Option<ListAnswer> {
        if self.asked == 0 {
            return None;
        }
        loop {
            match self.answers.recv() {
                Ok((n, answer)) if n == self.asked => return Some(answer),
                Ok(_) => {}
                Err(_) => return Some(stopped()),
            }
        }
    }
}

fn stopped() -> ListAnswer {
    ListAnswer::Failed("the list worker stopped".into())
}
