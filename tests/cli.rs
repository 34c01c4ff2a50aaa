//! End-to-end tests of the `tcpcheck` binary: shipped models validate, broken copies fail at
//! the right line with exit code 2, and every output format is usable.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{stderr, stdout, tcpcheck, BIN};

const RFC9293: &str = include_str!("../models/rfc9293.tcp");

/// Writes `text` to a fresh temporary file named `name`.
fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The 1-based line of the first line of RFC9293 that starts with `prefix`.
#[track_caller]
fn line_of(prefix: &str) -> usize {
    RFC9293.lines().position(|l| l.starts_with(prefix)).expect(prefix) + 1
}

/// Validates a broken copy of rfc9293 and returns its stderr, asserting exit code 2 and that
/// the report points at `file:line:`.
#[track_caller]
fn broken(text: &str, line: usize, code: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "broken.tcp", text);
    let out = tcpcheck(&["validate", path.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let location = format!("{}:{line}:", path.display());
    assert!(err.contains(&location), "expected {location} in:\n{err}");
    assert!(err.contains(code), "expected {code} in:\n{err}");
    err
}

#[test]
fn validate_without_arguments_checks_every_shipped_model() {
    let out = tcpcheck(&["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for name in tcpcheck::model::shipped::Shipped::names() {
        assert!(text.contains(&format!("model {name},")), "{name} missing from:\n{text}");
    }
    assert_eq!(text.lines().filter(|l| l.starts_with("ok ")).count(), tcpcheck::model::shipped::SHIPPED.len());
}

/// Pinned sizes: a change to a shipped table must show up here on purpose.
#[test]
fn shipped_models_have_pinned_sizes() {
    let out = tcpcheck(&["validate"]);
    // rfc9293 has 220 rows since TIME-WAIT's `* seq-ahead` row became a pure-ACK row (no answer)
    // and an `ACK|*` row: a segment without the ACK bit is dropped there too (fifth check). The
    // guard valuations covered do not change: the same families are read.
    let expected = [
        "rfc9293 (built in): model rfc9293, 220 rows, 11 states, 41 inputs, 5981 guard valuations covered",
        "rfc793 (built in): model rfc793, 223 rows, 11 states, 41 inputs, 6212 guard valuations covered",
        "no-time-wait (built in): model no-time-wait, 202 rows, 10 states, 40 inputs, 5654 guard valuations covered",
        "two-packet-handshake (built in): model two-packet-handshake, 220 rows, 11 states, 41 inputs, 5981 guard valuations covered",
        "no-2msl-restart (built in): model no-2msl-restart, 220 rows, 11 states, 41 inputs, 5981 guard valuations covered",
        "rst-closes-time-wait (built in): model rst-closes-time-wait, 222 rows, 11 states, 41 inputs, 6301 guard valuations covered",
        "rfc5961-off (built in): model rfc5961-off, 229 rows, 11 states, 41 inputs, 5981 guard valuations covered",
        "rfc1337-off (built in): model rfc1337-off, 222 rows, 11 states, 41 inputs, 6301 guard valuations covered",
        "drop-syn-fin (built in): model drop-syn-fin, 221 rows, 11 states, 41 inputs, 5981 guard valuations covered",
        "time-wait-reuse (built in): model time-wait-reuse, 221 rows, 11 states, 41 inputs, 5985 guard valuations covered",
    ];
    let text = stdout(&out);
    for line in expected {
        assert!(text.contains(line), "expected `{line}` in:\n{text}");
    }
}

#[test]
fn files_in_the_repository_match_the_embedded_models() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(BIN).arg("validate").arg(root.join("models/rfc9293.tcp")).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn garbage_line_is_a_syntax_error() {
    let at = line_of("LISTEN         RECEIVE");
    let text = RFC9293.replacen("LISTEN         RECEIVE", "this is not a row\nLISTEN         RECEIVE", 1);
    broken(&text, at, "tcpcheck::syntax");
}

#[test]
fn misspelt_state_is_named_with_a_suggestion() {
    let at = line_of("LISTEN         SYN|*");
    let text = RFC9293.replacen(
        "-> SYN-RECEIVED  accept-syn; send SYN|ACK; start RTO",
        "-> SYN-RECIEVED  accept-syn; send SYN|ACK; start RTO",
        1,
    );
    let err = broken(&text, at, "tcpcheck::unknown");
    assert!(err.contains("did you mean `SYN-RECEIVED`?"), "{err}");
}

#[test]
fn deleted_row_makes_the_table_non_exhaustive() {
    let deleted = "ESTABLISHED    *                            -> ESTABLISHED                                              @ 3.10.7.4  # ACK bit off\n";
    assert!(RFC9293.contains(deleted));
    let text = RFC9293.replacen(deleted, "", 1);
    // Reported at the last remaining ESTABLISHED segment row, naming a missing case.
    let at = line_of("ESTABLISHED    FIN|ACK|DATA");
    let err = broken(&text, at, "tcpcheck::non-exhaustive");
    assert!(err.contains("rows for ESTABLISHED are not exhaustive"), "{err}");
    assert!(err.contains("`NONE`"), "{err}");
}

#[test]
fn shadowed_row_is_unreachable() {
    let row = "TIME-WAIT      TIMEOUT-2MSL                 -> CLOSED        delete                                     @ 3.10.8, 3.6.1\n";
    let text = RFC9293.replacen(row, &format!("{row}{row}"), 1);
    let at = line_of("TIME-WAIT      TIMEOUT-2MSL") + 1;
    broken(&text, at, "tcpcheck::unreachable-row");
}

#[test]
fn uncited_row_is_rejected() {
    let at = line_of("CLOSED         SEND");
    let text = RFC9293.replacen("signal NO-CONNECTION                       @ 3.10.2", "signal NO-CONNECTION", 1);
    broken(&text, at, "tcpcheck::uncited");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = RFC9293.replacen("CLOSED         SEND", "CLOSED         SNED", 1).replacen(
        "LISTEN         ABORT",
        "LISTEN         ABORT ack-okk",
        1,
    );
    let err = broken(&text, line_of("CLOSED         SEND"), "tcpcheck::unknown");
    assert!(err.contains("2 problems"), "{err}");
}

#[test]
fn unknown_model_name_lists_the_shipped_ones() {
    let out = tcpcheck(&["show", "rfc9999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rfc9293, rfc793, no-time-wait"), "{}", stderr(&out));
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(tcpcheck(&["show", "--format", "xml"]).status.code(), Some(2));
    assert_eq!(tcpcheck(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn binary_garbage_is_bad_input_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bin.tcp");
    std::fs::write(&path, [0xff, 0xfe, 0x00, b'\n', 0x80]).unwrap();
    let out = tcpcheck(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not UTF-8"), "{}", stderr(&out));
}

#[test]
fn show_table_is_a_formatter_whose_output_validates() {
    let out = tcpcheck(&["show"]);
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "formatted.tcp", &stdout(&out));
    let again = tcpcheck(&["validate", path.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let diff = tcpcheck(&["diff", "rfc9293", path.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(0), "{}", stdout(&diff));
}

#[test]
fn show_json_lists_every_row() {
    let out = tcpcheck(&["show", "rfc793", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["model"], "rfc793");
    // rfc793 is a variant of rfc9293: the rows it leaves alone cite RFC 9293 from its file.
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 223);
    assert_eq!(
        (rows[0]["cite"].as_str(), rows[0]["file"].as_str()),
        (Some("RFC 9293 3.10.1"), Some("models/rfc9293.tcp"))
    );
    assert!(rows.iter().any(|r| r["cite"] == "RFC 793 3.9 p.70" && r["file"] == "models/rfc793.tcp"), "{json}");
}

#[test]
fn show_dot_is_the_machine_on_one_page() {
    let out = tcpcheck(&["show", "no-time-wait", "--format", "dot"]);
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph \"no-time-wait\" {"));
    // A box per state the table names, pinned where RFC 9293's figure has it; no TIME-WAIT.
    assert_eq!(dot.matches("!\", label=<").count(), 10);
    assert!(!dot.contains(">TIME-WAIT<"));
    // One edge per pair of states a row goes between, other than to CLOSED.
    assert_eq!(dot.lines().filter(|l| l.trim_start().starts_with('n') && l.contains(" -> n")).count(), 16);
}

#[test]
fn diff_names_both_sides_and_exits_1() {
    let out = tcpcheck(&["diff", "rfc9293", "no-2msl-restart"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("~ models/rfc9293.tcp:"), "{text}");
    assert!(text.contains("  models/mutants/no-2msl-restart.tcp:"), "{text}");
    assert!(text.contains("differ: 0 removed, 0 added, 2 changed, 0 cited differently"), "{text}");
}

/// A row that does the same for another reason is listed apart from the rows that behave
/// differently, in text and JSON; a bare section is compared as its table's RFC means it.
#[test]
fn diff_lists_citation_only_changes_apart() {
    let out = tcpcheck(&["diff", "rfc1337-off"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let (behaviour, citations) = text.split_once("cited differently, doing the same (1 row):\n").expect(&text);
    assert_eq!(behaviour.lines().filter(|l| l.starts_with("+ ")).count(), 2, "{text}");
    assert!(citations.starts_with("@ models/rfc9293.tcp:249  TIME-WAIT RST|* -> TIME-WAIT @ RFC 1337 3"), "{text}");
    // rfc793's inherited rows cite `RFC9293 3.10.1` under `rfc 793`: the same citation as
    // rfc9293's bare `3.10.1`, so not a change.
    let rfc793 = stdout(&tcpcheck(&["diff", "rfc9293", "rfc793"]));
    assert!(rfc793.contains("differ: 10 removed, 13 added, 22 changed, 1 cited differently"), "{rfc793}");

    let out = tcpcheck(&["diff", "rfc1337-off", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["same"].as_bool(), json["behaves_alike"].as_bool()), (Some(false), Some(false)), "{json}");
    let changes = json["row_changes"].as_array().unwrap();
    assert!(changes.iter().all(|c| c["change"] == "added" && c["a"].is_null()), "{json}");
    let recited = json["citation_changes"].as_array().unwrap();
    assert_eq!(recited.len(), 1, "{json}");
    assert_eq!(
        (recited[0]["a"]["line"].as_u64(), recited[0]["b"]["cite"].as_str()),
        (Some(249), Some("RFC 9293 3.10.7.4, RFC 5961 3.2"))
    );
    assert_eq!(json["first_disagreement"]["b"], "models/options/rfc1337-off.tcp:16", "{json}");
    let same = tcpcheck(&["diff", "rfc9293", "rfc9293", "--json"]);
    assert_eq!(same.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!((json["same"].as_bool(), json["first_disagreement"].is_null()), (Some(true), true), "{json}");
}

/// A diagnostic far down a long file names its full line number, in the location and the
/// snippet's gutter alike.
#[test]
fn diagnostics_never_truncate_row_numbers() {
    let padding = "#\n".repeat(123_456);
    let text = RFC9293.replacen("CLOSED         SEND", &format!("{padding}CLOSED         SNED"), 1);
    let line = line_of("CLOSED         SEND") + 123_456;
    let err = broken(&text, line, "tcpcheck::unknown");
    assert!(err.contains(&format!(":{line}:16]")), "{err}");
    assert!(err.contains(&format!(" {line} | CLOSED         SNED")), "{err}");
    assert!(err.contains(&format!(" {} | CLOSED         RECEIVE", line + 1)), "{err}");
}

#[test]
fn simulate_lost_last_ack_shows_the_seeds_point() {
    let kept = tcpcheck(&["simulate", "--scenario", "lost-last-ack"]);
    assert_eq!(kept.status.code(), Some(0), "{}", stderr(&kept));
    let text = stdout(&kept);
    assert!(text.contains("TIME-WAIT on FIN|ACK / send ACK; restart"), "{text}");
    assert!(text.contains("ACK seq=2 ack=2 --X lost"), "{text}");
    assert!(!text.contains("RST seq"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 120), "the default fits 120 columns:\n{text}");
    // --wide: one line per event, segments in full.
    let mutant = tcpcheck(&["simulate", "-s", "lost-last-ack", "--model", "no-time-wait", "--wide"]);
    let text = stdout(&mutant);
    assert!(text.contains("CLOSED on FIN|ACK / send RST(seq=SEG.ACK)"), "{text}");
    assert!(text.contains("LAST-ACK=>CLOSED on RST"), "{text}");
    assert!(text.contains("RST seq=2 win=4096 len=0 -->"), "{text}");
}

#[test]
fn simulate_lists_scenarios_and_rejects_unknown_ones() {
    let list = stdout(&tcpcheck(&["simulate", "--list"]));
    assert_eq!(list.lines().count(), 8, "{list}");
    let out = tcpcheck(&["simulate", "--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rst-in-window"), "{}", stderr(&out));
}

#[test]
fn simulate_json_has_rows_and_cites() {
    let out = tcpcheck(&["simulate", "-s", "rst-in-window", "--model", "rfc793", "--json", "--msl", "1s"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["final"]["A"], "CLOSED");
    let trace = json["trace"].as_array().unwrap();
    assert!(trace.iter().any(|e| e["forged"] == true));
    assert!(trace.iter().any(|e| e["cite"].as_str().is_some_and(|c| c.contains("RFC 793 3.9 p.70"))));
}

#[test]
fn bench_endpoint_runs_and_reports_ratios() {
    let out = tcpcheck(&["bench", "endpoint", "--segments", "2000", "--rounds", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("ESTABLISHED data") && text.contains("vs baseline"), "{text}");
    // The same figures as JSON: one entry per line of the table, the baseline's ratio 1.
    let out = tcpcheck(&["bench", "endpoint", "--segments", "2000", "--rounds", "1", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["bench"].as_str(), json["about"]["segments"].as_u64()), (Some("endpoint"), Some(2000)), "{json}");
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{json}");
    assert_eq!(results[0]["vs_baseline"].as_f64(), Some(1.0), "{json}");
    assert!(results.iter().all(|r| r["segments_per_s"].as_f64().is_some_and(|x| x > 0.0)), "{json}");
}

#[test]
fn check_finds_the_lost_last_ack_rst_in_no_time_wait() {
    let out = tcpcheck(&["check", "no-time-wait", "--data", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Property orderly-close is violated"), "{text}");
    assert!(text.contains("A shortest counterexample (14 steps)"), "{text}");
    assert!(text.contains("lost: ACK"), "{text}");
    assert!(text.contains("LAST-ACK=>CLOSED on RST"), "{text}");
    assert!(stderr(&out).contains("distinct"), "{}", stderr(&out));
}

#[test]
fn check_holds_on_rfc9293_and_rejects_unknown_properties() {
    let out = tcpcheck(&["check", "--loss", "0", "--data", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("All properties hold"));
    assert!(stderr(&out).contains("3204 states generated, 1466 distinct"), "{}", stderr(&out));
    let bad = tcpcheck(&["check", "--property", "liveness-please"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("time-wait-2msl, no-stale-delivery"), "{}", stderr(&bad));
}

#[test]
fn check_writes_graph_and_trace_dot() {
    let dir = tempfile::tempdir().unwrap();
    let (graph, trace) = (dir.path().join("g.dot"), dir.path().join("t.dot"));
    let out = tcpcheck(&[
        "check",
        "no-2msl-restart",
        "--data",
        "0",
        "--graph-dot",
        graph.to_str().unwrap(),
        "--trace-dot",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let graph = std::fs::read_to_string(graph).unwrap();
    assert!(graph.starts_with("digraph \"no-2msl-restart\""), "{graph}");
    assert!(graph.contains("A: TIME-WAIT\\nB: CLOSED") && graph.contains("color=red"), "{graph}");
    let trace = std::fs::read_to_string(trace).unwrap();
    assert_eq!(trace.matches(" -> ").count(), 17, "{trace}");
    assert!(trace.contains("tick to"), "{trace}");
}

#[test]
fn check_stops_cleanly_at_max_states_and_says_nothing_is_verified() {
    let out = tcpcheck(&["check", "--max-states", "1000"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).contains("NOT verified"), "{}", stdout(&out));
    assert!(stderr(&out).contains("left on queue"), "{}", stderr(&out));
}

/// `--mem-cap` holds the whole process, allocator included, within 10 % of the cap: the search
/// stops before the bytes it counts, plus what the kernel says is resident besides, pass it.
#[test]
fn check_stops_at_the_memory_cap_with_the_process_within_it() {
    let cap: u64 = 40 << 20;
    let out = tcpcheck(&["check", "--dup", "1", "--mem-cap", "40M", "--threads", "2", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["stopped"], "memory cap reached", "{json}");
    let stats = &json["stats"];
    let held = stats["peak_bytes"].as_u64().unwrap();
    assert!(held < cap, "{stats}");
    if let Some(rss) = stats["rss_peak_bytes"].as_u64() {
        assert!(rss <= cap + cap / 10, "peak resident {rss} over the cap {cap}: {stats}");
        // It used the room it had, and did not stop at the first level.
        assert!(rss >= cap / 2 && stats["distinct"].as_u64().unwrap() > 50_000, "{stats}");
    }
}

#[test]
fn check_stops_cleanly_on_ctrl_c() {
    let child = Command::new(BIN)
        .args(["check", "--workload", "reopen", "--dup", "1", "--data", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).contains("interrupted"), "{}", stdout(&out));
    assert!(stderr(&out).contains("distinct"), "{}", stderr(&out));
}

#[test]
fn check_json_names_the_violation_and_the_rows() {
    let out = tcpcheck(&[
        "check",
        "two-packet-handshake",
        "--workload",
        "reopen",
        "--dup",
        "1",
        "--loss",
        "0",
        "--data",
        "0",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["violation"]["property"], "agreement");
    assert_eq!(json["violation"]["steps"], 14);
    let trace = json["trace"].as_array().unwrap();
    assert!(trace.iter().any(|e| e["network"] == "duplicated"), "{json}");
    assert!(trace
        .iter()
        .any(|e| e["row"].as_str().is_some_and(|r| r.starts_with("models/mutants/two-packet-handshake.tcp:"))));
}

#[test]
fn check_graph_full_writes_every_state_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let graph = dir.path().join("full.dot");
    let out =
        tcpcheck(&["check", "--loss", "0", "--data", "0", "--graph-dot", graph.to_str().unwrap(), "--graph-full"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dot = std::fs::read_to_string(graph).unwrap();
    // One node per distinct state, one edge per generated step (pinned in `check_holds_on_rfc9293…`).
    assert_eq!(dot.matches("shape=box").count(), 1466);
    assert_eq!(dot.matches(" -> ").count(), 3204);
    assert_eq!(tcpcheck(&["check", "--graph-full"]).status.code(), Some(2));
}

/// `tcpcheck validate | head -1`: the reader goes after one line, and tcpcheck ends quietly by
/// SIGPIPE, as `cat` does, rather than panicking (exit 101) in `println!`.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    for args in [&["validate"][..], &["show", "--format", "dot"]] {
        let mut child = Command::new(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // The reader is dropped here, after one line, as `head -1` exits.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success() || out.status.signal() == Some(13), "{args:?}: {:?}", out.status);
    }
    // Commands that talk to stacks in child processes keep SIGPIPE ignored (a dead child is an
    // error they report), so their own stdout's reader going away is handled apart: quietly.
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().to_str().unwrap();
    for args in [&["probe", "time-wait", "--stack", "smoltcp"][..], &["fuzz", "--runs", "100", "--corpus", corpus]] {
        let mut child = Command::new(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
    }
}

/// The documented exit codes (0 fine, 1 violation or difference, 2 bad input or usage, 3
/// stopped early without a finding), for inputs that once broke them.
#[test]
fn exit_codes_keep_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| write_temp(&dir, name, text).display().to_string();
    let (empty, null, list, script) = (
        file("empty", ""),
        file("null.json", "null"),
        file("list.json", "[]"),
        file("s.json", "[{\"user\": \"listen\"}]"),
    );
    let broken = file("broken.tcp", &RFC9293.replacen("CLOSED         SEND", "CLOSED         SNED", 1));
    let not_a_variant = file("plain.tcp", RFC9293);
    let bad_pkt = file("bad.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 frobnicate\n");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = root.join("tests/findings/smoltcp/syn-ack-text-dropped.json").display().to_string();
    let matrix_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&found, matrix_dir.path().join("f.json")).unwrap();
    let matrix_dir = matrix_dir.path().to_str().unwrap();
    let missing = dir.path().join("missing").display().to_string();
    let corpus = dir.path().join("fuzz").display().to_string();
    let cases: &[(&[&str], i32)] = &[
        (&["validate"], 0),
        (&["validate", &broken], 2),
        (&["validate", &missing], 2),
        (&["show", "rfc793", "--format", "dot"], 0),
        (&["show", &missing], 2),
        (&["show", "--format", "xml"], 2),
        (&["diff", "rfc9293", "rfc9293"], 0),
        (&["diff", "rfc9293", "no-2msl-restart"], 1),
        (&["diff", "rfc1337-off", "--json"], 1),
        (&["diff", &not_a_variant], 2),
        (&["diff", "rfc9293", &broken], 2),
        (&["simulate", "--scenario", "lost-last-ack"], 0),
        (&["simulate", "--scenario", "nope"], 2),
        (&["fuzz", "--runs", "50", "--corpus", &corpus], 0),
        (&["report", &corpus], 0),
        (&["report", &missing], 2),
        (&["report", &empty], 2),
        (&["fuzz", "--stack", "nope", "--runs", "1"], 2),
        (&["fuzz", "--stack", "exec:", "--runs", "1"], 2),
        (&["replay", &found], 1),
        (&["replay", &missing], 2),
        (&["run", &script], 0),
        (&["run", &found, "--stack", "smoltcp"], 1),
        (&["run", &bad_pkt], 2),
        (&["run", &missing], 2),
        (&["run", &script, "--stack", "smoltcp", "--model", "rfc793"], 2),
        (&["matrix", matrix_dir, "--stacks", "reference"], 0),
        (&["matrix", matrix_dir, "--stacks", "smoltcp"], 1),
        (&["matrix", &missing], 2),
        (&["probe", "bogus"], 2),
        (&["bench", "endpoint", "--segments", "1000", "--rounds", "1"], 0),
        (&["bench", "nope"], 2),
        (&["bench", "endpoint", "--model", &broken], 2),
        (&["stack-server", "--fail", "nope"], 2),
        (&["stack-server", "tcp"], 2),
        (&["check", "--max-states", "10"], 3),
        (&["check", "no-time-wait"], 1),
        (&["check", "--delay", "0"], 2),
        (&["check", "--incarnations", "0"], 2),
        (&["check", "--threads", "0"], 2),
        (&["fuzz", "--jobs", "100000", "--runs", "1"], 2),
        (&["fuzz", "--jobs", "0", "--runs", "1"], 2),
        (&["fuzz", "--stack", "smoltcp", "--model", "rfc793", "--runs", "1"], 2),
        (&["probe", "time-wait", "--stack", "smoltcp", "--model", "rfc793"], 2),
        (&["probe", "time-wait", "--limit", "100s"], 3),
        (&["probe", "time-wait", "--resolution", "0s"], 0),
        (&["probe", "time-wait", "--stack", "smoltcp"], 1),
        (&["replay", &empty], 2),
        (&["replay", &null], 2),
        (&["replay", &list], 2),
        (&["replay", &script], 2),
    ];
    for (args, code) in cases {
        let out = tcpcheck(args);
        assert_eq!(out.status.code(), Some(*code), "tcpcheck {}: {}", args.join(" "), stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "tcpcheck {}: {}", args.join(" "), stderr(&out));
    }
    // The stack server reads its requests on stdin: none is a clean end, garbage bad input.
    #[cfg(unix)]
    for (input, code) in [(&b""[..], 0), (b"garbage\n", 2)] {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = Command::new(BIN)
            .arg("stack-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "stack-server on {input:?}: {}", stderr(&out));
    }
}

/// Starts `tcpcheck ARGS`, sends SIGINT as Ctrl-C does `after` a while, and waits for it.
#[cfg(unix)]
fn interrupted(args: &[&str], after: std::time::Duration) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    child.wait_with_output().expect("wait")
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_fuzz_with_its_stats_and_corpus_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["fuzz", "--time", "60s", "--corpus", dir.path().to_str().unwrap()];
    let out = interrupted(&args, std::time::Duration::from_secs(2));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).contains(" runs/s"), "the stats: {}", stdout(&out));
    assert!(stderr(&out).contains("interrupted: the corpus and findings so far are saved"), "{}", stderr(&out));
    assert!(std::fs::read_dir(dir.path().join("corpus")).unwrap().count() > 0, "the corpus is kept");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_check_mid_level_and_says_nothing_is_verified() {
    let out = interrupted(&["check", "--dup", "1"], std::time::Duration::from_secs(2));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).contains("stopped early (interrupted)"), "{}", stdout(&out));
    assert!(stdout(&out).contains("NOT verified"), "{}", stdout(&out));
}

#[test]
fn built_in_models_are_named_as_built_in_and_a_directory_is_not_a_missing_file() {
    let out = tcpcheck(&["validate"]);
    assert!(stdout(&out).starts_with("ok    rfc9293 (built in): model rfc9293"), "{}", stdout(&out));
    let dir = tempfile::tempdir().unwrap();
    let edited = write_temp(&dir, "rfc9293.tcp", RFC9293);
    let out = tcpcheck(&["validate", "rfc9293", edited.to_str().unwrap()]);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert!(lines[0].starts_with("ok    rfc9293 (built in)"), "{lines:?}");
    assert!(lines[1].starts_with(&format!("ok    {}:", edited.display())), "{lines:?}");
    let out = tcpcheck(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is a directory, not a table file"), "{}", stderr(&out));
}

#[test]
fn a_corpus_file_that_is_not_utf8_is_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("corpus")).unwrap();
    std::fs::write(dir.path().join("corpus/bad.json"), [0xff, 0xfe, 0x00]).unwrap();
    let out = tcpcheck(&["fuzz", "--runs", "100", "--corpus", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.json: not UTF-8 text, so not a script: skipped"), "{}", stderr(&out));
}

/// docs/json.md: every `--json` prints one object tagged with its format.
#[test]
fn every_json_output_is_one_tagged_object() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("fuzz");
    let corpus = corpus.to_str().unwrap();
    let finding = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/findings/smoltcp/syn-ack-text-dropped.json");
    let cases: &[(&[&str], &str)] = &[
        (&["validate", "--json"], "tcpcheck-validate/1"),
        (&["check", "--json"], "tcpcheck-check/1"),
        (&["check", "no-time-wait", "--json"], "tcpcheck-check/1"),
        (&["simulate", "--scenario", "lost-last-ack", "--json"], "tcpcheck-simulate/1"),
        (&["fuzz", "--runs", "200", "--corpus", corpus, "--json"], "tcpcheck-fuzz/1"),
        (&["replay", finding.to_str().unwrap(), "--json"], "tcpcheck-replay/1"),
        (&["probe", "time-wait", "--json"], "tcpcheck-probe/1"),
        (&["diff", "rfc9293", "rfc793", "--json"], "tcpcheck-diff/1"),
        (&["run", finding.to_str().unwrap(), "--stack", "smoltcp", "--json"], "tcpcheck-run/1"),
        (&["bench", "endpoint", "--segments", "1000", "--rounds", "1", "--json"], "tcpcheck-bench/1"),
        (&["bench", "fuzz", "--runs", "100", "--rounds", "1", "--json"], "tcpcheck-bench/1"),
    ];
    for (args, format) in cases {
        let out = tcpcheck(args);
        assert!(out.status.code().is_some_and(|c| c <= 1), "tcpcheck {}: {}", args.join(" "), stderr(&out));
        let value: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("tcpcheck {}: not JSON: {e}\n{}", args.join(" "), stdout(&out)));
        assert_eq!(value["format"], *format, "tcpcheck {}", args.join(" "));
    }
}

/// `--bitstate` says what it traded: the bits, their fill, the states it may have missed, and
/// that liveness is not checked; asked to check liveness, it refuses with a hint.
#[test]
fn check_bitstate_reports_what_it_traded() {
    let out = tcpcheck(&["check", "--bitstate", "64K", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bits = &json["bitstate"];
    assert_eq!((bits["bits"].as_u64(), bits["hashes"].as_u64()), (Some(1 << 19), Some(3)), "{json}");
    assert!(bits["expected_missed_states"].as_f64().unwrap() > 1.0, "{json}");
    assert_eq!(bits["not_checked"][0], "eventually-closed", "{json}");
    assert!(!json["properties"].as_array().unwrap().iter().any(|p| p == "eventually-closed"), "{json}");
    assert!(stderr(&out).contains("eventually-closed not checked"), "{}", stderr(&out));
    let out = tcpcheck(&["check", "--bitstate", "64K"]);
    assert!(stdout(&out).contains("states visited") && stdout(&out).contains("may have missed"), "{}", stdout(&out));
    let out = tcpcheck(&["check", "--bitstate", "1M", "--property", "eventually-closed"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("help: check it without --bitstate"), "{}", stderr(&out));
}

/// `--frontier-dir` keeps the frontier in files there (unlinked at once: nothing is left), says
/// how much it held, and finds what the search in memory finds.
#[test]
fn check_frontier_dir_keeps_the_frontier_on_disk_and_finds_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let out = tcpcheck(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let on_disk = json(&["check", "--frontier-dir", dir.path().to_str().unwrap(), "--json"]);
    let in_memory = json(&["check", "--json"]);
    assert_eq!(on_disk["stats"]["distinct"], in_memory["stats"]["distinct"]);
    assert!(on_disk["stats"]["frontier_disk_peak_bytes"].as_u64().unwrap() > 1 << 20, "{on_disk}");
    assert_eq!(in_memory["stats"]["frontier_disk_peak_bytes"], 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let out = tcpcheck(&["check", "--frontier-dir", "/nonexistent/frontier"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("help: give --frontier-dir a directory"), "{}", stderr(&out));
}
