//! The table's projection onto an alphabet: the Mealy machine the table defines when it is
//! seen only through the learner's letters and outputs. It is derived from the table, not
//! learned: our reference endpoint executes the table, and a breadth-first search visits every
//! configuration it reaches under the alphabet — the endpoint's TCB and timers
//! ([`crate::endpoint::Endpoint::hash_at`]) and the peer's [`View`] — so that every configuration and every
//! transition is seen, then merges configurations that answer alike (minimization). There is
//! no hand-written machine here: the table's rows are what the endpoint fires.
//!
//! The same machine, learned from the reference stack as a black box, must come out equal:
//! `learn`'s self-test.

use std::collections::{HashMap, VecDeque};
use std::hash::Hasher;

use crate::adapter::Reference;
use crate::conform::script::Script;
use crate::conform::{Record, Run, Stack};
use crate::endpoint::Isn;
use crate::model::Model;
use crate::time::Instant;

use super::lsharp::Stop;
use super::mapper::{oracle, query, Alphabet, View};
use super::mealy::{Input, Mealy, Output, Outputs};

/// A projection and what deriving it took.
#[derive(Clone, Debug)]
pub struct Projection {
    pub machine: Mealy,
    /// Distinct configurations of the endpoint and the peer's view, before minimization.
    pub configurations: usize,
    pub queries: u64,
}

/// A key that is the bytes a configuration hashes, so that no two configurations collide.
#[derive(Default)]
struct Bytes(Vec<u8>);

impl Hasher for Bytes {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

/// The configuration the last run left: the endpoint at the run's last instant (timers relative
/// to it), the text it holds for RECEIVE, and the peer's view.
fn configuration(stack: &Reference<'_>, run: &Run, view: &View) -> Vec<u8> {
    use std::hash::Hash;
    let now = run.trace.last().map_or(Instant::ZERO, Record::at);
    let (endpoint, readable) = stack.endpoint();
    let mut key = Bytes::default();
    endpoint.hash_at(now, &mut key);
    (readable.len(), view).hash(&mut key);
    key.0
}

const FIXED_ISN: Isn = Isn::Clock { offset: 0x4000_0000, per_second: 0 };

/// Projects `model` onto `alphabet`, interning outputs into `outputs`. Stops with
/// [`Stop::Limit`] past `max_configurations` (an alphabet with text can count without bound).
pub fn project(
    model: &Model,
    alphabet: &Alphabet,
    outputs: &mut Outputs,
    max_configurations: usize,
) -> Result<Projection, Stop> {
    // One ISN for every incarnation: the table's rows read numbers only relative to it, and
    // with it fixed a configuration's numbers repeat when its behaviour does.
    let mut stack = Reference::with_isn(model, FIXED_ISN, "fixed".into());
    let oracle = oracle(model, stack.params().clone());
    let mut workspace = oracle.workspace();
    let inputs = alphabet.len();
    let mut queries = 0;
    let empty = oracle.run(&mut stack, &Script::default(), true);
    let mut index: HashMap<Vec<u8>, u32> = HashMap::from([(configuration(&stack, &empty, &View::default()), 0)]);
    let mut access: Vec<Vec<Input>> = vec![Vec::new()];
    let mut edges: Vec<(Output, u32)> = Vec::new();
    let mut queue = VecDeque::from([0u32]);
    while let Some(s) = queue.pop_front() {
        for i in 0..inputs as Input {
            let mut word = access[s as usize].clone();
            word.push(i);
            let (run, texts, view) = query(&oracle, &mut workspace, &mut stack, alphabet, &word);
            let out: Vec<Output> = texts.iter().map(|t| outputs.intern(t)).collect();
            queries += 1;
            // A run that stopped stays stopped: one sink, whatever the endpoint holds.
            let key = if run.steps < word.len() { b"stopped".to_vec() } else { configuration(&stack, &run, &view) };
            workspace.recycle(run);
            let next = index.len() as u32;
            let t = *index.entry(key).or_insert_with(|| {
                access.push(word);
                queue.push_back(next);
                next
            });
            if index.len() > max_configurations {
                return Err(Stop::Limit(format!(
                    "the table's projection has more than {max_configurations} configurations on this alphabet \
                     (choose a smaller --alphabet: text and SENDs count octets)"
                )));
            }
            edges.push((out.last().copied().unwrap_or_default(), t));
        }
    }
    // Edges were pushed in state order, every input of each: the layout `Mealy` keeps.
    let configurations = index.len();
    let machine = Mealy::from_fn(configurations, inputs, |s, i| edges[s as usize * inputs + usize::from(i)]);
    Ok(Projection { machine: machine.minimize(), configurations, queries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shipped::Shipped;

    #[test]
    fn the_projection_of_rfc9293_on_the_small_alphabet_is_pinned() {
        let model = Shipped::find("rfc9293").unwrap().load().unwrap();
        let alphabet = Alphabet::parse("small").unwrap();
        let mut outputs = Outputs::default();
        let p = project(&model, &alphabet, &mut outputs, 10_000).unwrap();
        // A semantic change to the table or the mapper changes these: look at the new machine
        // (`tcpcheck learn --dot`) before updating them.
        assert_eq!((p.machine.states(), p.configurations), (25, 155), "{}", p.queries);
    }

    #[test]
    fn a_configuration_bound_stops_the_projection() {
        let model = Shipped::find("rfc9293").unwrap().load().unwrap();
        let alphabet = Alphabet::parse("small").unwrap();
        assert!(matches!(project(&model, &alphabet, &mut Outputs::default(), 3), Err(Stop::Limit(_))));
    }
}
