//! A learned machine against the table's projection: each shortest word on which they answer
//! differently, replayed through the oracle so that it reads as a fuzz verdict does — a
//! sequence diagram, the rows the table fired with their RFC sections, and a verdict that can
//! be saved as a finding and replayed.

use crate::conform::{Oracle, Record, Run, Stack};

use super::mapper::{observe, Alphabet};
use super::mealy::{Difference, Outputs};

/// A difference, replayed.
#[derive(Clone, Debug)]
pub struct Explained {
    /// The letters of the word.
    pub word: Vec<String>,
    /// What the table's projection answers to the last letter, and what the stack answered.
    pub expected: String,
    pub actual: String,
    /// The oracle's run of the word (its trace and verdict). Without a verdict the oracle
    /// excuses the difference (one of its documented tolerances).
    pub run: Run,
    /// `file:line` of every row the table fired along the word, in order, once each.
    pub rows: Vec<String>,
}

/// Replays the first `limit` of `differences` (learned machine first, table second) on
/// `stack` through `oracle`.
pub fn explain(
    oracle: &Oracle<'_>,
    stack: &mut dyn Stack,
    alphabet: &Alphabet,
    outputs: &Outputs,
    differences: &[Difference],
    limit: usize,
) -> Vec<Explained> {
    let table = oracle.model().table();
    differences
        .iter()
        .take(limit)
        .map(|d| {
            let script = alphabet.script(&d.word);
            let run = oracle.run(stack, &script, true);
            let mut rows: Vec<String> = Vec::new();
            for record in &run.trace {
                if let Record::Row { transition, .. } = record {
                    let location = table.row_location(&table.rows[transition.row]);
                    if !rows.contains(&location) {
                        rows.push(location);
                    }
                }
            }
            // What this replay answered, in case the stack is not deterministic (real time).
            let (texts, _) = observe(&run, &script);
            let actual = texts.last().cloned().unwrap_or_else(|| outputs.text(d.outputs.0).to_string());
            Explained {
                word: d.word.iter().map(|&i| alphabet.name(i).to_string()).collect(),
                expected: outputs.text(d.outputs.1).to_string(),
                actual,
                run,
                rows,
            }
        })
        .collect()
}
