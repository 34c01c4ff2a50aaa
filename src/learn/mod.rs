//! Active automata learning: the Mealy machine a stack implements, seen through an alphabet of
//! script steps, and where it differs from the table's.
//!
//! - [`mapper`]: letters (script steps) in, the stack's segments and reported state out;
//! - [`lsharp`]: the L# learner, whose observation tree is the query cache;
//! - [`equivalence`]: counterexamples from candidate words, the Wp-method and random walks;
//! - [`projection`]: the table's own machine on the same alphabet, derived from the table;
//! - [`mealy`]: machines, minimization and the shortest words on which two differ;
//! - [`diff`]: those words replayed through the oracle, as verdicts and diagrams;
//! - [`workers`]: more stacks answering a batch of queries at once (`learn --jobs`).
//!
//! [`Machine`] is the result as plain data (states with the table state the stack reported,
//! transitions with their abstract input and output, the differing ones marked), for the
//! CLI's report, its JSON and the pictures in [`crate::export`].

pub mod diff;
pub mod equivalence;
pub mod lsharp;
pub mod mapper;
pub mod mealy;
pub mod projection;
pub mod workers;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::model::State;

pub use equivalence::Testing;
pub use lsharp::{Counts, LSharp, Stop, Sul};
pub use mapper::{oracle, Alphabet, StackSul};
pub use mealy::{Difference, Input, Mealy, Output, Outputs};
pub use projection::{project, Projection};
pub use workers::{MakeStack, Workers};

/// Learns the machine behind `sul`: L#, with [`equivalence::counterexample`] as the oracle.
/// The result is minimal and canonically numbered, so the same answers learn the same value.
pub fn learn<S: Sul>(sul: S, inputs: usize, testing: &Testing, max_states: usize) -> (Result<Mealy, Stop>, Counts) {
    let mut learner = LSharp::new(sul, inputs, max_states);
    let result = learner.learn(|h, l| equivalence::counterexample(testing, h, l)).map(|m| m.minimize());
    (result, learner.counts())
}

/// A learned machine as plain data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Machine {
    pub inputs: Vec<String>,
    pub states: Vec<MachineState>,
    pub transitions: Vec<Transition>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MachineState {
    pub id: u32,
    /// The state the stack reported on entering it, if it reports one and it is always the same.
    #[serde(serialize_with = "state_name")]
    pub table_state: Option<State>,
    /// The shortest word that reaches it, as letters.
    pub access: Vec<String>,
    /// What pictures call it: the table state (numbered if several states share it), else the
    /// access word.
    pub name: String,
}

fn state_name<S: serde::Serializer>(state: &Option<State>, s: S) -> Result<S::Ok, S::Error> {
    match state {
        Some(state) => s.serialize_some(state.name()),
        None => s.serialize_none(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: u32,
    pub input: String,
    pub output: String,
    pub to: u32,
    /// The table's projection answers this input differently from a state paired with `from`.
    pub differs: bool,
}

/// The state an output text reports, if any (`... [SYN-RECEIVED]`).
pub fn reported_state(output: &str) -> Option<State> {
    let (_, tail) = output.rsplit_once(" [")?;
    State::from_name(tail.strip_suffix(']')?)
}

impl Machine {
    /// `machine` as data; `differences` are the ones against the table (the first of each
    /// pair of states is this machine's).
    pub fn new(machine: &Mealy, alphabet: &Alphabet, outputs: &Outputs, differences: &[Difference]) -> Machine {
        let n = machine.states();
        let mut entered: Vec<BTreeSet<Option<State>>> = vec![BTreeSet::new(); n];
        let red: BTreeSet<(u32, Input)> =
            differences.iter().filter_map(|d| d.word.last().map(|&i| (d.states.0, i))).collect();
        let mut transitions = Vec::new();
        for s in 0..n as u32 {
            for i in 0..alphabet.len() as Input {
                let (o, t) = machine.step(s, i);
                entered[t as usize].insert(reported_state(outputs.text(o)));
                transitions.push(Transition {
                    from: s,
                    input: alphabet.name(i).to_string(),
                    output: outputs.text(o).to_string(),
                    to: t,
                    differs: red.contains(&(s, i)),
                });
            }
        }
        let labels: Vec<Option<State>> = entered
            .iter()
            .map(|set| if set.len() == 1 { set.iter().next().copied().flatten() } else { None })
            .collect();
        let access = machine.access();
        let states = (0..n)
            .map(|s| {
                let word: Vec<String> = access[s].iter().flatten().map(|&i| alphabet.name(i).to_string()).collect();
                let name = match labels[s] {
                    Some(state) => {
                        let same: Vec<usize> = (0..n).filter(|&k| labels[k] == Some(state)).collect();
                        if same.len() == 1 {
                            state.name().to_string()
                        } else {
                            let k = same.iter().position(|&k| k == s).unwrap_or(0) + 1;
                            format!("{state} #{k}")
                        }
                    }
                    None if word.is_empty() => "initial".to_string(),
                    None => word.join(" "),
                };
                MachineState { id: s as u32, table_state: labels[s], access: word, name }
            })
            .collect();
        Machine { inputs: alphabet.names().map(String::from).collect(), states, transitions }
    }
}
