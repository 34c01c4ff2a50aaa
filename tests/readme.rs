//! The README documents the whole table vocabulary: a guard, action, signal or state added in
//! Rust without a mention in the README fails here.

use std::collections::HashSet;

use tcpcheck::model::{Action, Atom, Signal, State};

const README: &str = include_str!("../README.md");

#[test]
fn readme_names_every_guard_action_signal_and_state() {
    // Guards and actions appear in code spans (`ack-ok`, `send FLAGS`); signals and states as words.
    let words: HashSet<&str> = README.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).collect();
    let coded = Atom::names().chain(Action::KEYWORDS).filter(|w| !README.contains(&format!("`{w}")));
    let spoken = Signal::names().chain(State::names()).filter(|w| !words.contains(w));
    let missing: Vec<&str> = coded.chain(spoken).collect();
    assert!(missing.is_empty(), "README.md does not mention: {missing:?}");
}

#[test]
fn readme_opens_with_the_two_commands() {
    let first_block: Vec<&str> = README.split("```").nth(1).unwrap_or("").lines().skip(1).collect();
    assert!(first_block[0].starts_with("cargo run --release -- "), "{first_block:?}");
    assert!(first_block[1].starts_with("cargo test"), "{first_block:?}");
}
