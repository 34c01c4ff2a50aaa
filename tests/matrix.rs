//! `tcpcheck matrix` end to end, on the stacks that run in process: the committed corpus, one
//! table, JSON that matches it, and the stacks that cannot run reported rather than dropped.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tcpcheck");

fn matrix(args: &[&str]) -> Output {
    Command::new(BIN).arg("matrix").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("run tcpcheck")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = matrix(&[args, &["--json"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("matrix --json is JSON")
}

#[test]
fn the_committed_corpus_on_the_in_process_stacks() {
    let m = json(&["--stacks", "reference,smoltcp,exec:/nonexistent/harness"]);
    let findings = std::fs::read_dir("tests/findings/smoltcp").unwrap().count();
    assert!(m["cases"].as_u64().unwrap() as usize > findings, "seeds and every stack's findings: {m}");
    let stacks = m["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 3);
    // The table's own stack deviates nowhere and still fires most rows.
    assert_eq!(stacks[0]["verdicts"], 0);
    assert!(stacks[0]["rows_fired"].as_u64().unwrap() > 80, "{}", stacks[0]);
    assert!(stacks[0]["time_wait"].as_str().unwrap().starts_with("lasts 240.000s; a FIN restarts it"));
    // smoltcp's committed findings come out triaged, and its 10 s TIME-WAIT shows in the probe.
    assert!(stacks[1]["deviations"]["bug"].as_u64().unwrap() > 10, "{}", stacks[1]);
    assert!(stacks[1]["time_wait"].as_str().unwrap().starts_with("lasts 10.000s"), "{}", stacks[1]);
    // A stack that cannot start is a column that says why.
    assert_eq!(stacks[2]["ran"], false);
    assert!(stacks[2]["about"].as_str().unwrap().contains("/nonexistent/harness"), "{}", stacks[2]);

    let rows = m["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let cells = row["cells"].as_array().unwrap();
        // The same script can take the table's stack elsewhere: it conforms or is not there.
        assert!(["conforms", "not-reached"].contains(&cells[0]["cell"].as_str().unwrap()), "{row}");
        assert_eq!(cells[1]["cell"], "deviates", "only smoltcp deviates, so each row is one of its: {row}");
        assert_eq!(cells[2]["cell"], "not-run");
        assert!(row["row"].as_str().unwrap().starts_with("models/rfc9293.tcp:"));
        assert!(row["cite"].as_str().unwrap().starts_with("RFC "));
    }
    // A finding smoltcp's report triages: RFC 1337's hazard, a bug, at the TIME-WAIT RST row.
    let rst = rows.iter().find(|r| r["cells"][1]["checks"][0]["check"] == "rst-time-wait").expect("rst-time-wait");
    assert_eq!(rst["cells"][1]["checks"][0]["triage"], "bug");
}

#[test]
fn markdown_and_json_are_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let md_path = dir.path().join("m.md");
    let m = json(&["--stacks", "reference,smoltcp", "--markdown", md_path.to_str().unwrap()]);
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.starts_with("# Conformance matrix\n"), "{md}");
    assert!(md.contains("Made by `tcpcheck matrix tests/findings --stacks reference,smoltcp`"), "{md}");
    let rows = md.lines().filter(|l| l.starts_with("| [rfc9293.tcp:")).count();
    assert_eq!(rows, m["rows"].as_array().unwrap().len());
    assert!(md.contains("| row | rule | RFC | reference | smoltcp |"), "{md}");

    // Without --json the same document goes to stdout, and a second run is identical.
    let out = matrix(&["--stacks", "reference,smoltcp"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), md);
    assert_eq!(matrix(&["--stacks", "reference,smoltcp"]).stdout, out.stdout);
}

#[test]
fn bad_corpora_are_bad_input() {
    let missing = matrix(&["/nonexistent/corpus", "--stacks", "reference"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the corpus directory"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), "{\"format\": 1}").unwrap();
    let bad = matrix(&[dir.path().to_str().unwrap(), "--stacks", "reference"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("bad.json:1:"), "{err}");

    // The seeds alone, on the table's own stack: nothing deviates, exit 0.
    let empty = tempfile::tempdir().unwrap();
    let ok = matrix(&[empty.path().to_str().unwrap(), "--stacks", "reference"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
}
