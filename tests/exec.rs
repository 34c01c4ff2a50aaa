//! Stacks in child processes (`--stack exec:CMD`, docs/stack-protocol.md): through the pipe our
//! reference stack runs exactly as in process, and a child that dies, hangs, writes garbage or
//! closes its stdout becomes a finding that replays, never a harness crash or a lost script.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use tcpcheck::adapter::{Exec, Reference};
use tcpcheck::conform::fuzz::Fuzzer;
use tcpcheck::conform::{Check, Oracle, Params, Stack};
use tcpcheck::model::shipped::Shipped;
use tcpcheck::model::Model;

const BIN: &str = env!("CARGO_BIN_EXE_tcpcheck");

fn model(name: &str) -> Model {
    Shipped::find(name).unwrap().load().unwrap()
}

fn server(args: &str) -> String {
    format!("{BIN} stack-server {args}")
}

fn tcpcheck(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().expect("run tcpcheck")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The same fuzzing job in process and through the pipe: the same corpus, coverage and findings.
#[track_caller]
fn same_as_in_process(stack_model: &str, transport: &str, runs: u64) {
    let (stack_model, oracle_model) = (model(stack_model), model("rfc9293"));
    let mut direct = Reference::new(&stack_model, 5);
    let mut piped = Exec::spawn(&server(&format!("reference --model {} {transport}", stack_model.name())), 5).unwrap();
    // Only the ISN policy's words differ: the server said hello before it knew the seed.
    assert_eq!(Params { isn: direct.params().isn.clone(), ..piped.params().clone() }, *direct.params());
    let oracle = Oracle::new(&oracle_model, direct.params().clone());
    let mut a = Fuzzer::new(&oracle, &mut direct, 1, true);
    a.round(runs);
    let mut b = Fuzzer::new(&oracle, &mut piped, 1, true);
    b.round(runs);
    assert_eq!(a.corpus(), b.corpus());
    assert_eq!(a.coverage().row_hits(), b.coverage().row_hits());
    let found = |f: &Fuzzer| f.found().iter().map(|f| (f.script.clone(), f.verdict.clone())).collect::<Vec<_>>();
    assert_eq!(found(&a), found(&b));
    assert_eq!((a.stats.runs, a.stats.steps), (b.stats.runs, b.stats.steps));
}

/// The stack-server's flag for each transport: shared memory (offered by the harness, taken by
/// default) and the pipes.
const TRANSPORTS: [&str; 2] = ["", "--pipes"];

#[test]
fn through_the_protocol_the_reference_stack_runs_as_in_process() {
    for transport in TRANSPORTS {
        same_as_in_process("rfc9293", transport, 1500);
    }
    // A new server process for every run, as for a stack that cannot reset at all.
    same_as_in_process("rfc9293", "--restart", 150);
    let mut stack = Exec::spawn(&server("reference --restart"), 1).unwrap();
    let rfc9293 = model("rfc9293");
    let oracle = Oracle::new(&rfc9293, stack.params().clone());
    let script = tcpcheck::conform::script::SEEDS[0].script();
    let pids: Vec<_> = (0..2).map(|_| (oracle.run(&mut stack, &script, false).verdict, stack.pid())).collect();
    assert_eq!((&pids[0].0, &pids[1].0), (&None, &None));
    assert_ne!(pids[0].1, pids[1].1, "a child that says `reset restart` is started anew for each run");
}

#[test]
fn through_the_protocol_a_mutant_draws_the_same_findings() {
    for transport in TRANSPORTS {
        same_as_in_process("no-2msl-restart", transport, 1500);
    }
}

/// Fuzzes a child that misbehaves at request `step` of every run, on both transports; what it
/// finds.
fn broken(how: &str, step: u32) -> Vec<(Check, String, usize)> {
    TRANSPORTS.iter().flat_map(|transport| broken_on(how, step, transport)).collect()
}

fn broken_on(how: &str, step: u32, transport: &str) -> Vec<(Check, String, usize)> {
    let rfc9293 = model("rfc9293");
    let mut stack = Exec::spawn(&server(&format!("reference --fail {how}:{step} {transport}")), 1)
        .unwrap()
        .with_answer_timeout(Duration::from_millis(200));
    let oracle = Oracle::new(&rfc9293, stack.params().clone());
    let mut fuzzer = Fuzzer::new(&oracle, &mut stack, 1, true);
    fuzzer.round(20);
    // The loop went on after each failure: every run ran, on a restarted child (and each new
    // failure once more, to confirm it).
    assert_eq!(fuzzer.stats.runs, 28 + fuzzer.found().len() as u64);
    let found = fuzzer.found().to_vec();
    drop(fuzzer);
    // Each finding replays to its verdict on a fresh child.
    for f in &found {
        let again = oracle.run(&mut stack, &f.script, false);
        assert_eq!(again.verdict.as_ref().map(|v| v.key()), Some(f.verdict.key()), "{:?}", f.script);
    }
    assert!(!found.is_empty(), "{how}: nothing found");
    found.into_iter().map(|f| (f.verdict.check, f.verdict.actual, f.script.steps.len())).collect()
}

#[test]
fn a_child_that_aborts_is_a_crash_with_its_stderr() {
    for (check, actual, steps) in broken("abort", 3) {
        assert_eq!(check, Check::Crash, "{actual}");
        assert!(actual.contains("killed by signal 6 (SIGABRT)"), "{actual}");
        assert!(actual.contains("failing on purpose"), "{actual}");
        // Minimized to the request that kills it (a wait may be several requests).
        assert!((1..=3).contains(&steps), "{steps} steps: {actual}");
    }
}

#[test]
fn a_child_that_hangs_is_killed_and_is_a_hang() {
    for (check, actual, _) in broken("hang", 2) {
        assert_eq!(check, Check::Hang, "{actual}");
        assert!(actual.contains("no answer to"), "{actual}");
    }
}

#[test]
fn a_child_that_writes_garbage_breaks_the_protocol() {
    for (check, actual, _) in broken("garbage", 4) {
        assert_eq!(check, Check::Protocol, "{actual}");
        assert!(actual.contains("frame"), "{actual}");
    }
}

#[test]
fn a_child_that_closes_its_stdout_is_a_crash() {
    for (check, actual, _) in broken("close", 1) {
        assert_eq!(check, Check::Crash, "{actual}");
        assert!(actual.contains("stdout ended"), "{actual}");
    }
}

#[test]
fn a_crash_found_by_the_cli_replays_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let stack = format!("exec:{}", server("reference --fail abort:5"));
    let out = tcpcheck(dir.path(), &["fuzz", "--stack", &stack, "--runs", "40", "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", text(&out.stdout), text(&out.stderr));
    let findings: Vec<_> =
        dir.path().join("fuzz-out/findings").read_dir().unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!findings.is_empty());
    for finding in findings {
        let name = finding.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with("exec-crash-line"), "{name}");
        let out = tcpcheck(dir.path(), &["replay", finding.to_str().unwrap(), "--pcap", "run.pcap"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("the same verdict as saved"), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("crash: the stack's process died"), "{}", text(&out.stdout));
    }
}

#[test]
fn a_command_that_is_not_a_stack_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    for (stack, says) in [
        ("exec:/nonexistent/harness", "cannot start `/nonexistent/harness`"),
        ("exec:echo hello", "the child's hello"),
        ("exec:'unclosed", "not a command line"),
        ("exec:", "needs a command"),
        ("exec:sh -c 'echo dying >&2; exit 3'", "its stderr ends: dying"),
    ] {
        let out = tcpcheck(dir.path(), &["fuzz", "--stack", stack, "--runs", "5"]);
        assert_eq!(out.status.code(), Some(2), "{stack}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(says), "{stack}: {}", text(&out.stderr));
    }
}

#[test]
fn a_stack_from_another_crate_is_judged_through_the_protocol() {
    // examples/own_stack.rs, which `cargo test` builds beside this test's binary.
    let example = Path::new(BIN).parent().unwrap().join("examples/own_stack");
    if !example.exists() {
        // `cargo test` builds the examples; `cargo test --test exec` alone does not.
        eprintln!(
            "*** SKIPPED: {} is not built: run `cargo test` or `cargo build --example own_stack` ***",
            example.display()
        );
        return;
    }
    let rfc9293 = model("rfc9293");
    let mut stack = Exec::spawn(&format!("{} serve", example.display()), 1).unwrap();
    let oracle = Oracle::new(&rfc9293, stack.params().clone());
    let closed = tcpcheck::conform::script::SEEDS.iter().find(|s| s.name == "closed-port").unwrap();
    assert_eq!(oracle.run(&mut stack, &closed.script(), false).verdict, None, "a closed port is right");
    let mut fuzzer = Fuzzer::new(&oracle, &mut stack, 1, true);
    fuzzer.round(200);
    let mut found: Vec<_> = fuzzer.found().iter().map(|f| (f.verdict.check, f.verdict.rule.clone())).collect();
    found.sort();
    let expected = [(Check::Output, "CLOSED OPEN-ACTIVE -> SYN-SENT"), (Check::State, "CLOSED OPEN-PASSIVE -> LISTEN")];
    assert_eq!(found, expected.map(|(c, r)| (c, r.to_string())));
}

/// Builds `stacks/c/examples/NAME.c` with the C library into `dir`; `None` (and a loud skip)
/// where there is no C compiler.
fn build_c_example(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = Command::new(&cc)
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-std=c99", "-I"])
        .arg(root.join("stacks/c"))
        .arg(root.join(format!("stacks/c/examples/{name}.c")))
        .arg(root.join("stacks/c/tcpcheck_stack.c"))
        .arg("-o")
        .arg(&out)
        .output();
    match built {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => panic!("{cc} failed on the C library:\n{}", text(&o.stderr)),
        Err(e) => {
            eprintln!("*** SKIPPED: no C compiler `{cc}` ({e}) ***");
            None
        }
    }
}

#[test]
fn the_c_library_serves_alike_through_shared_memory_pipes_and_a_fork_server() {
    let dir = tempfile::tempdir().unwrap();
    let Some(silent) = build_c_example(dir.path(), "silent") else { return };
    let rfc9293 = model("rfc9293");
    let silent = silent.display();
    // `env -u` takes the shared memory the harness offers away: the library then uses the
    // pipes. The fork server uses the pipes whatever is offered.
    let commands = [format!("{silent}"), format!("env -u TCPCHECK_SHM {silent}"), format!("{silent} fork")];
    let mut outcomes = Vec::new();
    for command in &commands {
        let mut stack = Exec::spawn(command, 1).unwrap();
        let oracle = Oracle::new(&rfc9293, stack.params().clone());
        let mut fuzzer = Fuzzer::new(&oracle, &mut stack, 1, true);
        fuzzer.round(300);
        let found: Vec<_> = fuzzer.found().iter().map(|f| (f.verdict.clone(), f.script.clone())).collect();
        assert!(found.iter().any(|(v, _)| v.rule == "CLOSED OPEN-ACTIVE -> SYN-SENT"), "{command}: {found:?}");
        outcomes.push((fuzzer.corpus().to_vec(), found, fuzzer.stats.steps));
    }
    assert_eq!(outcomes[0], outcomes[1], "shared memory and pipes");
    assert_eq!(outcomes[0], outcomes[2], "in place and fork server");
}

#[test]
fn a_fork_servers_dead_copy_is_a_crash_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let Some(silent) = build_c_example(dir.path(), "silent") else { return };
    let rfc9293 = model("rfc9293");
    let mut stack = Exec::spawn(&format!("{} fork crash", silent.display()), 1).unwrap();
    let server = stack.pid();
    let oracle = Oracle::new(&rfc9293, stack.params().clone());
    let mut fuzzer = Fuzzer::new(&oracle, &mut stack, 1, true);
    fuzzer.round(100);
    let crashes: Vec<_> = fuzzer.found().iter().filter(|f| f.verdict.check == Check::Crash).collect();
    assert!(!crashes.is_empty(), "{:?}", fuzzer.found());
    for f in &crashes {
        assert!(
            f.verdict.actual.contains("killed by signal 6 (SIGABRT) (the child reported it and lives on)"),
            "{}",
            f.verdict
        );
    }
    drop(fuzzer);
    // Every crash was a copy's: the same server served all 108 runs.
    assert_eq!(stack.pid(), server);
}

#[test]
fn a_child_runs_in_ipv6_when_its_hello_says_so_and_is_refused_otherwise() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A hello that declares IPv6 hosts: the packets through the protocol are IPv6.
    let six = format!("exec:{}", server("reference --family 6"));
    let out = tcpcheck(root, &["run", "--stack", &six, "--family", "6", "tests/packetdrill/pass"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("4 scripts on reference (rfc9293) in IPv6: 4 passed"), "{}", text(&out.stdout));
    // A child whose hello declares IPv4, or no addresses (lwIP's and gVisor's harnesses), is
    // not fed IPv6 it cannot read: the run is refused with the reason.
    let four = format!("exec:{}", server("smoltcp"));
    let out = tcpcheck(root, &["run", "--stack", &four, "--family", "6", "tests/packetdrill/pass"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let said = text(&out.stderr);
    assert!(said.contains("smoltcp 0.14.0 speaks IPv4 only") && said.contains("cannot run in IPv6"), "{said}");
}
