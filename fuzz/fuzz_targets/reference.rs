//! Fuzz bytes as a conformance script, run against the reference stack and judged by the oracle
//! table — the built-in `tcpcheck fuzz` loop's check, under libFuzzer. A verdict panics with its
//! text, so libFuzzer saves the input as an artifact that `tcpcheck replay` reads.
//!
//! The stack's table and the oracle's come from the environment (a shipped name or a path):
//! `TCPCHECK_MODEL` (default rfc9293) and `TCPCHECK_ORACLE` (default rfc9293). With a mutant as
//! the stack, libFuzzer finds its bug:
//!
//!     TCPCHECK_MODEL=no-time-wait cargo fuzz run reference --sanitizer none
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tcpcheck::adapter::Reference;
use tcpcheck::conform::finding::decode;
use tcpcheck::conform::{Oracle, Stack};
use tcpcheck::model::shipped::load_arg;
use tcpcheck::model::Model;

fn load(var: &str) -> Model {
    let arg = std::env::var(var).unwrap_or_else(|_| "rfc9293".into());
    load_arg(&arg).unwrap_or_else(|e| panic!("{var}={arg}: {e}"))
}

fn models() -> &'static (Model, Model) {
    static MODELS: OnceLock<(Model, Model)> = OnceLock::new();
    MODELS.get_or_init(|| (load("TCPCHECK_MODEL"), load("TCPCHECK_ORACLE")))
}

fuzz_target!(|data: &[u8]| {
    let (stack_model, oracle_model) = models();
    let mut stack = Reference::new(stack_model, 7);
    let oracle = Oracle::new(oracle_model, stack.params().clone());
    if let Some(verdict) = oracle.run(&mut stack, &decode(data), false).verdict {
        panic!("{verdict}");
    }
});
