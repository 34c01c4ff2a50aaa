//! Equivalence by conformance testing: a hypothesis is tested on words chosen to find what it
//! gets wrong, and the first word the system answers differently is the counterexample.
//!
//! Four sources, cheapest first: given candidate words (the fuzz corpus and committed
//! findings, in the alphabet's terms), the words on which the hypothesis differs from the
//! table's projection, seeded random walks (which find most counterexamples
//! for a fraction of the queries), and the Wp-method to a chosen depth (every state's access
//! word, then every word up to `depth` inputs, then every word of a characterizing set; then
//! every transition, `depth` inputs and the few words that identify the state reached: it
//! finds every fault of a system with at most `depth` more states than the hypothesis).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::lsharp::{LSharp, Stop, Sul};
use super::mealy::{Input, Mealy, Output};

/// How hard a hypothesis is tested.
#[derive(Clone, Debug)]
pub struct Testing {
    /// Extra states the Wp-method allows the system beyond the hypothesis' (its middle part).
    pub depth: usize,
    /// Random walks, each of up to `walk_len` inputs.
    pub walks: usize,
    pub walk_len: usize,
    pub seed: u64,
    /// Words to try first.
    pub candidates: Vec<Vec<Input>>,
    /// The machine the system is compared with (the table's projection), if any: every word on
    /// which the hypothesis differs from it is tried next, so that a difference the report
    /// shows is one the system really answers, not a hypothesis' guess.
    pub reference: Option<Mealy>,
}

/// The first word among the tests on which the system differs from `hypothesis`, if any.
pub fn counterexample<S: Sul>(
    testing: &Testing,
    hypothesis: &Mealy,
    learner: &mut LSharp<S>,
) -> Result<Option<Vec<Input>>, Stop> {
    let mut tests = Batch::new(hypothesis, learner.jobs());
    for word in &testing.candidates {
        if let Some(found) = tests.offer(learner, word)? {
            return Ok(Some(found));
        }
    }
    if let Some(reference) = &testing.reference {
        for d in hypothesis.differences(reference) {
            if let Some(found) = tests.offer(learner, &d.word)? {
                return Ok(Some(found));
            }
        }
    }
    let inputs = hypothesis.inputs() as Input;
    let access: Vec<Vec<Input>> = hypothesis.access().into_iter().flatten().collect();
    // Other walks for each hypothesis, the same for the same seed.
    let mut rng = StdRng::seed_from_u64(testing.seed ^ (hypothesis.states() as u64).wrapping_mul(0x9e37_79b9));
    for _ in 0..testing.walks {
        // From a random state's access word, so that deep states get walks of their own.
        let start = &access[rng.random_range(0..access.len())];
        let len = rng.random_range(1..=testing.walk_len.max(1));
        let mut word = start.clone();
        word.extend((0..len).map(|_| rng.random_range(0..inputs)));
        if let Some(found) = tests.offer(learner, &word)? {
            return Ok(Some(found));
        }
    }
    // The Wp-method (Fujiwara et al., 1991), as LearnLib runs it: every access word, then every
    // middle of at most `depth` inputs, then the whole characterizing set; then the other
    // words of the transition cover (an access word and one input), a middle, and only the
    // suffixes that tell the state reached from all others (its identifier). It finds every
    // fault the W-method finds with `depth` extra states, in a fraction of the tests.
    let suffixes = hypothesis.characterizing_set();
    let mut middles: Vec<Vec<Input>> = vec![Vec::new()];
    let mut layer: Vec<Vec<Input>> = vec![Vec::new()];
    for _ in 0..testing.depth {
        layer = layer
            .iter()
            .flat_map(|w| {
                (0..inputs).map(move |i| {
                    let mut next = w.clone();
                    next.push(i);
                    next
                })
            })
            .collect();
        middles.extend(layer.iter().cloned());
    }
    let everything: Vec<usize> = (0..suffixes.len()).collect();
    let mut word = Vec::new();
    for prefix in &access {
        for middle in &middles {
            for &k in everything.iter().chain([&usize::MAX]) {
                word.clear();
                word.extend(prefix.iter().chain(middle).chain(suffixes.get(k).into_iter().flatten()));
                if let Some(found) = tests.offer(learner, &word)? {
                    return Ok(Some(found));
                }
            }
        }
    }
    let identifiers = identifiers(hypothesis, &suffixes);
    for prefix in &access {
        for i in 0..inputs {
            for middle in &middles {
                word.clear();
                word.extend(prefix.iter().chain([&i]).chain(middle));
                let state = hypothesis.state_after(&word) as usize;
                let cover = word.len();
                for &k in identifiers[state].iter().chain([&usize::MAX]) {
                    word.truncate(cover);
                    word.extend(suffixes.get(k).into_iter().flatten());
                    if let Some(found) = tests.offer(learner, &word)? {
                        return Ok(Some(found));
                    }
                }
            }
        }
    }
    tests.flush(learner)
}

/// Test words waiting to be asked together, and the first of them the system answers
/// differently from the hypothesis. With one stack a word is asked as soon as it is offered;
/// with several, batches start at one word per stack and double up to [`AHEAD`] per stack,
/// so that a counterexample found early wastes few answers, and a hypothesis that passes keeps
/// every stack busy. How many answers are used does not depend on the batches
/// ([`LSharp::query_until`]).
struct Batch<'h> {
    hypothesis: &'h Mealy,
    words: Vec<Vec<Input>>,
    /// How many of `words` the tree did not answer when they were offered.
    asking: usize,
    size: usize,
    most: usize,
}

/// Batches of equivalence tests grow up to this many words per stack.
const AHEAD: usize = 4;

impl<'h> Batch<'h> {
    fn new(hypothesis: &'h Mealy, jobs: usize) -> Self {
        Batch { hypothesis, words: Vec::new(), asking: 0, size: jobs.max(1), most: jobs.max(1) * AHEAD }
    }

    /// Takes `word` as a test; when the batch holds enough words the tree does not answer
    /// (a word it answers agrees with the hypothesis, see [`LSharp::answered`]), asks it.
    fn offer<S: Sul>(&mut self, learner: &mut LSharp<S>, word: &[Input]) -> Result<Option<Vec<Input>>, Stop> {
        if word.is_empty() {
            return Ok(None);
        }
        self.words.push(word.to_vec());
        self.asking += usize::from(!learner.knows(word));
        if self.asking < self.size {
            return Ok(None);
        }
        self.size = (self.size * 2).min(self.most);
        self.flush(learner)
    }

    /// Asks the waiting words; the first, in the order offered, the system answers otherwise
    /// than the hypothesis.
    fn flush<S: Sul>(&mut self, learner: &mut LSharp<S>) -> Result<Option<Vec<Input>>, Stop> {
        let mut words = std::mem::take(&mut self.words);
        self.asking = 0;
        let hypothesis = self.hypothesis;
        let found = learner.query_until(&words, |word, outputs| outputs != hypothesis.run(word))?;
        Ok(found.map(|k| words.swap_remove(k)))
    }
}

/// For each state of `machine`, the words of `suffixes` (by index) that tell it from every
/// other state: greedily, in order, each word that separates it from a state not yet told.
fn identifiers(machine: &Mealy, suffixes: &[Vec<Input>]) -> Vec<Vec<usize>> {
    let n = machine.states() as u32;
    let answers: Vec<Vec<Vec<Output>>> =
        (0..n).map(|s| suffixes.iter().map(|w| machine.run_from(s, w)).collect()).collect();
    (0..n as usize)
        .map(|s| {
            let mut others: Vec<usize> = (0..n as usize).filter(|&t| t != s).collect();
            let mut chosen = Vec::new();
            for (k, mine) in answers[s].iter().enumerate() {
                if others.is_empty() {
                    break;
                }
                let before = others.len();
                others.retain(|&t| answers[t][k] == *mine);
                if others.len() < before {
                    chosen.push(k);
                }
            }
            chosen
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::lsharp::tests::Machine;
    use super::super::lsharp::Counts;
    use super::super::mealy::tests::counter;
    use super::*;

    fn learn(truth: &Mealy, testing: &Testing) -> Mealy {
        let mut learner = LSharp::new(Machine(truth.clone()), truth.inputs(), 100);
        learner.learn(|h, l| counterexample(testing, h, l)).unwrap().minimize()
    }

    #[test]
    fn the_w_method_finds_a_system_with_depth_more_states() {
        // Without walks or candidates: the first hypothesis has one state, the system four
        // more, which depth 4 reaches.
        let testing = Testing { depth: 4, walks: 0, walk_len: 0, seed: 1, candidates: Vec::new(), reference: None };
        assert_eq!(learn(&counter(5), &testing), counter(5));
    }

    /// A machine that says it answers `.1` words at once.
    struct Wide(Machine, usize);

    impl Sul for Wide {
        fn query(&mut self, word: &[Input]) -> Result<Vec<Output>, Stop> {
            self.0.query(word)
        }
        fn jobs(&self) -> usize {
            self.1
        }
    }

    #[test]
    fn tests_asked_ahead_teach_what_tests_asked_one_by_one_do() {
        let truth = counter(7);
        let testing = Testing { depth: 1, walks: 40, walk_len: 9, seed: 3, candidates: Vec::new(), reference: None };
        let learned: Vec<(Mealy, Counts)> = [1, 4, 16]
            .into_iter()
            .map(|jobs| {
                let mut learner = LSharp::new(Wide(Machine(truth.clone()), jobs), truth.inputs(), 100);
                let machine = learner.learn(|h, l| counterexample(&testing, h, l)).unwrap().minimize();
                (machine, learner.counts())
            })
            .collect();
        assert_eq!(learned[0].0, truth);
        assert!(learned[0].1.rounds > 1, "no hypothesis was refuted");
        assert_eq!(learned[0].1.unused, 0);
        for (machine, counts) in &learned[1..] {
            assert!(counts.unused > 0, "nothing was asked ahead");
            assert_eq!((machine, Counts { unused: 0, ..*counts }), (&learned[0].0, learned[0].1));
        }
    }

    #[test]
    fn each_identifier_tells_its_state_from_every_other() {
        let m = counter(6);
        let w = m.characterizing_set();
        let ids = identifiers(&m, &w);
        for s in 0..6u32 {
            for t in (0..6u32).filter(|&t| t != s) {
                let told = ids[s as usize].iter().any(|&k| m.run_from(s, &w[k]) != m.run_from(t, &w[k]));
                assert!(told, "{s} from {t}");
            }
        }
    }

    #[test]
    fn candidates_and_walks_find_what_depth_zero_misses() {
        let truth = counter(7);
        let shallow = Testing { depth: 0, walks: 0, walk_len: 0, seed: 1, candidates: Vec::new(), reference: None };
        assert_ne!(learn(&truth, &shallow), truth, "depth 0 alone should not see the 7-counter");
        let candidate = Testing { candidates: vec![vec![0; 7]], ..shallow.clone() };
        assert_eq!(learn(&truth, &candidate), truth);
        let walks = Testing { walks: 200, walk_len: 20, ..shallow.clone() };
        assert_eq!(learn(&truth, &walks), truth);
        // A system equal to the reference (the reference stack to the table's projection) is
        // learned exactly at depth 0: every word on which a hypothesis differs is asked.
        let compared = Testing { reference: Some(truth.clone()), ..shallow };
        assert_eq!(learn(&truth, &compared), truth);
    }
}
