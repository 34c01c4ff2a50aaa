//! Equivalence by conformance testing: a hypothesis is tested on words chosen to find what it
//! gets wrong, and the first word the system answers differently is the counterexample.
//!
//! Four sources, cheapest first: given candidate words (the fuzz corpus and committed
//! findings, in the alphabet's terms), the words on which the hypothesis differs from the
//! table's projection, seeded random walks (which find most counterexamples
//! for a fraction of the queries), and the W-method to a chosen depth (every state's access
//! word, then every word up to `depth` + 1 inputs, then every word of a characterizing set: it
//! finds every fault of a system with at most `depth` more states than the hypothesis).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::lsharp::{LSharp, Stop, Sul};
use super::mealy::{Input, Mealy};

/// How hard a hypothesis is tested.
#[derive(Clone, Debug)]
pub struct Testing {
    /// Extra states the W-method allows the system beyond the hypothesis' (its middle part).
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
    let differs = |word: &[Input], learner: &mut LSharp<S>| -> Result<bool, Stop> {
        Ok(!word.is_empty() && !learner.answered(word) && learner.query(word)? != hypothesis.run(word))
    };
    for word in &testing.candidates {
        if differs(word, learner)? {
            return Ok(Some(word.clone()));
        }
    }
    if let Some(reference) = &testing.reference {
        for d in hypothesis.differences(reference) {
            if differs(&d.word, learner)? {
                return Ok(Some(d.word));
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
        if differs(&word, learner)? {
            return Ok(Some(word));
        }
    }
    let suffixes = hypothesis.characterizing_set();
    let mut middles: Vec<Vec<Input>> = vec![Vec::new()];
    let mut layer: Vec<Vec<Input>> = vec![Vec::new()];
    for _ in 0..=testing.depth {
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
    let mut word = Vec::new();
    for prefix in &access {
        for middle in &middles {
            for suffix in suffixes.iter().chain(std::iter::once(&Vec::new())) {
                word.clear();
                word.extend(prefix.iter().chain(middle).chain(suffix));
                if differs(&word, learner)? {
                    return Ok(Some(word));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::lsharp::tests::Machine;
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
