//! `tcpcheck learn` end to end: the reference stack learns the table's own machine (the
//! self-test), every mutant's machine differs from it at the rows the mutant changed, the same
//! seed learns the same machine, and the command's outputs (text, JSON, DOT) are usable.

use std::process::{Command, Output};

use tcpcheck::adapter::Reference;
use tcpcheck::conform::Stack;
use tcpcheck::learn::diff::explain;
use tcpcheck::learn::{self, project, Alphabet, Counts, Mealy, Outputs, StackSul, Testing};
use tcpcheck::model::diff::{diff, Change};
use tcpcheck::model::shipped::{Shipped, SHIPPED};
use tcpcheck::model::Model;

#[path = "support/svg.rs"]
mod svg;
use svg::{assert_golden, find, parsed, texts};

const BIN: &str = env!("CARGO_BIN_EXE_tcpcheck");

fn load(name: &str) -> Model {
    Shipped::find(name).unwrap().load().unwrap()
}

/// Learns `stack` (judged by, and numbered through, rfc9293) on `alphabet` as the CLI does by
/// default, with fewer walks; the machine, the counts, the interned outputs and the table's
/// projection.
fn learn_stack(stack: &mut dyn Stack, alphabet: &Alphabet, seed: u64) -> (Mealy, Counts, Outputs, Mealy) {
    let rfc9293 = load("rfc9293");
    let mut outputs = Outputs::default();
    let table = project(&rfc9293, alphabet, &mut outputs, 10_000).unwrap().machine;
    let testing =
        Testing { depth: 0, walks: 100, walk_len: 12, seed, candidates: Vec::new(), reference: Some(table.clone()) };
    let oracle = learn::oracle(&rfc9293, stack.params().clone());
    let mut sul = StackSul::new(&oracle, stack, alphabet, outputs);
    let (machine, counts) = learn::learn(&mut sul, alphabet.len(), &testing, 500);
    (machine.expect("learning finished"), counts, sul.outputs, table)
}

#[test]
fn the_reference_stack_learns_the_tables_own_machine() {
    let alphabet = Alphabet::parse("small").unwrap();
    let model = load("rfc9293");
    let mut stack = Reference::new(&model, 3);
    let (learned, counts, _, table) = learn_stack(&mut stack, &alphabet, 1);
    let differences = learned.differences(&table);
    assert!(differences.is_empty(), "the self-test failed: {differences:?}");
    assert_eq!(learned, table, "both are minimal and canonically numbered");
    assert!(counts.queries > 0 && counts.rounds > 0);
}

#[test]
fn every_mutants_differences_name_its_mutated_rows() {
    // What reaches every mutated row: the passive open, the close into TIME-WAIT, a RST and a
    // FIN there, and time.
    let alphabet = Alphabet::parse("listen,syn,close,fin,rst,msl").unwrap();
    let rfc9293 = load("rfc9293");
    for shipped in SHIPPED.iter().filter(|s| s.path.starts_with("models/mutants/")) {
        let mutant = shipped.load().unwrap();
        let changed: Vec<String> = diff(rfc9293.table(), mutant.table())
            .iter()
            .filter_map(|c| match c {
                // A row the mutant removed or changed, or one it re-cites because rows it adds
                // before it now take some of its cases (rst-closes-time-wait's exact RST).
                Change::Removed(row) | Change::Changed(row, _) | Change::Recited(row, _) => {
                    Some(rfc9293.table().row_location(row))
                }
                Change::Added(_) => None,
            })
            .collect();
        assert!(!changed.is_empty(), "{}: no rows differ from rfc9293", shipped.name);
        let mut stack = Reference::new(&mutant, 3);
        let (learned, _, outputs, table) = learn_stack(&mut stack, &alphabet, 1);
        let differences = learned.differences(&table);
        assert!(!differences.is_empty(), "{}: learned equal to rfc9293", shipped.name);
        let oracle = learn::oracle(&rfc9293, stack.params().clone());
        for found in explain(&oracle, &mut stack, &alphabet, &outputs, &differences, differences.len()) {
            assert!(
                found.rows.iter().any(|r| changed.contains(r)),
                "{}: difference `{}` (table {}, stack {}) fired rows {:?}, none of the mutated {:?}",
                shipped.name,
                found.word.join(" "),
                found.expected,
                found.actual,
                found.rows,
                changed
            );
            assert_ne!(found.expected, found.actual, "{}: the replay shows no difference", shipped.name);
        }
    }
}

#[test]
fn the_same_seed_learns_the_same_machine() {
    let alphabet = Alphabet::parse("listen,syn,ack,close,fin").unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut stack = tcpcheck::adapter::Smoltcp::new(5);
        let (machine, counts, _, _) = learn_stack(&mut stack, &alphabet, 9);
        runs.push((machine, counts));
    }
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn a_stack_that_differs_early_is_learned_the_same_whatever_its_isns() {
    // smoltcp differs from the table within a few letters (it never gives up retransmitting,
    // its listener cannot connect), and each of its connections draws a new ISN from its seed.
    // The peer numbers from smoltcp's own segments after the difference, so the machine is
    // finite and the ISNs, which the seed decides, do not show in it.
    let alphabet = Alphabet::parse("listen,connect,syn,syn-ack,ack,rst,abort,msl").unwrap();
    let machines: Vec<Mealy> = [5, 6]
        .into_iter()
        .map(|seed| learn_stack(&mut tcpcheck::adapter::Smoltcp::new(seed), &alphabet, 1).0)
        .collect();
    assert_eq!(machines[0], machines[1]);
}

#[test]
fn any_number_of_jobs_learns_the_machine_one_stack_teaches() {
    // A mutant with differences, so that hypotheses are refuted and equivalence tests are asked
    // ahead in batches beside their counterexamples; --walks 0 leaves them all to the
    // Wp-method's long runs of tests. The answers are the same, however many stacks give them.
    let learn = |jobs: &str| -> serde_json::Value {
        let out = tcpcheck(&[
            "learn",
            "--model",
            "no-2msl-restart",
            "--alphabet",
            "small",
            "--walks",
            "0",
            "--jobs",
            jobs,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (one, three) = (learn("1"), learn("3"));
    assert_eq!((one["jobs"].as_u64(), three["jobs"].as_u64()), (Some(1), Some(3)));
    for key in ["machine", "states", "queries", "symbols", "cached", "rounds", "differences", "shown"] {
        assert_eq!(one[key], three[key], "{key} differs between --jobs 1 and --jobs 3");
    }
    assert_eq!(one["unused"], 0);
    assert!(one["rounds"].as_u64() > Some(1), "no hypothesis was refuted: {}", one["rounds"]);
}

fn tcpcheck(args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(std::env::temp_dir()).output().expect("run tcpcheck")
}

#[test]
fn the_command_reports_draws_and_exits_by_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let dot = dir.path().join("m.dot");
    let saved = dir.path().join("found");
    let out = tcpcheck(&[
        "learn",
        "--model",
        "two-packet-handshake",
        "--alphabet",
        "listen,syn,ack,rst",
        "--dot",
        dot.to_str().unwrap(),
        "--save",
        saved.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("difference 1: listen syn") && text.contains("models/rfc9293.tcp:"), "{text}");
    let drawn = std::fs::read_to_string(&dot).unwrap();
    assert!(drawn.starts_with("digraph") && drawn.contains("color=red") && drawn.contains("ESTABLISHED"), "{drawn}");
    // A saved difference replays to its verdict.
    let finding = saved.join("learn-1.json");
    let replay = tcpcheck(&["replay", finding.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(1), "{}", String::from_utf8_lossy(&replay.stderr));
    assert!(String::from_utf8_lossy(&replay.stderr).contains("the same verdict as saved"));

    let out = tcpcheck(&["learn", "--alphabet", "listen,syn,ack", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["format"], "tcpcheck-learn/1");
    assert_eq!(json["differences"], 0);
    assert_eq!(json["states"], json["table"]["states"]);

    let bad = tcpcheck(&["learn", "--alphabet", "listen,sin"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown letter `sin`"));

    let bounded = tcpcheck(&["learn", "--model", "two-packet-handshake", "--max-states", "2"]);
    assert_eq!(bounded.status.code(), Some(3), "{}", String::from_utf8_lossy(&bounded.stderr));
}

/// `tcpcheck learn ARGS --show 0 --svg FILE`: the exit code and the picture.
#[track_caller]
fn learned_svg(args: &[&str], code: i32) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("learned.svg");
    let mut all = vec!["learn", "--show", "0", "--svg", path.to_str().unwrap()];
    all.extend(args);
    let out = tcpcheck(&all);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(&path).expect("the SVG was written")
}

const RED: &str = "#c0161b";

#[test]
fn the_learned_machine_is_drawn_on_the_tables_layout() {
    // The reference on rfc9293 learns the table's own machine: each learned state in its
    // table state's box, numbered, with the word that reaches it; nothing red but the key.
    let svg = learned_svg(&["--alphabet", "small"], 0);
    assert_golden("tests/golden/learned-rfc9293-small.svg", &svg);
    let doc = parsed(&svg);
    let boxes = doc.descendants().filter(|n| n.has_tag_name("rect") && n.attribute("rx").is_some()).count();
    // One box per table state but CLOSING: `small`'s FIN acknowledges ours, so a simultaneous
    // close goes to TIME-WAIT.
    assert_eq!(boxes, 10, "one box per table state reached");
    let texts = texts(&doc);
    find(&texts, "syn / SYN|ACK(isn,nxt)", "LISTEN #1 syn / SYN|ACK(isn,nxt) [SYN-RECEIVED] → SYN-RECEIVED #1");
    find(&texts, "listen syn", "SYN-RECEIVED #1: learned state");
    let red = doc.descendants().filter(|n| n.attribute("fill") == Some(RED) || n.attribute("stroke") == Some(RED));
    assert_eq!(red.count(), 2, "the key's line and text only");

    // A mutant without TIME-WAIT: its FIN in FIN-WAIT-1 closes, in red; the table's edges into
    // TIME-WAIT are dashed, drawn by the table alone. README shows it.
    let svg = learned_svg(&["--model", "no-time-wait", "--alphabet", "small"], 1);
    assert_golden("docs/learned-no-time-wait.svg", &svg);
    let doc = parsed(&svg);
    let fin = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("text")
                && n.attribute("fill") == Some(RED)
                && n.children().filter_map(|c| c.text()).any(|t| t.starts_with("fin / ACK(nxt,nxt)"))
        })
        .expect("a red line for FIN in FIN-WAIT-1");
    let tip = fin.children().find(|c| c.has_tag_name("title")).and_then(|t| t.text()).unwrap_or("");
    assert!(tip.contains("FIN-WAIT-1 #1 fin / ACK(nxt,nxt) [CLOSED] → CLOSED") && tip.contains("differs"), "{tip}");
    let dashed = doc.descendants().filter(|n| n.has_tag_name("path") && n.attribute("stroke-dasharray").is_some());
    let tips: Vec<&str> =
        dashed.filter_map(|p| p.parent()?.children().find(|c| c.has_tag_name("title"))?.text()).collect();
    assert!(tips.iter().any(|t| t.starts_with("the table: FIN-WAIT-1") && t.contains("→ TIME-WAIT")), "{tips:#?}");
}
