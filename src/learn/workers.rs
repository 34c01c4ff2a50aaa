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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Reference;
    use crate::conform::Params;
    use crate::learn::mapper::oracle;
    use crate::model::shipped::Shipped;
    use crate::model::{Call, Model, State};
    use crate::time::Instant;

    /// A stack that breaks on its first query.
    struct Broken(Params);

    impl Stack for Broken {
        fn params(&self) -> &Params {
            &self.0
        }
        fn reset(&mut self) {
            panic!("the test stack broke");
        }
        fn call(&mut self, _: Instant, _: Call, _: &[u8]) -> Vec<u8> {
            Vec::new()
        }
        fn inject(&mut self, _: Instant, _: &[u8]) {}
        fn advance(&mut self, _: Instant) {}
        fn transmit(&mut self, _: &mut Vec<u8>) -> bool {
            false
        }
        fn state(&self) -> Option<State> {
            None
        }
    }

    /// The learner's side, slow enough that the workers take their share of a batch.
    struct Slow<'a, 'm> {
        oracle: &'a Oracle<'m>,
        stack: Reference<'m>,
        alphabet: &'a Alphabet,
        elsewhere: usize,
    }

    impl Local for Slow<'_, '_> {
        fn answer(&mut self, word: &[Input]) -> Result<Vec<String>, Stop> {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let mut workspace = self.oracle.workspace();
            Ok(query(self.oracle, &mut workspace, &mut self.stack, self.alphabet, word).1)
        }
        fn answered_elsewhere(&mut self) {
            self.elsewhere += 1;
        }
    }

    fn rfc9293() -> Model {
        Shipped::find("rfc9293").unwrap().load().unwrap()
    }

    fn words() -> Vec<Vec<Input>> {
        (0..12).map(|k| vec![0, (k % 4) as Input, (k / 4) as Input]).collect()
    }

    #[test]
    fn workers_answer_a_batch_in_its_order_as_one_stack_would() {
        let model = rfc9293();
        let alphabet = Alphabet::parse("small").unwrap();
        let oracle = oracle(&model, Reference::new(&model, 7).params().clone());
        let make = |_: usize| -> Result<Box<dyn Stack + '_>, String> { Ok(Box::new(Reference::new(&model, 7))) };
        let mut alone = Slow { oracle: &oracle, stack: Reference::new(&model, 7), alphabet: &alphabet, elsewhere: 0 };
        let expected: Vec<Vec<String>> = words().iter().map(|w| alone.answer(w).unwrap()).collect();
        std::thread::scope(|scope| {
            let workers = Workers::start(scope, 2, &oracle, &alphabet, None, &make);
            assert_eq!((workers.running, workers.failed.len()), (2, 0));
            let mut local =
                Slow { oracle: &oracle, stack: Reference::new(&model, 7), alphabet: &alphabet, elsewhere: 0 };
            assert_eq!(workers.answer(&words(), &mut local).unwrap(), expected);
            assert!(local.elsewhere > 0, "the workers answered none of the batch");
        });
    }

    #[test]
    fn a_workers_failures_are_reported_not_panics() {
        let model = rfc9293();
        let alphabet = Alphabet::parse("small").unwrap();
        let params = Reference::new(&model, 7).params().clone();
        let oracle = oracle(&model, params.clone());
        // Worker 1's stack cannot be made; worker 2's breaks on its first query.
        let make = |k: usize| -> Result<Box<dyn Stack + '_>, String> {
            match k {
                0 => Err("no namespace left".into()),
                _ => Ok(Box::new(Broken(params.clone()))),
            }
        };
        std::thread::scope(|scope| {
            let workers = Workers::start(scope, 2, &oracle, &alphabet, None, &make);
            assert_eq!(workers.running, 1);
            assert_eq!(workers.failed, ["worker 1: no namespace left"]);
            let mut local =
                Slow { oracle: &oracle, stack: Reference::new(&model, 7), alphabet: &alphabet, elsewhere: 0 };
            match workers.answer(&words(), &mut local) {
                Err(Stop::Failed(why)) => {
                    assert!(why.contains("worker 2") && why.contains("the test stack broke"), "{why}")
                }
                other => panic!("expected the broken stack to be reported, got {other:?}"),
            }
        });
    }
}
