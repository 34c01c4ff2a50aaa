//! The README documents the whole table vocabulary (a guard, action, signal or state added in
//! Rust without a mention in the README fails here), and its figures are what the commands print.

#[allow(dead_code)] // The stack suites' helpers; this file uses `child_harness`.
mod common;

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

/// README's examples are what the commands print: every ```text block that starts with
/// `$ tcpcheck ARGS` is run and its lines must appear in the output, in order and contiguous
/// between `...` lines (so a block may show an excerpt). Measured figures — wall clock
/// (`0.61s`, `344802 states/s`) and memory (`45 bytes/state`, which depends on the thread count
/// and the allocator) — are masked on both sides; everything else — states, depths, rows, runs
/// with a fixed seed — must match.
#[test]
fn readme_examples_are_what_the_commands_print() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for block in README.split("```text\n").skip(1) {
        let block = block.split("```").next().unwrap_or("");
        let Some(command) = block.lines().next().and_then(|l| l.strip_prefix("$ tcpcheck ")) else { continue };
        // A fresh directory for what a command writes (fuzz-out/), with the repository's models.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root.join("models"), dir.path().join("models")).unwrap();
        // And the scripts `tcpcheck run` examples read.
        std::fs::create_dir(dir.path().join("tests")).unwrap();
        std::os::unix::fs::symlink(root.join("tests/packetdrill"), dir.path().join("tests/packetdrill")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpcheck"))
            .args(command.split_whitespace())
            .current_dir(dir.path())
            .output()
            .unwrap();
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let printed: Vec<String> = printed.lines().map(masked).collect();
        let mut from = 0;
        for part in block.lines().skip(1).collect::<Vec<_>>().split(|l| *l == "...") {
            let part: Vec<String> = part.iter().map(|l| masked(l)).collect();
            if part.is_empty() {
                continue;
            }
            let at =
                (from..=printed.len().saturating_sub(part.len())).find(|&i| printed[i..i + part.len()] == part[..]);
            let at = at.unwrap_or_else(|| {
                panic!(
                    "README: `$ tcpcheck {command}` no longer prints:\n{}\n\nit prints:\n{}",
                    part.join("\n"),
                    printed.join("\n")
                )
            });
            from = at + part.len();
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} examples found");
}

/// README's table of refuted models: each `tcpcheck check ...` row's command finds the property
/// the row names, with a shortest counterexample of the length it names.
#[test]
fn readme_refutations_are_what_check_finds() {
    let table = README.split_once("Every mutant is refuted").map_or("", |(_, rest)| rest);
    let rows: Vec<(Vec<&str>, &str, u64)> = table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let command = cells.first()?.strip_prefix("| `tcpcheck ")?.strip_suffix('`')?;
            let (property, rest) = cells.get(1)?.strip_prefix('`')?.split_once("` in ")?;
            let steps = rest.split_once(" steps")?.0.parse().ok()?;
            Some((command.split_whitespace().collect(), property, steps))
        })
        .collect();
    assert!(
        rows.len() >= 7,
        "README's table of refutations not found, or a row not as `CMD` | `PROPERTY` in N steps: ..."
    );
    // All at once: each is a search of its own, and together they keep the cores busy.
    let children: Vec<_> = rows
        .iter()
        .map(|(args, _, _)| {
            std::process::Command::new(env!("CARGO_BIN_EXE_tcpcheck"))
                .args(args)
                .arg("--json")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for ((args, property, steps), child) in rows.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "tcpcheck {}", args.join(" "));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = (json["violation"]["property"].as_str(), json["violation"]["steps"].as_u64());
        assert_eq!(found, (Some(*property), Some(*steps)), "README: `tcpcheck {}`", args.join(" "));
    }
}

/// README's coverage figures: every "`tcpcheck fuzz ARGS` fires N of the table's M rows" is run
/// with `--json` and must fire N of M rows. One job and a run count make a run on a virtual-time
/// stack the same on every machine. A stack in a child process that is not built here (lwIP,
/// gVisor: `scripts/setup` builds them) is skipped, and says so.
#[test]
fn readme_coverage_figures_are_what_fuzz_fires() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = README.split_whitespace().collect::<Vec<_>>().join(" ");
    let claims: Vec<(&str, u64, u64)> = text
        .split("`tcpcheck fuzz ")
        .skip(1)
        .filter_map(|rest| {
            let (args, rest) = rest.split_once('`')?;
            let (fired, rest) = rest.strip_prefix(" fires ")?.split_once(" of the table's ")?;
            let rows = rest.split_once(" rows")?.0;
            Some((args, fired.parse().ok()?, rows.parse().ok()?))
        })
        .collect();
    assert!(
        claims.len() >= 4,
        "README's coverage figures not found as \"`tcpcheck fuzz ARGS` fires N of the table's M rows\": {claims:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root.join("models"), dir.path().join("models")).unwrap();
    // All at once: lwIP and gVisor spend most of a run in their own process.
    let children: Vec<_> = claims
        .iter()
        .enumerate()
        .filter(|(_, (args, _, _))| {
            let args: Vec<&str> = args.split_whitespace().collect();
            assert!(
                args.contains(&"--runs") && args.contains(&"--jobs"),
                "README: `tcpcheck fuzz {}` is not a fixed run count on one job",
                args.join(" ")
            );
            let stack = args.iter().position(|a| *a == "--stack").and_then(|i| args.get(i + 1));
            match stack {
                Some(&name) if name == "lwip" || name == "gvisor" => common::child_harness(name).is_some(),
                _ => true,
            }
        })
        .map(|(i, (args, _, _))| {
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_tcpcheck"))
                .args(["fuzz", "--json", "--corpus", &format!("out{i}")])
                .args(args.split_whitespace())
                .current_dir(dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (args, claims[i].1, claims[i].2, child)
        })
        .collect();
    for (args, fired, rows, child) in children {
        let out = child.wait_with_output().unwrap();
        // 0: nothing found, 1: findings; either way the coverage is reported.
        assert!(matches!(out.status.code(), Some(0 | 1)), "tcpcheck fuzz {args}: {:?}", out.status);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = (json["rows_fired"].as_u64(), json["rows"].as_u64());
        assert_eq!(
            found,
            (Some(fired), Some(rows)),
            "README: `tcpcheck fuzz {args}` fires {fired} of the table's {rows} rows"
        );
    }
}

/// A line with its measured figures replaced: a number of seconds ending a clause (`0.61s,`),
/// a rate (`344802 states/s`) and a memory figure (`45 bytes/state`).
fn masked(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let number = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit() || c == '.');
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let bare = w.trim_end_matches([',', ';', ':']);
            let rate = words.get(i + 1).is_some_and(|n| n.trim_end_matches([',', ';']).ends_with("/s"))
                || words.get(i + 1).is_some_and(|n| n.starts_with("bytes/"));
            // Seconds of wall clock end a clause (`0.61s,`, `in 1.0s:`); virtual times in a
            // diagram (`1.040s`) do not, and stay compared.
            let seconds = bare.len() < w.len() && bare.ends_with('s') && number(&bare[..bare.len() - 1]);
            if seconds || (number(bare) && rate) {
                format!("#{}", &w[bare.len()..])
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
