//! Arbitrary bytes into the table parser and validator. Nothing may panic: not the parser, not
//! the validator, not the diagnostics renderer. Every label of every problem (and of its notes)
//! must lie inside the text it points into, on character boundaries. A table that validates
//! must also survive print → parse unchanged and export to DOT and JSON. A variant's `extends`
//! and `apply` resolve among the shipped models (`Table::parse` reads no files), so the fuzzer
//! reaches the flattening and the blame of problems on the variant's lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpcheck::export::{dot, json};
use tcpcheck::model::{render, Problem, Problems, Source, Table};

/// Checks that a problem's spans, and its notes', lie inside the text each points into.
fn check_spans(problem: &Problem) {
    let text = problem.source().map(|s| &*s.text).expect("every problem points into a file");
    for (span, _) in &problem.labels {
        let ok = span.end() <= text.len() && text.is_char_boundary(span.offset) && text.is_char_boundary(span.end());
        assert!(ok, "bad span {span:?} for {:?}", problem.message);
    }
    problem.notes.iter().for_each(check_spans);
}

/// Checks every span, and renders the first problems (rendering all would only measure miette).
fn check(problems: &Problems) {
    problems.problems.iter().for_each(check_spans);
    for problem in problems.problems.iter().take(3) {
        let _ = render(problem, false);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let table = match Table::parse(Source::new("fuzz.tcp", text.as_ref())) {
        Ok(table) => table,
        Err(problems) => return check(&problems),
    };
    let model = match table.validate() {
        Ok(model) => model,
        Err(problems) => return check(&problems),
    };
    let printed = model.table().to_string();
    let again = Table::parse(Source::new("printed.tcp", printed.as_str())).expect("printed table parses");
    let rules = |t: &Table| t.rows.iter().map(|r| r.rule.clone()).collect::<Vec<_>>();
    assert_eq!(rules(&again), rules(model.table()), "print/parse changed the rules");
    let _ = dot::to_dot(&model, dot::DotOptions::default());
    let _ = json::to_json(&model);
});
