//! What the stack test suites share: one body for "every seed draws its pinned verdict", run
//! against each stack (smoltcp in process, lwIP through the stack protocol).

use tcpcheck::conform::script::SEEDS;
use tcpcheck::conform::{Check, Oracle, Stack};
use tcpcheck::model::shipped::Shipped;

/// Runs every named seed on `stack`, judged by rfc9293, and checks each draws what `expected`
/// pins for it: `None` where the stack conforms, else (check, row).
#[track_caller]
pub fn assert_seeds_pinned(stack: &mut dyn Stack, expected: &[(&str, Option<(Check, &str)>)]) {
    let model = Shipped::find("rfc9293").unwrap().load().unwrap();
    let oracle = Oracle::new(&model, stack.params().clone());
    let name = &stack.params().name.clone();
    assert_eq!(SEEDS.len(), expected.len(), "a seed was added: pin what {name} does with it");
    for seed in SEEDS {
        let (_, want) = expected.iter().find(|(n, _)| *n == seed.name).expect("seed pinned");
        let verdict = oracle.run(stack, &seed.script(), false).verdict;
        let got = verdict.as_ref().map(|v| (v.check, v.row.as_str()));
        let text = verdict.as_ref().map(|v| v.to_string()).unwrap_or_default();
        assert_eq!(got, *want, "{name}, {}: {text}", seed.name);
    }
}
