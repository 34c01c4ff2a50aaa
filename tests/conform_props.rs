//! Property tests of the conformance harness, with scripts drawn the way the fuzzers draw them
//! (random bytes through `arbitrary`): every shipped table conforms to itself, runs are
//! deterministic, and no script, against any stack, panics the harness.

use proptest::prelude::*;
use tcpcheck::adapter::Reference;
use tcpcheck::conform::finding::decode;
use tcpcheck::conform::{Oracle, Script, Stack};
use tcpcheck::model::shipped::Shipped;
use tcpcheck::model::Model;

fn models() -> &'static [(&'static str, Model)] {
    static MODELS: std::sync::OnceLock<Vec<(&'static str, Model)>> = std::sync::OnceLock::new();
    MODELS.get_or_init(|| Shipped::names().map(|n| (n, Shipped::find(n).unwrap().load().unwrap())).collect())
}

fn script() -> impl Strategy<Value = Script> {
    proptest::collection::vec(any::<u8>(), 0..600).prop_map(|bytes| decode(&bytes))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// A stack executing table M, judged by M itself, never draws a verdict: whatever the
    /// oracle reports about another stack comes from the tables' difference, not the harness.
    #[test]
    fn every_table_conforms_to_itself(script in script(), seed in any::<u64>()) {
        for (name, model) in models() {
            let mut stack = Reference::new(model, seed);
            let oracle = Oracle::new(model, stack.params().clone());
            let run = oracle.run(&mut stack, &script, false);
            prop_assert!(run.verdict.is_none(), "{name}: {}\n{script:?}", run.verdict.unwrap());
        }
    }

    /// The same script on the same stack gives the same run, verdict and trace.
    #[test]
    fn runs_are_deterministic(script in script(), pick in 0usize..6) {
        let (_, oracle_model) = &models()[0];
        let (_, stack_model) = &models()[pick % models().len()];
        let mut stack = Reference::new(stack_model, 9);
        let oracle = Oracle::new(oracle_model, stack.params().clone());
        let first = oracle.run(&mut stack, &script, true);
        let second = oracle.run(&mut stack, &script, true);
        prop_assert_eq!(first.verdict, second.verdict);
        prop_assert_eq!(first.trace, second.trace);
    }
}
