//! What the stack test suites share, run against each stack (smoltcp in process, lwIP through
//! the stack protocol): "every seed draws its pinned verdict" and a short fuzz run from the
//! command line.

use std::path::Path;
use std::process::Command;

use tcpcheck::conform::script::SEEDS;
use tcpcheck::conform::{Check, Oracle, Stack};
use tcpcheck::model::shipped::Shipped;

/// The harness of a stack under `stacks/NAME/` that `scripts/setup` builds (`lwip`, `gvisor`):
/// `TCPCHECK_NAME`, or where setup puts it; `None`, said loudly, if it is not built. (Each test
/// crate compiles this module; the smoltcp suite runs no child.)
#[allow(dead_code)]
pub fn child_harness(name: &str) -> Option<String> {
    let var = format!("TCPCHECK_{}", name.to_uppercase());
    let built = format!("{}/stacks/{name}/build/tcpcheck-{name}", env!("CARGO_MANIFEST_DIR"));
    let path = std::env::var(var).unwrap_or(built);
    if Path::new(&path).exists() {
        Some(path)
    } else {
        eprintln!("*** SKIPPED: {name} is not built (scripts/setup builds it: stacks/{name}/build.sh) ***");
        None
    }
}

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

/// Every seed run twice on `a` and once on `b`, a second stack of the same kind and seed (for a
/// stack in a child process, a second child): the same verdicts and traces, packet for packet.
#[track_caller]
pub fn assert_deterministic(a: &mut dyn Stack, b: &mut dyn Stack) {
    let model = Shipped::find("rfc9293").unwrap().load().unwrap();
    let oracle = Oracle::new(&model, a.params().clone());
    for seed in SEEDS {
        let first = oracle.run(a, &seed.script(), true);
        let again = oracle.run(a, &seed.script(), true);
        let other = oracle.run(b, &seed.script(), true);
        assert_eq!(first.verdict, again.verdict, "{}", seed.name);
        assert_eq!(first.trace, again.trace, "{}", seed.name);
        assert_eq!(first.verdict, other.verdict, "{}: another child", seed.name);
        assert_eq!(first.trace, other.trace, "{}: another child", seed.name);
    }
}

/// `tcpcheck fuzz --stack STACK --runs 3000 --jobs 1` in `dir`, findings in `dir/out/findings`.
/// The stack deviates, so the run must end in findings (exit 1; a failure of the run itself
/// would be another code) and print its report. Its stdout.
#[track_caller]
pub fn fuzz_finds(stack: &str, dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpcheck"))
        .args(["fuzz", "--stack", stack, "--runs", "3000", "--jobs", "1", "--corpus", "out"])
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" runs (") && stdout.contains("coverage of"), "{stdout}");
    stdout
}

/// Replays every committed finding of `tests/findings/STACK` (at least `at_least` of them) on a
/// stack `spawn` makes from the finding's seed, and checks each draws its recorded verdict; the
/// ones under `fixed/` were the oracle's and are fixed since, so they replay to no verdict.
/// `check` sees each finding file first (its triage, say).
#[track_caller]
pub fn assert_findings_replay<S: Stack>(
    stack: &str,
    at_least: usize,
    mut spawn: impl FnMut(u64) -> S,
    mut check: impl FnMut(&Path, &tcpcheck::conform::finding::Finding),
) {
    use tcpcheck::conform::finding::{self, Input};
    let model = Shipped::find("rfc9293").unwrap().load().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/findings").join(stack);
    for (dir, fixed) in [(dir.clone(), false), (dir.join("fixed"), true)] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            assert!(fixed, "no findings at {}", dir.display());
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        paths.sort();
        assert!(fixed || paths.len() >= at_least, "findings missing from {}", dir.display());
        for file in paths {
            let name = file.display().to_string();
            let Input::Finding(f) = finding::read(&name, &std::fs::read(&file).unwrap()).unwrap() else {
                panic!("{name}: not a finding file");
            };
            assert_eq!(f.stack, stack, "{name}");
            check(&file, &f);
            let mut s = spawn(f.seed);
            let verdict = Oracle::new(&model, s.params().clone()).run(&mut s, &f.script, false).verdict;
            let got = verdict.as_ref().map(|v| (v.check, v.row.as_str()));
            let want = (!fixed).then_some((f.verdict.check, f.verdict.row.as_str()));
            assert_eq!(got, want, "{name}: {verdict:?}");
        }
    }
}
