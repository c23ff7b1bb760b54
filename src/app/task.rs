//! Background work: the one way the app runs something off the UI thread. A [`Task`] runs a closure on
//! its own thread; the UI polls it once a frame without blocking and is woken (a repaint) when the result
//! is there. A task may also send updates on the way (an export's stage, decoded thumbnails).
//!
//! No egui here: the wake-up is a plain callback the UI makes from its context.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

/// What a finished task calls: the UI asks for a frame there.
#[derive(Clone)]
pub struct Wake(Arc<dyn Fn() + Send + Sync>);

impl Wake {
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Wake {
        Wake(Arc::new(wake))
    }

    /// Wakes nobody (tests, the CLI).
    pub fn none() -> Wake {
        Wake::new(|| {})
    }

    pub fn wake(&self) {
        (self.0)();
    }
}

impl Default for Wake {
    fn default() -> Wake {
        Wake::none()
    }
}

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wake")
    }
}

/// The task ended without a result: its thread could not start, or it stopped half-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the background work `{0}` stopped before it was done")]
pub struct Stopped(pub &'static str);

/// How a running task sends updates to whoever polls it.
pub struct Updates<U> {
    tell: Sender<U>,
}

impl<U> Updates<U> {
    /// Sends an update; false when nobody listens any more (the task may stop early).
    pub fn send(&self, update: U) -> bool {
        self.tell.send(update).is_ok()
    }
}

/// Work running on its own thread: poll for its result, and for its updates (type `U`) on the way.
/// Dropping it lets the thread finish and its result go nowhere.
pub struct Task<T, U = ()> {
    name: &'static str,
    result: Receiver<T>,
    updates: Receiver<U>,
    /// Updates read while looking for the result (none are lost).
    early: VecDeque<U>,
    done: bool,
}

impl<T: Send + 'static> Task<T> {
    /// Starts `work` on a thread named `name`; `wake` is called once its result is there.
    pub fn start(
        name: &'static str,
        wake: Wake,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Task<T> {
        Task::with_updates(name, wake, move |_| work())
    }
}

impl<T: Send + 'static, U: Send + 'static> Task<T, U> {
    /// Starts `work`, which may send updates on the way; `wake` is called once its result is there.
    pub fn with_updates(
        name: &'static str,
        wake: Wake,
        work: impl FnOnce(&Updates<U>) -> T + Send + 'static,
    ) -> Task<T, U> {
        let (tell, result) = channel();
        let (tell_update, updates) = channel();
        let spawned = std::thread::Builder::new()
            .name(format!("pendata-{name}"))
            .spawn(move || {
                let value = work(&Updates { tell: tell_update });
                if tell.send(value).is_ok() {
                    wake.wake();
                }
            });
        // Without a thread the result is `Stopped` (see `poll`), not a wait for ever.
        drop(spawned);
        Task {
            name,
            result,
            updates,
            early: VecDeque::new(),
            done: false,
        }
    }

    /// The result, once it is there (then never again); `Stopped` when the work ended without one.
    pub fn poll(&mut self) -> Option<Result<T, Stopped>> {
        if self.done {
            return None;
        }
        let answer = match self.result.try_recv() {
            Ok(value) => Ok(value),
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(Stopped(self.name)),
        };
        self.done = true;
        Some(answer)
    }

    /// Whether the result was taken (or the work stopped).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next update sent, if one is waiting.
    pub fn update(&mut self) -> Option<U> {
        self.early
            .pop_front()
            .or_else(|| self.updates.try_recv().ok())
    }

    /// Waits for the result (tests, benchmarks, a screen that must not show stale data).
    pub fn wait(&mut self) -> Result<T, Stopped> {
        if self.done {
            return Err(Stopped(self.name));
        }
        self.done = true;
        // Updates stay readable after the result was taken.
        self.early.extend(self.updates.try_iter());
        self.result.recv().map_err(|_| Stopped(self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_task_answers_once_and_wakes_its_caller() {
        let woken = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&woken);
        let wake = Wake::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let mut task = Task::start("test", wake, || 6 * 7);
        assert_eq!(task.wait(), Ok(42));
        assert!(task.is_done());
        assert_eq!(task.poll(), None, "answered once");
        // The wake-up follows the result (woken, the caller finds it there).
        let start = std::time::Instant::now();
        while woken.load(Ordering::SeqCst) == 0 && start.elapsed().as_secs() < 5 {
            std::thread::yield_now();
        }
        assert_eq!(woken.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn polling_never_blocks_and_updates_come_in_order() {
        let (go, wait) = channel::<()>();
        let mut task = Task::with_updates("test", Wake::none(), move |up: &Updates<u32>| {
            up.send(1);
            up.send(2);
            let _ = wait.recv();
            "done"
        });
        assert_eq!(task.poll(), None, "still running");
        go.send(()).unwrap();
        let result = loop {
            if let Some(r) = task.poll() {
                break r;
            }
            std::thread::yield_now();
        };
        assert_eq!(result, Ok("done"));
        assert_eq!(
            (task.update(), task.update(), task.update()),
            (Some(1), Some(2), None)
        );
    }

    #[test]
    fn work_that_stops_half_way_is_told() {
        let mut task: Task<u32> = Task::start("test", Wake::none(), || panic!("half-way"));
        assert_eq!(task.wait(), Err(Stopped("test")));
    }
}
