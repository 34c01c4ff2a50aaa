//! L# (Vaandrager, Garhewal, Rot, Wißmann: "A New Approach for Active Automata Learning Based
//! on Apartness", TACAS 2022): the learner keeps only an observation tree of the answers it got
//! — which is also its query cache — and a *basis* of tree nodes known to be pairwise apart
//! (answer differently to some word both were asked). Nodes one input beyond the basis form the
//! *frontier*; the four rules promote a frontier node apart from the whole basis, extend the
//! basis by every input, separate a frontier node from all but one basis node, and, once every
//! frontier node is identified, build a hypothesis and ask for a counterexample.
//!
//! No well-kept Rust crate implements L# or TTT (`rust-lstar` is an L* port with string
//! letters), so it is written here once, small, and tested on toy machines.

use std::collections::{HashMap, HashSet};

use super::mealy::{Input, Mealy, Output};

/// Why learning stopped before a machine was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// A bound the user set, in words.
    Limit(String),
    /// The system could not answer (one of several stacks failed), in words.
    Failed(String),
}

/// A system under learning: from its initial state, the outputs of a word.
pub trait Sul {
    fn query(&mut self, word: &[Input]) -> Result<Vec<Output>, Stop>;

    /// The outputs of each of `words`, in order. The learner asks the words it can choose
    /// together (a round's extensions and separations, an equivalence test's next words)
    /// through this, so that a system of several stacks ([`crate::learn::workers`]) answers
    /// them at once. Answers must not depend on how the words are grouped.
    fn query_all(&mut self, words: &[Vec<Input>]) -> Result<Vec<Vec<Output>>, Stop> {
        words.iter().map(|w| self.query(w)).collect()
    }

    /// How many words [`Sul::query_all`] answers at once.
    fn jobs(&self) -> usize {
        1
    }
}

/// A system borrowed for one learning run, so that the caller keeps it (and what it interned).
impl<S: Sul + ?Sized> Sul for &mut S {
    fn query(&mut self, word: &[Input]) -> Result<Vec<Output>, Stop> {
        (**self).query(word)
    }

    fn query_all(&mut self, words: &[Vec<Input>]) -> Result<Vec<Vec<Output>>, Stop> {
        (**self).query_all(words)
    }

    fn jobs(&self) -> usize {
        (**self).jobs()
    }
}

/// Queries and symbols that reached the system (the cache answered the rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub queries: u64,
    pub symbols: u64,
    /// Queries the observation tree answered without the system.
    pub cached: u64,
    /// Queries several stacks answered ahead, beyond the first counterexample among them,
    /// and not used (so that the machine learned is the one a single stack teaches).
    pub unused: u64,
    /// Hypotheses built, the last one included.
    pub rounds: u64,
    /// States of the last hypothesis (how far learning got when it stopped early).
    pub states: u64,
}

/// The observation tree: every word asked, as a trie of `(output, child)` per input.
#[derive(Clone, Debug)]
struct Tree {
    inputs: usize,
    children: Vec<Option<(Output, u32)>>,
    /// Parent and input of each node (the root's is unused).
    parent: Vec<(u32, Input)>,
    /// The last node of each word that added nodes, since the learner last looked: two nodes
    /// become apart only on such a word (see [`Tree::apart_along`]).
    grown: Vec<u32>,
}

/// An edge on a path down the tree: its input, its output and the node it reaches.
type Edge = (Input, Output, u32);

impl Tree {
    fn new(inputs: usize) -> Tree {
        Tree { inputs, children: vec![None; inputs], parent: vec![(0, 0)], grown: Vec::new() }
    }

    fn child(&self, node: u32, input: Input) -> Option<(Output, u32)> {
        self.children[node as usize * self.inputs + usize::from(input)]
    }

    fn walk(&self, word: &[Input]) -> Option<u32> {
        word.iter().try_fold(0, |n, &i| self.child(n, i).map(|(_, c)| c))
    }

    fn outputs(&self, word: &[Input]) -> Option<Vec<Output>> {
        let mut n = 0;
        word.iter()
            .map(|&i| {
                let (o, c) = self.child(n, i)?;
                n = c;
                Some(o)
            })
            .collect()
    }

    fn insert(&mut self, word: &[Input], outputs: &[Output]) {
        let mut n = 0u32;
        let mut grew = false;
        for (&i, &o) in word.iter().zip(outputs) {
            n = match self.child(n, i) {
                Some((_, c)) => c,
                None => {
                    let c = self.parent.len() as u32;
                    self.parent.push((n, i));
                    self.children.extend(std::iter::repeat_n(None, self.inputs));
                    self.children[n as usize * self.inputs + usize::from(i)] = Some((o, c));
                    grew = true;
                    c
                }
            };
        }
        if grew {
            self.grown.push(n);
        }
    }

    /// The edges from the root down to `node`.
    fn path(&self, mut node: u32) -> Vec<Edge> {
        let mut edges = Vec::new();
        while node != 0 {
            let (p, i) = self.parent[node as usize];
            let o = self.child(p, i).map_or(0, |(o, _)| o);
            edges.push((i, o, node));
            node = p;
        }
        edges.reverse();
        edges
    }

    /// Whether `node` answers some prefix of `edges`' inputs other than `edges` do. If two
    /// nodes are apart now and were not before a word was added, the first differing answer
    /// of their shortest witness is new, so one of them lies on that word's path and the rest
    /// of the path below it is the witness: this finds every new apartness with one walk.
    fn apart_along(&self, mut node: u32, edges: &[Edge]) -> bool {
        for &(i, o, _) in edges {
            match self.child(node, i) {
                None => return false,
                Some((mine, _)) if mine != o => return true,
                Some((_, c)) => node = c,
            }
        }
        false
    }

    fn access(&self, mut node: u32) -> Vec<Input> {
        let mut word = Vec::new();
        while node != 0 {
            let (p, i) = self.parent[node as usize];
            word.push(i);
            node = p;
        }
        word.reverse();
        word
    }

    /// A word on which the subtrees of `a` and `b` answer differently, if they are apart.
    fn witness(&self, a: u32, b: u32) -> Option<Vec<Input>> {
        for i in 0..self.inputs as Input {
            if let (Some((oa, ca)), Some((ob, cb))) = (self.child(a, i), self.child(b, i)) {
                let found = if oa != ob { Some(Vec::new()) } else { self.witness(ca, cb) };
                if let Some(mut word) = found {
                    word.insert(0, i);
                    return Some(word);
                }
            }
        }
        None
    }

    fn apart(&self, a: u32, b: u32) -> bool {
        self.witness(a, b).is_some()
    }
}

/// A frontier node with the basis nodes it is not (yet) apart from, as of the first
/// `basis_seen` basis nodes.
#[derive(Clone, Debug)]
struct Frontier {
    node: u32,
    candidates: Vec<u32>,
    basis_seen: usize,
}

/// The learner.
pub struct LSharp<S> {
    sul: S,
    tree: Tree,
    basis: Vec<u32>,
    /// Each basis node's index in `basis`.
    in_basis: HashMap<u32, u32>,
    frontier: Vec<Frontier>,
    counts: Counts,
    /// Hypotheses may not grow beyond this many states.
    max_states: usize,
}

impl<S: Sul> LSharp<S> {
    pub fn new(sul: S, inputs: usize, max_states: usize) -> Self {
        LSharp {
            sul,
            tree: Tree::new(inputs),
            basis: vec![0],
            in_basis: HashMap::from([(0, 0)]),
            frontier: Vec::new(),
            counts: Counts::default(),
            max_states,
        }
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    pub fn sul(&mut self) -> &mut S {
        &mut self.sul
    }

    /// The outputs of `word`: from the tree if it was asked before, else from the system.
    pub fn query(&mut self, word: &[Input]) -> Result<Vec<Output>, Stop> {
        if let Some(outputs) = self.tree.outputs(word) {
            self.counts.cached += 1;
            return Ok(outputs);
        }
        let outputs = self.sul.query(word)?;
        self.counts.queries += 1;
        self.counts.symbols += word.len() as u64;
        self.tree.insert(word, &outputs);
        Ok(outputs)
    }

    /// Asks the system every word of `words` the tree cannot answer, all at once; the answers
    /// go into the tree in the order of `words`. A word that is a prefix of another in the
    /// batch is answered by that one, and is not asked.
    pub fn query_all(&mut self, words: &[Vec<Input>]) -> Result<(), Stop> {
        // Longest first, so that every prefix in the batch meets the word that answers it.
        let mut longest_first: Vec<usize> = (0..words.len()).collect();
        longest_first.sort_by_key(|&k| std::cmp::Reverse(words[k].len()));
        let ask = self.unanswered(words, longest_first);
        self.counts.cached += (words.len() - ask.len()) as u64;
        if ask.is_empty() {
            return Ok(());
        }
        let answers = self.sul.query_all(&ask)?;
        for (word, outputs) in ask.iter().zip(&answers) {
            self.counts.queries += 1;
            self.counts.symbols += word.len() as u64;
            self.tree.insert(word, outputs);
        }
        Ok(())
    }

    /// The words of `words` the system must be asked, in the order of `words`: those the tree
    /// cannot answer and no word taken before them, in the order `order` visits them, answers
    /// (as its prefix, or as the same word).
    fn unanswered(&self, words: &[Vec<Input>], order: Vec<usize>) -> Vec<Vec<Input>> {
        let mut prefixes: HashSet<&[Input]> = HashSet::new();
        let mut taken: Vec<usize> = Vec::new();
        for k in order {
            let word = words[k].as_slice();
            if !prefixes.contains(word) && !self.knows(word) {
                prefixes.extend((1..=word.len()).map(|n| &word[..n]));
                taken.push(k);
            }
        }
        taken.sort_unstable();
        taken.into_iter().map(|k| words[k].clone()).collect()
    }

    /// Whether `word` was asked (or is a prefix of a word that was), without counting it as
    /// answered from the cache.
    pub fn knows(&self, word: &[Input]) -> bool {
        self.tree.walk(word).is_some()
    }

    /// How many words the system answers at once.
    pub fn jobs(&self) -> usize {
        self.sul.jobs()
    }

    /// Asks the system `words` (the next tests of a hypothesis) all at once, then takes the
    /// answers into the tree one by one, in order, as if each were asked only after the one
    /// before, until `found` holds for one: its index. Words after it are not taken: the tree
    /// holds what asking one word at a time would have put there, so the learner goes on as
    /// it would with one stack, whatever the number answering.
    pub fn query_until(
        &mut self,
        words: &[Vec<Input>],
        mut found: impl FnMut(&[Input], &[Output]) -> bool,
    ) -> Result<Option<usize>, Stop> {
        // A word the tree answers needs no query; nor does one an earlier word will answer
        // once that is taken in (if it is not, the search has stopped before).
        let ask = self.unanswered(words, (0..words.len()).collect());
        let answers = self.sul.query_all(&ask)?;
        let mut answers = ask.iter().zip(answers);
        let mut used = 0;
        let mut result = None;
        for (k, word) in words.iter().enumerate() {
            if self.answered(word) {
                continue;
            }
            let Some((asked, outputs)) = answers.find(|(asked, _)| *asked == word) else { continue };
            used += 1;
            self.counts.queries += 1;
            self.counts.symbols += asked.len() as u64;
            self.tree.insert(asked, &outputs);
            if found(asked, &outputs) {
                result = Some(k);
                break;
            }
        }
        self.counts.unused += (ask.len() - used) as u64;
        Ok(result)
    }

    /// Whether `word` was asked (or is a prefix of a word that was). During equivalence
    /// testing such a word needs no test: the tree agrees with the hypothesis (a conflict is a
    /// counterexample found before testing starts) and every query since has agreed.
    pub fn answered(&mut self, word: &[Input]) -> bool {
        let answered = self.tree.walk(word).is_some();
        if answered {
            self.counts.cached += 1;
        }
        answered
    }

    /// Learns until `oracle` finds no counterexample to the hypothesis, and returns it.
    /// `oracle` gets the hypothesis and this learner, through whose cache it queries.
    pub fn learn(
        &mut self,
        mut oracle: impl FnMut(&Mealy, &mut Self) -> Result<Option<Vec<Input>>, Stop>,
    ) -> Result<Mealy, Stop> {
        loop {
            let hypothesis = self.stabilize()?;
            self.counts.rounds += 1;
            self.counts.states = hypothesis.states() as u64;
            let counterexample = match self.conflict(&hypothesis) {
                Some(word) => Some(word),
                None => oracle(&hypothesis, self)?,
            };
            match counterexample {
                None => return Ok(hypothesis),
                Some(word) => {
                    let outputs = self.query(&word)?;
                    let expected = hypothesis.run(&word);
                    // Up to its first difference the word reaches a tree node apart from the
                    // hypothesis state it reaches, as the differing input shows.
                    if let Some(k) = outputs.iter().zip(&expected).position(|(a, b)| a != b) {
                        self.process(&hypothesis, word[..k].to_vec(), vec![word[k]])?;
                    }
                }
            }
        }
    }

    /// Applies promotion, extension and separation until every frontier node is identified
    /// with exactly one basis node, then builds the hypothesis.
    fn stabilize(&mut self) -> Result<Mealy, Stop> {
        loop {
            self.refresh_frontier();
            // Promotion: a frontier node apart from the whole basis is a new state.
            if let Some(node) = self.frontier.iter().find(|f| f.candidates.is_empty()).map(|f| f.node) {
                if self.basis.len() >= self.max_states {
                    return Err(Stop::Limit(format!(
                        "the machine has more than {} states (raise --max-states, or choose a smaller --alphabet)",
                        self.max_states
                    )));
                }
                self.in_basis.insert(node, self.basis.len() as u32);
                self.basis.push(node);
                continue;
            }
            // Extension: every basis node is asked every input.
            let missing: Vec<Vec<Input>> = self
                .basis
                .iter()
                .flat_map(|&b| (0..self.tree.inputs as Input).map(move |i| (b, i)))
                .filter(|&(b, i)| self.tree.child(b, i).is_none())
                .map(|(b, i)| {
                    let mut w = self.tree.access(b);
                    w.push(i);
                    w
                })
                .collect();
            if !missing.is_empty() {
                self.query_all(&missing)?;
                continue;
            }
            // Separation: every frontier node with two candidates is asked what tells its
            // first two apart (all in one pass: the frontier is refreshed once for them all).
            let separating: Vec<Vec<Input>> = self
                .frontier
                .iter()
                .filter(|f| f.candidates.len() >= 2)
                .map(|f| {
                    let mut word = self.tree.access(f.node);
                    word.extend(self.tree.witness(f.candidates[0], f.candidates[1]).unwrap_or_default());
                    word
                })
                .collect();
            if !separating.is_empty() {
                self.query_all(&separating)?;
                continue;
            }
            return Ok(self.hypothesis());
        }
    }

    /// The frontier after the basis or the tree changed. Apartness only grows with the tree,
    /// so a node's candidates are its old ones and the basis nodes added since, less those it
    /// is now apart from. An old pair can only have become apart along a word added since
    /// ([`Tree::apart_along`]), so only the pairs with a node on such a word are looked at.
    fn refresh_frontier(&mut self) {
        let grown = std::mem::take(&mut self.tree.grown);
        let tree = &self.tree;
        let mut old: HashMap<u32, Frontier> =
            std::mem::take(&mut self.frontier).into_iter().map(|f| (f.node, f)).collect();
        // The frontier nodes each basis node is still a candidate of.
        let mut candidate_of: HashMap<u32, Vec<u32>> = HashMap::new();
        for f in old.values() {
            for &q in &f.candidates {
                candidate_of.entry(q).or_default().push(f.node);
            }
        }
        for leaf in grown {
            let edges = tree.path(leaf);
            for d in 0..edges.len() {
                let node = if d == 0 { 0 } else { edges[d - 1].2 };
                let below = &edges[d..];
                if let Some(f) = old.get_mut(&node) {
                    f.candidates.retain(|&q| !tree.apart_along(q, below));
                }
                for f in candidate_of.get(&node).into_iter().flatten() {
                    if let Some(entry) = old.get_mut(f) {
                        if tree.apart_along(*f, below) {
                            entry.candidates.retain(|&q| q != node);
                        }
                    }
                }
            }
        }
        let mut frontier = Vec::new();
        for &b in &self.basis {
            for i in 0..tree.inputs as Input {
                let Some((_, c)) = tree.child(b, i) else { continue };
                if self.in_basis.contains_key(&c) {
                    continue;
                }
                let (mut candidates, new) = match old.remove(&c) {
                    Some(f) => (f.candidates, &self.basis[f.basis_seen..]),
                    None => (Vec::new(), &self.basis[..]),
                };
                candidates.extend(new.iter().copied().filter(|&q| !tree.apart(c, q)));
                frontier.push(Frontier { node: c, candidates, basis_seen: self.basis.len() });
            }
        }
        self.frontier = frontier;
    }

    fn hypothesis(&self) -> Mealy {
        // A frontier node is the state of its first candidate.
        let same: HashMap<u32, u32> =
            self.frontier.iter().filter_map(|f| Some((f.node, *self.in_basis.get(f.candidates.first()?)?))).collect();
        let index = |node: u32| -> u32 { self.in_basis.get(&node).or_else(|| same.get(&node)).copied().unwrap_or(0) };
        Mealy::from_fn(self.basis.len(), self.tree.inputs, |s, i| {
            let (o, c) = self.tree.child(self.basis[s as usize], i).unwrap_or((0, 0));
            (o, index(c))
        })
    }

    /// A word the tree already answers differently from `hypothesis`, if there is one.
    fn conflict(&self, hypothesis: &Mealy) -> Option<Vec<Input>> {
        let mut stack = vec![(0u32, 0u32)];
        while let Some((node, state)) = stack.pop() {
            for i in 0..self.tree.inputs as Input {
                if let Some((o, c)) = self.tree.child(node, i) {
                    let (ho, hs) = hypothesis.step(state, i);
                    if o != ho {
                        return Some(self.tree.access(c));
                    }
                    stack.push((c, hs));
                }
            }
        }
        None
    }

    /// Counterexample processing (the paper's ProcCounterEx). The tree node `sigma` reaches
    /// is apart from the basis node of the hypothesis state it reaches, as `eta` shows. Halving
    /// the part of `sigma` beyond the frontier moves that conflict onto a basis or frontier
    /// node, where the rules above turn it into a new state or a smaller candidate set.
    fn process(&mut self, hypothesis: &Mealy, mut sigma: Vec<Input>, mut eta: Vec<Input>) -> Result<(), Stop> {
        loop {
            let Some(r) = self.tree.walk(&sigma) else { return Ok(()) };
            let in_frontier = r != 0 && self.in_basis.contains_key(&self.tree.parent[r as usize].0);
            if self.in_basis.contains_key(&r) || in_frontier {
                return Ok(());
            }
            // The length of the prefix whose node is in the frontier: the first not in the basis.
            let mut node = 0;
            let mut rho = sigma.len();
            for (k, &i) in sigma.iter().enumerate() {
                let Some((_, c)) = self.tree.child(node, i) else { break };
                node = c;
                if !self.in_basis.contains_key(&c) {
                    rho = k + 1;
                    break;
                }
            }
            let half = (rho + sigma.len()) / 2;
            let (first, second) = sigma.split_at(half);
            let q = self.basis[hypothesis.state_after(first) as usize];
            let Some(r1) = self.tree.walk(first) else { return Ok(()) };
            let mut probe = self.tree.access(q);
            probe.extend_from_slice(second);
            let access_len = probe.len();
            probe.extend_from_slice(&eta);
            self.query(&probe)?;
            match self.tree.witness(q, r1) {
                Some(witness) => {
                    sigma = first.to_vec();
                    eta = witness;
                }
                None => {
                    probe.truncate(access_len);
                    sigma = probe;
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::mealy::tests::counter;
    use super::*;

    /// A machine as a system under learning.
    pub(crate) struct Machine(pub(crate) Mealy);

    impl Sul for Machine {
        fn query(&mut self, word: &[Input]) -> Result<Vec<Output>, Stop> {
            Ok(self.0.run(word))
        }
    }

    /// A perfect equivalence oracle for tests: the first difference from the truth.
    fn perfect(truth: &Mealy) -> impl FnMut(&Mealy, &mut LSharp<Machine>) -> Result<Option<Vec<Input>>, Stop> + '_ {
        move |h, _| Ok(truth.differences(h).first().map(|d| d.word.clone()))
    }

    #[test]
    fn learns_toy_machines_exactly() {
        for n in [1, 2, 5, 9] {
            let truth = counter(n);
            let mut learner = LSharp::new(Machine(truth.clone()), 2, 100);
            let learned = learner.learn(perfect(&truth)).unwrap();
            assert_eq!(learned.minimize(), truth.minimize(), "counter({n})");
            assert_eq!(learned.states(), n as usize);
        }
    }

    #[test]
    fn learns_a_combination_lock() {
        // Only the code 2,0,1 opens it: a machine a random walk rarely explores, the perfect
        // oracle's counterexample has to be processed.
        let code = [2u16, 0, 1];
        let truth = Mealy::from_fn(4, 3, |s, i| {
            if s == 3 {
                (1, 3)
            } else if i == code[s as usize] {
                (u32::from(s == 2), s + 1)
            } else {
                (0, u32::from(i == code[0]))
            }
        });
        let mut learner = LSharp::new(Machine(truth.clone()), 3, 100);
        assert_eq!(learner.learn(perfect(&truth)).unwrap().minimize(), truth.minimize());
        assert!(learner.counts().queries > 0);
    }

    #[test]
    fn the_tree_is_the_cache() {
        let mut learner = LSharp::new(Machine(counter(3)), 2, 100);
        learner.query(&[0, 0, 1]).unwrap();
        learner.query(&[0, 0]).unwrap();
        assert_eq!((learner.counts().queries, learner.counts().cached), (1, 1));
    }

    #[test]
    fn a_state_bound_stops_learning() {
        let truth = counter(6);
        let mut learner = LSharp::new(Machine(truth.clone()), 2, 3);
        assert!(matches!(learner.learn(perfect(&truth)), Err(Stop::Limit(_))));
    }

    #[test]
    fn witnesses_tell_nodes_apart() {
        let mut t = Tree::new(2);
        t.insert(&[0, 1, 0], &[5, 6, 7]);
        t.insert(&[1, 1, 1], &[5, 6, 8]);
        t.insert(&[1, 1, 0], &[5, 6, 9]);
        let (a, b) = (t.walk(&[0]).unwrap(), t.walk(&[1]).unwrap());
        assert_eq!(t.witness(a, b), Some(vec![1, 0]));
        assert_eq!(t.witness(t.walk(&[0, 1]).unwrap(), t.walk(&[1, 1]).unwrap()), Some(vec![0]));
        assert!(!t.apart(0, 0));
    }
}
