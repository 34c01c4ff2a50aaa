//! Mealy machines over small alphabets: inputs are indices into an alphabet, outputs are
//! indices into an [`Outputs`] table. What the learner builds, the table's projection is, and
//! the diff compares.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// An abstract input: an index into the alphabet.
pub type Input = u16;
/// An abstract output: an index into [`Outputs`].
pub type Output = u32;

/// Output symbols by index, each interned once, so that machines compare outputs as numbers
/// and print them as text.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    texts: Vec<String>,
    index: HashMap<String, Output>,
}

impl Outputs {
    pub fn intern(&mut self, text: &str) -> Output {
        if let Some(&o) = self.index.get(text) {
            return o;
        }
        let o = self.texts.len() as Output;
        self.texts.push(text.to_string());
        self.index.insert(text.to_string(), o);
        o
    }

    pub fn text(&self, o: Output) -> &str {
        self.texts.get(o as usize).map_or("?", String::as_str)
    }
}

/// A complete deterministic Mealy machine; state 0 is initial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mealy {
    inputs: usize,
    /// `(output, target)` of state `s` on input `i` at `s * inputs + i`.
    edges: Vec<(Output, u32)>,
}

/// A word on which two machines answer differently: the last input's outputs differ, every
/// earlier one agrees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub word: Vec<Input>,
    /// The states of each machine before the last input.
    pub states: (u32, u32),
    /// Each machine's output on the last input.
    pub outputs: (Output, Output),
}

impl Mealy {
    /// A machine with `states` states whose every transition is `(output, target)` of `edge`.
    pub fn from_fn(states: usize, inputs: usize, mut edge: impl FnMut(u32, Input) -> (Output, u32)) -> Mealy {
        let mut edges = Vec::with_capacity(states * inputs);
        for s in 0..states as u32 {
            for i in 0..inputs as Input {
                edges.push(edge(s, i));
            }
        }
        Mealy { inputs, edges }
    }

    pub fn states(&self) -> usize {
        self.edges.len().checked_div(self.inputs).unwrap_or(0)
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Output and next state of `state` on `input`.
    pub fn step(&self, state: u32, input: Input) -> (Output, u32) {
        self.edges[state as usize * self.inputs + usize::from(input)]
    }

    /// The state after `word` from the initial state.
    pub fn state_after(&self, word: &[Input]) -> u32 {
        word.iter().fold(0, |s, &i| self.step(s, i).1)
    }

    /// The outputs of `word` from the initial state.
    pub fn run(&self, word: &[Input]) -> Vec<Output> {
        let mut s = 0;
        word.iter()
            .map(|&i| {
                let (o, t) = self.step(s, i);
                s = t;
                o
            })
            .collect()
    }

    /// A shortest word reaching each state (the first in input order among the shortest), by
    /// state; `None` for a state the initial one does not reach.
    pub fn access(&self) -> Vec<Option<Vec<Input>>> {
        let mut access = vec![None; self.states()];
        if access.is_empty() {
            return access;
        }
        access[0] = Some(Vec::new());
        let mut queue = VecDeque::from([0u32]);
        while let Some(s) = queue.pop_front() {
            for i in 0..self.inputs as Input {
                let t = self.step(s, i).1;
                if access[t as usize].is_none() {
                    let mut word = access[s as usize].clone().unwrap_or_default();
                    word.push(i);
                    access[t as usize] = Some(word);
                    queue.push_back(t);
                }
            }
        }
        access
    }

    /// The minimal machine with the same behaviour, its states numbered in breadth-first order
    /// of their access words: two machines with the same behaviour minimize to the same value.
    pub fn minimize(&self) -> Mealy {
        let n = self.states();
        // Partition refinement: states start apart by their outputs and split by the blocks
        // their successors are in, until no block splits.
        let mut block: Vec<u32> = vec![0; n];
        let mut blocks = 0;
        loop {
            let mut signatures: BTreeMap<Vec<u32>, u32> = BTreeMap::new();
            let mut next = vec![0; n];
            for s in 0..n {
                let mut sig = vec![block[s]];
                for i in 0..self.inputs as Input {
                    let (o, t) = self.step(s as u32, i);
                    sig.extend([o, block[t as usize]]);
                }
                let fresh = signatures.len() as u32;
                next[s] = *signatures.entry(sig).or_insert(fresh);
            }
            let count = signatures.len();
            block = next;
            if count == blocks {
                break;
            }
            blocks = count;
        }
        // Renumber the blocks reachable from the initial state breadth-first.
        let mut number: HashMap<u32, u32> = HashMap::new();
        let mut order = Vec::new();
        let mut queue = VecDeque::new();
        if n > 0 {
            number.insert(block[0], 0);
            order.push(0u32);
            queue.push_back(0u32);
        }
        while let Some(s) = queue.pop_front() {
            for i in 0..self.inputs as Input {
                let t = self.step(s, i).1;
                if let std::collections::hash_map::Entry::Vacant(e) = number.entry(block[t as usize]) {
                    e.insert(order.len() as u32);
                    order.push(t);
                    queue.push_back(t);
                }
            }
        }
        Mealy::from_fn(order.len(), self.inputs, |s, i| {
            let (o, t) = self.step(order[s as usize], i);
            (o, number[&block[t as usize]])
        })
    }

    /// For every pair of states `self` and `other` reach together on a word on which they had
    /// agreed so far, and every input on which they then answer differently, the shortest such
    /// word (breadth-first, inputs in order), shortest first. Both machines must have the same
    /// alphabet and intern outputs in the same [`Outputs`].
    pub fn differences(&self, other: &Mealy) -> Vec<Difference> {
        self.pair_search(other, (0, 0), false)
    }

    /// Breadth-first over the pairs of states `self` and `other` reach together from `start`
    /// while they answer alike; each input on which they then answer differently is a
    /// [`Difference`]. With `first`, stops at the first.
    fn pair_search(&self, other: &Mealy, start: (u32, u32), first: bool) -> Vec<Difference> {
        let mut seen: HashMap<(u32, u32), Vec<Input>> = HashMap::from([(start, Vec::new())]);
        let mut queue = VecDeque::from([start]);
        let mut found = Vec::new();
        while let Some((a, b)) = queue.pop_front() {
            let word = seen[&(a, b)].clone();
            for i in 0..self.inputs.min(other.inputs) as Input {
                let ((oa, ta), (ob, tb)) = (self.step(a, i), other.step(b, i));
                let mut next = word.clone();
                next.push(i);
                if oa != ob {
                    found.push(Difference { word: next, states: (a, b), outputs: (oa, ob) });
                    if first {
                        return found;
                    }
                } else if let std::collections::hash_map::Entry::Vacant(e) = seen.entry((ta, tb)) {
                    e.insert(next);
                    queue.push_back((ta, tb));
                }
            }
        }
        found
    }

    /// A characterizing set: for every two states, a word on which they answer differently
    /// (the shortest found breadth-first over pairs), without repeats.
    pub fn characterizing_set(&self) -> Vec<Vec<Input>> {
        let n = self.states() as u32;
        let mut words: Vec<Vec<Input>> = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                if words.iter().any(|w| self.run_from(a, w) != self.run_from(b, w)) {
                    continue;
                }
                if let Some(w) = self.separating(a, b) {
                    words.push(w);
                }
            }
        }
        words
    }

    /// The outputs of `word` from state `s`.
    pub fn run_from(&self, mut s: u32, word: &[Input]) -> Vec<Output> {
        word.iter()
            .map(|&i| {
                let (o, t) = self.step(s, i);
                s = t;
                o
            })
            .collect()
    }

    /// A shortest word on which states `a` and `b` answer differently, if any.
    fn separating(&self, a: u32, b: u32) -> Option<Vec<Input>> {
        self.pair_search(self, (a, b), true).pop().map(|d| d.word)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A toy: a counter modulo `n` on input 0 that says whether it wrapped; input 1 resets it
    /// and says the count.
    pub(crate) fn counter(n: u32) -> Mealy {
        Mealy::from_fn(n as usize, 2, |s, i| match i {
            0 => (u32::from(s + 1 == n), (s + 1) % n),
            _ => (10 + s, 0),
        })
    }

    #[test]
    fn minimize_merges_equivalent_states_and_numbers_canonically() {
        // Two copies of a 3-counter side by side, the second reached only from the first's
        // equivalent states: minimal is the 3-counter.
        let doubled = Mealy::from_fn(6, 2, |s, i| {
            let (o, t) = counter(3).step(s % 3, i);
            (o, if s < 3 { (t + 3) % 6 } else { t })
        });
        assert_eq!(doubled.minimize(), counter(3));
        assert_eq!(counter(4).minimize(), counter(4));
    }

    #[test]
    fn differences_are_shortest_and_first_differing() {
        let d = counter(3).differences(&counter(4));
        // The 3-counter wraps after three 0s, the 4-counter does not; before, they agree.
        assert_eq!(d[0].word, vec![0, 0, 0]);
        assert_eq!(d[0].outputs, (1, 0));
        assert!(counter(5).differences(&counter(5)).is_empty());
    }

    #[test]
    fn a_characterizing_set_separates_every_pair() {
        let m = counter(5);
        let w = m.characterizing_set();
        for a in 0..5 {
            for b in a + 1..5 {
                assert!(w.iter().any(|w| m.run_from(a, w) != m.run_from(b, w)), "{a} {b}");
            }
        }
        assert_eq!(m.access()[3], Some(vec![0, 0, 0]));
    }
}
