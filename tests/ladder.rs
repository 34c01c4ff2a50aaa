//! End-to-end tests of the SVG ladder diagrams (`--svg` on simulate, check, replay and run):
//! every picture parses as XML, and the seed's lost-last-ACK story is pinned by golden files.
//!
//! The golden files are `tests/golden/ladder-*.svg`. After a deliberate change to the picture,
//! regenerate them with `TCPCHECK_BLESS=1 cargo test --test ladder`, look at them, and commit.

use std::path::Path;
use std::process::{Command, Output};

#[path = "support/svg.rs"]
mod svg;
use svg::{assert_golden, find, parsed, texts};

const BIN: &str = env!("CARGO_BIN_EXE_tcpcheck");
const RED: &str = "#c0161b";

fn tcpcheck(args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(std::env::temp_dir()).output().expect("run tcpcheck")
}

/// Runs `args` plus `--svg FILE` and returns the SVG, which must parse as XML with an `svg` root.
#[track_caller]
fn drawn(args: &[&str], code: i32) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ladder.svg");
    let mut all = args.to_vec();
    all.extend(["--svg", path.to_str().unwrap()]);
    let out = tcpcheck(&all);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let svg = std::fs::read_to_string(&path).expect("the SVG was written");
    parsed(&svg);
    svg
}

#[test]
fn lost_last_ack_under_rfc9293_is_the_textbook_ladder() {
    let svg = drawn(&["simulate", "--scenario", "lost-last-ack"], 0);
    assert_golden("tests/golden/ladder-lost-last-ack-rfc9293.svg", &svg);
    let doc = parsed(&svg);
    let texts = texts(&doc);
    // A's last ACK ends in a cross; B's FIN comes again after its RTO; A, in TIME-WAIT,
    // acknowledges it again and restarts 2MSL; B closes on that ACK; 2·MSL later A closes.
    let ack = texts.iter().position(|(t, _)| t == "lost").expect("a lost segment");
    let rto = texts.iter().position(|(t, tip)| t.starts_with("TIMEOUT-RTO") && tip.contains("retransmit")).unwrap();
    let reack = texts
        .iter()
        .position(|(t, tip)| {
            t.starts_with("TIME-WAIT [") && tip.contains("TIME-WAIT on FIN|ACK / send ACK; restart 2MSL")
        })
        .expect("the retransmitted FIN re-acknowledged from TIME-WAIT");
    let closed =
        texts.iter().position(|(t, tip)| t.starts_with("CLOSED") && tip.contains("LAST-ACK=>CLOSED on ACK")).unwrap();
    assert!(ack < rto && rto < reack && reack < closed, "{texts:#?}");
    find(&texts, "TIMEOUT-2MSL \u{2192} CLOSED", "TIME-WAIT=>CLOSED on TIMEOUT-2MSL");
    assert!(texts.iter().any(|(t, _)| t == "240s later"), "the 2·MSL wait is a break: {texts:#?}");
    // The row and RFC section as a tooltip and as a footnote.
    find(&texts, "TIME-WAIT [", "models/rfc9293.tcp:250  RFC 9293 3.10.7.4");
    assert!(texts.iter().any(|(t, _)| t.contains("models/rfc9293.tcp:250  RFC 9293 3.10.7.4  TIME-WAIT on FIN|ACK")));
    assert!(!texts.iter().any(|(t, _)| t.starts_with("RST")), "no RST when TIME-WAIT is kept");
}

#[test]
fn lost_last_ack_without_time_wait_draws_the_rst() {
    let svg = drawn(&["simulate", "--scenario", "lost-last-ack", "--model", "no-time-wait"], 0);
    assert_golden("tests/golden/ladder-lost-last-ack-no-time-wait.svg", &svg);
    let texts = texts(&parsed(&svg));
    find(&texts, "CLOSED [", "CLOSED on FIN|ACK / send RST(seq=SEG.ACK)");
    find(&texts, "RST seq=2", "RST seq=2");
    find(&texts, "CLOSED [", "LAST-ACK=>CLOSED on RST");
    assert!(!texts.iter().any(|(t, _)| t.contains("later") && t.starts_with("240")), "no TIME-WAIT, no 2·MSL wait");
}

#[test]
fn a_counterexample_ladder_names_the_property_and_marks_the_loss() {
    let svg = drawn(&["check", "no-time-wait", "--data", "0"], 1);
    let texts = texts(&parsed(&svg));
    find(&texts, "orderly-close violated (14 steps)", "");
    find(&texts, "lost", "");
    find(&texts, "CLOSED [", "models/mutants/no-time-wait.tcp:21");
}

#[test]
fn a_copy_the_network_made_is_dashed_and_arrives_where_it_does_harm() {
    // The two-packet handshake's stale SYN: a copy of A's first SYN opens B's second connection.
    let args = ["check", "two-packet-handshake", "--workload", "reopen", "--dup", "1", "--loss", "0", "--data", "0"];
    let svg = drawn(&args, 1);
    let doc = parsed(&svg);
    let copy = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("g") && n.children().any(|c| c.has_tag_name("title") && c.text() == Some("copy: SYN seq=0"))
        })
        .expect("an arrow for the copy");
    let line = copy.children().find(|c| c.has_tag_name("line")).unwrap();
    assert_eq!(line.attribute("stroke-dasharray"), Some("6 4"), "the copy is dashed");
    assert!(copy.children().any(|c| c.has_tag_name("polygon")), "the copy arrives: it has a head");
    let texts = texts(&doc);
    find(&texts, "agreement violated", "");
    // Drawn in the order it happened: B listens again, the copy arrives, B is ESTABLISHED.
    let listen = texts.iter().rposition(|(t, _)| t.starts_with("LISTEN [")).unwrap();
    let arrives = texts.iter().position(|(t, _)| t == "copy: SYN seq=0").unwrap();
    let established = texts.iter().rposition(|(t, _)| t.starts_with("ESTABLISHED [")).unwrap();
    assert!(listen < arrives && arrives < established, "B's new LISTEN takes the stale SYN: {texts:#?}");
}

#[test]
fn a_lasso_ladder_marks_where_the_run_repeats() {
    // An ACK war: ESTABLISHED answers every pure ACK with an ACK and refuses to close.
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/ack-war.tcp");
    let args = ["check", model, "--loss", "0", "--data", "0", "--property", "eventually-closed"];
    let texts = texts(&parsed(&drawn(&args, 1)));
    find(&texts, "from here on the run repeats forever", "");
}

#[test]
fn a_replay_ladder_draws_the_verdict_step_in_red() {
    let finding = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/findings/smoltcp/abort-in-last-ack-sends-rst.json");
    let svg = drawn(&["replay", finding.to_str().unwrap()], 1);
    let doc = parsed(&svg);
    let red: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("fill") == Some(RED))
        .filter_map(|n| n.text().map(str::to_string))
        .collect();
    assert!(red.iter().any(|t| t.starts_with("VERDICT at step 5")), "{red:?}");
    assert!(red.iter().any(|t| t.starts_with("RST|ACK")), "the stack's segment at the verdict is red: {red:?}");
    assert!(red.iter().any(|t| t.starts_with("user: ABORT")), "{red:?}");
    assert!(!red.iter().any(|t| t.starts_with("SYN")), "steps before the verdict are not red: {red:?}");
}

#[test]
fn run_draws_one_ladder_per_script() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/packetdrill/fail");
    let out_dir = dir.path().join("ladders");
    let out = tcpcheck(&["run", scripts.to_str().unwrap(), "--svg", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let mut names: Vec<String> =
        std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["late-syn-ack.pkt.svg", "wrong-ack.pkt.svg"]);
    for name in names {
        parsed(&std::fs::read_to_string(out_dir.join(name)).unwrap());
    }
    // One script: PATH is the file.
    let one = scripts.join("wrong-ack.pkt");
    let texts = texts(&parsed(&drawn(&["run", one.to_str().unwrap()], 1)));
    find(&texts, "run ", "");
}

#[test]
fn markup_in_names_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("a&b<c>'\".tcp");
    std::fs::write(&model, include_str!("../models/rfc9293.tcp")).unwrap();
    let svg = drawn(&["simulate", "--scenario", "handshake", "--model", model.to_str().unwrap()], 0);
    let texts = texts(&parsed(&svg));
    find(&texts, "a&b<c>'\".tcp:", "");
}

#[test]
fn an_unwritable_svg_path_is_an_error_naming_it() {
    let out = tcpcheck(&["simulate", "--scenario", "handshake", "--svg", "/nonexistent-dir/a.svg"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed to write /nonexistent-dir/a.svg"), "{err}");
}
