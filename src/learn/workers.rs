//! Parallel queries: more stacks, each on a thread of its own, answering the words of one
//! batch beside the learner's stack.
//!
//! Every query starts from a reset stack, so which stack answers a word does not change the
//! answer; the learner chooses its batches without knowing how many stacks there are
//! ([`super::lsharp::LSharp::query_all`], the equivalence tests' batches), and answers are
//! put back in the batch's order. The same seed therefore asks the same queries and learns the
//! same machine with any number of workers, only sooner where a query mostly waits: for a
//! real-time stack's timers (Linux, each worker in a network namespace of its own) or for a
//! child process's round trips (lwIP, gVisor, each worker with its own child).
//!
//! A worker makes its stack on its own thread (a Linux stack's sockets are made from it, and
//! an `exec` stack's child talks to it), and [`Workers::start`] returns once every worker has
//! made one or failed to: making and removing a Linux stack forks `ip`, and a fork holds every
//! descriptor of the process until it execs, so no run may be under way meanwhile. For the
//! same reason the stacks are removed together, when [`Workers`] is dropped.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{Scope, ScopedJoinHandle};

use crate::conform::{Oracle, Stack};

use super::lsharp::Stop;
use super::mapper::{query, Alphabet};
use super::mealy::Input;

/// Makes worker `k`'s stack, or says why it cannot.
pub type MakeStack<'a, 'm> = dyn Fn(usize) -> Result<Box<dyn Stack + 'm>, String> + Sync + 'a;

/// The learner's side of a batch: its own stack, and the count of answers.
pub(crate) trait Local {
    /// Answers `word` on the learner's stack, as text.
    fn answer(&mut self, word: &[Input]) -> Result<Vec<String>, Stop>;
    /// A worker answered a word.
    fn answered_elsewhere(&mut self);
}

/// A word to answer, by its place in the batch.
type Job = (usize, Vec<Input>);

/// What a worker says.
enum Said {
    /// Its stack is made (or why not): once from each worker, before any job.
    Ready(usize, Result<(), String>),
    Answer(usize, Vec<String>),
    /// Ctrl-C was pressed before it began the job.
    Skipped,
    /// Worker `k`'s stack panicked on its job; the worker has stopped.
    Failed(usize, String),
}

/// The words waiting for a stack.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The workers' shared queue and the signal that it changed.
type Shared = Arc<(Mutex<Queue>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Queue> {
    // A worker never panics while holding the lock (its stack runs outside it).
    shared.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stacks on threads of their own, answering queries.
pub struct Workers<'scope> {
    shared: Shared,
    said: Receiver<Said>,
    /// Workers whose stacks were made.
    pub running: usize,
    /// For each worker whose stack could not be made: why.
    pub failed: Vec<String>,
    threads: Vec<ScopedJoinHandle<'scope, ()>>,
}

impl<'scope> Workers<'scope> {
    /// Starts `count` workers in `scope`, worker `k` with the stack `make(k)`, each querying
    /// through `oracle` in `alphabet` as [`super::StackSul`] does, and returns when every one
    /// has made its stack or failed to. A worker sees `stop` (Ctrl-C) before each query.
    pub fn start<'env, 'm>(
        scope: &'scope Scope<'scope, 'env>,
        count: usize,
        oracle: &'env Oracle<'m>,
        alphabet: &'env Alphabet,
        stop: Option<&'env AtomicBool>,
        make: &'env MakeStack<'env, 'm>,
    ) -> Workers<'scope>
    where
        'm: 'env,
    {
        let shared: Shared = Arc::default();
        let (tell, said) = channel();
        let threads = (0..count)
            .map(|k| {
                let (shared, tell) = (Arc::clone(&shared), tell.clone());
                scope.spawn(move || work(k, &shared, &tell, oracle, alphabet, stop, make))
            })
            .collect();
        let mut workers = Workers { shared, said, running: 0, failed: Vec::new(), threads };
        let mut ready = 0;
        while ready < count {
            match workers.said.recv() {
                Ok(Said::Ready(_, Ok(()))) => workers.running += 1,
                Ok(Said::Ready(k, Err(why))) => workers.failed.push(format!("worker {}: {why}", k + 1)),
                Ok(_) => continue,
                Err(_) => break,
            }
            ready += 1;
        }
        workers
    }

    /// The texts `words` answer, in order: the workers take words from the batch as they
    /// become free, and so does the learner's own stack (`local`). The first failure (a
    /// stack that panicked, Ctrl-C) is returned once every word taken has been answered.
    pub(crate) fn answer(&self, words: &[Vec<Input>], local: &mut dyn Local) -> Result<Vec<Vec<String>>, Stop> {
        let mut texts: Vec<Option<Vec<String>>> = vec![None; words.len()];
        {
            let mut queue = lock(&self.shared);
            queue.jobs.extend(words.iter().cloned().enumerate());
        }
        self.shared.1.notify_all();
        let mut failure = None;
        let mut outstanding = words.len();
        loop {
            let job = lock(&self.shared).jobs.pop_front();
            let Some((k, word)) = job else { break };
            outstanding -= 1;
            match local.answer(&word) {
                Ok(answer) => texts[k] = Some(answer),
                Err(why) => {
                    // Nothing more is started; what the workers took is still awaited.
                    outstanding -= std::mem::take(&mut lock(&self.shared).jobs).len();
                    failure = Some(why);
                    break;
                }
            }
        }
        while outstanding > 0 {
            let Ok(said) = self.said.recv() else {
                failure.get_or_insert(Stop::Failed("every worker stopped".into()));
                break;
            };
            match said {
                Said::Answer(k, answer) => {
                    texts[k] = Some(answer);
                    local.answered_elsewhere();
                }
                Said::Skipped => {
                    failure.get_or_insert(Stop::Interrupted);
                    outstanding -= std::mem::take(&mut lock(&self.shared).jobs).len();
                }
                Said::Failed(worker, why) => {
                    failure.get_or_insert(Stop::Failed(format!("worker {}'s stack failed: {why}", worker + 1)));
                    outstanding -= std::mem::take(&mut lock(&self.shared).jobs).len();
                }
                Said::Ready(..) => continue,
            }
            outstanding -= 1;
        }
        match failure {
            Some(why) => Err(why),
            None => Ok(texts.into_iter().map(Option::unwrap_or_default).collect()),
        }
    }
}

/// Ends the workers and, with them, their stacks: all at once, after every query.
impl Drop for Workers<'_> {
    fn drop(&mut self) {
        lock(&self.shared).closed = true;
        self.shared.1.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Worker `k`: makes its stack, says so, then answers jobs until the queue closes.
fn work<'m>(
    k: usize,
    shared: &Shared,
    tell: &Sender<Said>,
    oracle: &Oracle<'m>,
    alphabet: &Alphabet,
    stop: Option<&AtomicBool>,
    make: &MakeStack<'_, 'm>,
) {
    let made = catch_unwind(AssertUnwindSafe(|| make(k))).unwrap_or_else(|panic| Err(panic_text(&*panic)));
    let mut stack = match made {
        Ok(stack) => {
            let _ = tell.send(Said::Ready(k, Ok(())));
            stack
        }
        Err(why) => {
            let _ = tell.send(Said::Ready(k, Err(why)));
            return;
        }
    };
    let mut workspace = oracle.workspace();
    loop {
        let job = {
            let mut queue = lock(shared);
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break Some(job);
                }
                if queue.closed {
                    break None;
                }
                queue = shared.1.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let Some((n, word)) = job else { return };
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            let _ = tell.send(Said::Skipped);
            continue;
        }
        let answered = catch_unwind(AssertUnwindSafe(|| {
            let (run, texts, _) = query(oracle, &mut workspace, stack.as_mut(), alphabet, &word);
            workspace.recycle(run);
            texts
        }));
        match answered {
            Ok(texts) => {
                let _ = tell.send(Said::Answer(n, texts));
            }
            Err(panic) => {
                // Its stack may be half-way through anything: this worker takes no more.
                let _ = tell.send(Said::Failed(k, panic_text(&*panic)));
                return;
            }
        }
    }
}

/// A panic's message, as text.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => format!("it panicked: {text}"),
        (_, Some(text)) => format!("it panicked: {text}"),
        _ => "it panicked".into(),
    }
}
