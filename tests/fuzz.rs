//! End-to-end tests of `tcpcheck fuzz` and `tcpcheck replay`: no false positives on the
//! reference stack, every shipped mutant caught from scratch with the rule it breaks, findings
//! that replay to the same verdict and export, and malformed files rejected with a location.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tcpcheck");

fn tcpcheck(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().expect("run tcpcheck")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_reference_stack_draws_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let out = tcpcheck(dir.path(), &["fuzz", "--runs", "20000", "--jobs", "1", "--seed", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("no findings"));
    assert!(dir.path().join("fuzz-out/corpus").read_dir().unwrap().next().is_some(), "corpus not kept");
}

/// Every shipped mutant is caught from an empty corpus, and README's table of the first finding
/// of each (check, rule, after how many runs) is what the run prints.
#[test]
fn every_mutant_is_caught_from_scratch_naming_its_rule() {
    let readme = include_str!("../README.md");
    for model in ["no-time-wait", "no-2msl-restart", "rst-closes-time-wait", "two-packet-handshake", "rfc793"] {
        let dir = tempfile::tempdir().unwrap();
        let args = ["fuzz", "--model", model, "--no-seeds", "--jobs", "1", "--seed", "1", "--runs", "12000", "--json"];
        let out = tcpcheck(dir.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{model}: {}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let first = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .min_by_key(|f| f["at_run"].as_u64())
            .unwrap_or_else(|| panic!("{model}: no finding"));
        let verdict = &first["verdict"];
        assert!(verdict["row"].as_str().unwrap().starts_with("models/rfc9293.tcp:"), "{model}: {verdict}");
        let runs = first["at_run"].as_u64().unwrap();
        let expected = format!(
            "| {model} | `{}` | `{}` | {} run{} |",
            verdict["check"].as_str().unwrap(),
            verdict["rule"].as_str().unwrap().replace('|', "\\|"),
            runs,
            if runs == 1 { "" } else { "s" }
        );
        assert!(readme.lines().any(|l| l == expected), "README's fuzz table should have the line\n{expected}");
    }
}

#[test]
fn a_finding_replays_to_the_same_verdict_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let out = tcpcheck(dir.path(), &["fuzz", "--model", "no-time-wait", "--runs", "50", "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    // One line per finding, naming the file that replays it.
    let listed = text(&out.stdout).lines().filter(|l| l.trim_end().ends_with(".json")).count();
    assert_eq!(listed, dir.path().join("fuzz-out/findings").read_dir().unwrap().count(), "{}", text(&out.stdout));
    let finding = dir.path().join("fuzz-out/findings").read_dir().unwrap().next().unwrap().unwrap().path();
    let finding = finding.to_str().unwrap();
    let out = tcpcheck(dir.path(), &["replay", finding, "--pcap", "run.pcap", "--packetdrill", "run.pkt"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the same verdict as saved"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("VERDICT"), "{}", text(&out.stdout));
    let pcap = std::fs::read(dir.path().join("run.pcap")).unwrap();
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "not a little-endian pcap");
    let script = std::fs::read_to_string(dir.path().join("run.pkt")).unwrap();
    assert!(script.contains("socket(..., SOCK_STREAM, IPPROTO_TCP) = 3"), "{script}");
    let json = tcpcheck(dir.path(), &["replay", finding, "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("replay --json is JSON");
    assert!(value.get("verdict").is_some_and(|v| !v.is_null()), "{value}");
}

#[test]
fn findings_of_every_job_replay_with_that_jobs_seed() {
    // Job k's stack draws its ISNs from seed + k, and a script may name raw numbers: a finding
    // replayed with another job's seed can draw nothing.
    let dir = tempfile::tempdir().unwrap();
    let args = ["fuzz", "--model", "no-time-wait", "--no-seeds", "--jobs", "2", "--seed", "1", "--runs", "400000"];
    let out = tcpcheck(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let mut seeds = std::collections::BTreeSet::new();
    for entry in dir.path().join("fuzz-out/findings").read_dir().unwrap() {
        let path = entry.unwrap().path();
        let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        seeds.insert(file["seed"].as_u64().unwrap());
        let out = tcpcheck(dir.path(), &["replay", path.to_str().unwrap()]);
        assert!(text(&out.stderr).contains("the same verdict as saved"), "{}: {}", path.display(), text(&out.stderr));
    }
    assert!(seeds.iter().all(|s| [1, 2].contains(s)), "{seeds:?}");
}

#[test]
fn a_malformed_finding_is_rejected_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "{\n  \"format\": \"tcpcheck-finding/1\",\n  \"stack\": 42\n}\n";
    std::fs::write(dir.path().join("bad.json"), bad).unwrap();
    let out = tcpcheck(dir.path(), &["replay", "bad.json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.json:3:"), "{stderr}");
    assert!(stderr.contains("help:"), "{stderr}");
}

#[test]
fn libfuzzer_artifacts_replay_without_panics() {
    let dir = tempfile::tempdir().unwrap();
    for (i, seed) in [7u32, 99, 12345].into_iter().enumerate() {
        let bytes: Vec<u8> = (0..300u32).map(|j| (j.wrapping_mul(seed) >> 3) as u8).collect();
        let name = format!("crash-{i}");
        std::fs::write(dir.path().join(&name), bytes).unwrap();
        let out = tcpcheck(dir.path(), &["replay", &name]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{name}: {}", text(&out.stderr));
    }
}

#[test]
fn probe_measures_time_wait_against_2msl() {
    let dir = tempfile::tempdir().unwrap();
    let out = tcpcheck(dir.path(), &["probe", "time-wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("lasts 240.000s after the peer's FIN (2*MSL = 240.000s)"),
        "{}",
        text(&out.stdout)
    );
    let out = tcpcheck(dir.path(), &["probe", "time-wait", "--model", "no-2msl-restart"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("FAIL a FIN half-way is re-ACKed and does NOT restart"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn merge_keeps_what_adds_coverage_and_every_finding_from_many_machines() {
    let dir = tempfile::tempdir().unwrap();
    let coverage = |out: &std::process::Output| -> usize {
        let text = text(&out.stdout);
        let line = text.lines().find(|l| l.starts_with("coverage of")).unwrap_or_else(|| panic!("{text}"));
        line.split(": ").nth(1).unwrap().split('/').next().unwrap().parse().unwrap()
    };
    let mut rows = Vec::new();
    for (machine, seed) in [("a", "1"), ("b", "2")] {
        let args =
            ["fuzz", "--model", "no-time-wait", "--runs", "2000", "--jobs", "1", "--seed", seed, "--corpus", machine];
        let out = tcpcheck(dir.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        rows.push(coverage(&out));
    }
    // A libFuzzer corpus directory of raw inputs merges too.
    std::fs::create_dir(dir.path().join("raw")).unwrap();
    std::fs::write(dir.path().join("raw/input-1"), [3u8, 1, 4, 1, 5, 9, 2, 6]).unwrap();
    let out = tcpcheck(dir.path(), &["fuzz", "--model", "no-time-wait", "--corpus", "c", "--merge", "a", "b", "raw"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(coverage(&out) >= *rows.iter().max().unwrap(), "{rows:?}: {}", text(&out.stdout));
    let count = |d: &str| dir.path().join(d).read_dir().unwrap().count();
    assert!(count("c/corpus") < count("a/corpus") + count("b/corpus"), "a merge keeps only what adds coverage");
    assert!(count("c/findings") >= count("a/findings").max(count("b/findings")));
    let bad = tcpcheck(dir.path(), &["fuzz", "--merge", "nowhere"]);
    assert_eq!(bad.status.code(), Some(2));
}
