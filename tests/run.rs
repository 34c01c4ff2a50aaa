//! `tcpcheck run`: packetdrill scripts we wrote (tests/packetdrill/) and tcpcheck scripts, run
//! end to end; and the round trip: what `replay --packetdrill` writes runs back to the same
//! outcome.

use std::path::Path;
use std::process::{Command, Output};

use proptest::prelude::*;
use tcpcheck::adapter::Reference;
use tcpcheck::conform::{Oracle, Script, Stack};
use tcpcheck::export::packetdrill::packetdrill;
use tcpcheck::model::shipped::Shipped;
use tcpcheck::model::Source;
use tcpcheck::packetdrill::judge::{judge, Tolerance};
use tcpcheck::packetdrill::{parse, plan, Outcome};

const BIN: &str = env!("CARGO_BIN_EXE_tcpcheck");

fn run(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(BIN).arg("run").args(args).current_dir(root).output().expect("run tcpcheck")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn our_passing_scripts_pass_on_the_reference_stack_judged_twice() {
    let out = run(&["tests/packetdrill/pass"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("PASS  tests/packetdrill/pass/passive-open-data-close.pkt\n      oracle: no verdict"),
        "{text}"
    );
    assert!(text.contains("4 scripts on reference (rfc9293): 4 passed, 0 failed, 0 skipped, 0 unreadable"), "{text}");
}

#[test]
fn a_listener_that_stays_open_has_the_port_once_its_connection_is_gone() {
    // Most scripts never close their listener; the stacks that can keep one beside the
    // connection run them as written (tests/linux.rs runs the same script on Linux).
    for stack in ["reference", "smoltcp"] {
        let out = run(&["--stack", stack, "tests/packetdrill/pass/listener-stays.pkt"]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{stack}: {text}");
        assert!(text.contains("1 passed"), "{stack}: {text}");
    }
}

#[test]
fn a_failing_script_names_its_line_both_verdicts_and_the_disagreement() {
    let out = run(&["tests/packetdrill/fail/wrong-ack.pkt"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("script: expected tests/packetdrill/fail/wrong-ack.pkt:7:1 > S. 0:0(0) ack 2 <...>"),
        "{text}"
    );
    assert!(text.contains("actual   S. 0:0(0) ack 1 win 4096 <mss 536> at 0s"), "{text}");
    assert!(text.contains("they disagree: the script fails where the table accepts"), "{text}");
    // Times are exact on a virtual clock.
    let text = stdout(&run(&["tests/packetdrill/fail/late-syn-ack.pkt"]));
    assert!(text.contains("timing error, expected at 0.010s"), "{text}");
}

#[test]
fn a_mutant_stack_fails_the_oracle_where_the_script_passes() {
    // no-time-wait closes at once: the script's state assertion for CLOSED-after-close holds
    // for the mutant only if it expects it; ours expects TIME-WAIT via the table.
    let dir = tempfile::tempdir().unwrap();
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
        +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n+0 > S 0:0(0) <...>\n\
        +0 < S. 0:0(0) ack 1 win 8192 <mss 1000>\n+0 > . 1:1(0) ack 1\n+0 shutdown(3, SHUT_WR) = 0\n\
        +0 > F. 1:1(0) ack 1\n+0 < F. 1:1(0) ack 2 win 8192\n+0 > . 2:2(0) ack 2\n\
        +1 %{ assert tcpi_state == TCP_CLOSE }%\n";
    let file = dir.path().join("close.pkt");
    std::fs::write(&file, script).unwrap();
    let out = run(&["--model", "no-time-wait", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("oracle: time-wait-2msl"), "{text}");
    assert!(text.contains("they disagree: the script passes where the table differs"), "{text}");
    // The state assertion after the oracle's verdict is judged by the state the stack reported
    // then (CLOSED at once, where the table holds TIME-WAIT), not by the state before.
    assert!(!text.contains("script: expected"), "{text}");
}

#[test]
fn unsupported_constructs_skip_with_their_place_and_bad_syntax_exits_2() {
    let out = run(&["tests/packetdrill/skip"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("tests/packetdrill/skip/md5.pkt:5:45: TCP option `md5` on an inbound packet"), "{text}");
    assert!(
        text.contains("tests/packetdrill/skip/shell.pkt:1:1: shell command `ethtool -K tun0 gso off tso off`"),
        "{text}"
    );
    assert!(text.contains("0 passed, 0 failed, 2 skipped"), "{text}");
    // Sysctl settings are the stack's parameters: the reference stack has none.
    let text = stdout(&run(&["tests/packetdrill/linux"]));
    assert!(text.contains("defaults-without-timestamps.pkt:4:1: sysctl settings (`net.ipv4.tcp_rmem` first): reference (rfc9293) takes none"), "{text}");
    let text = stdout(&run(&["--ignore-shell", "tests/packetdrill/linux"]));
    assert!(text.contains("0 skipped"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.pkt");
    std::fs::write(&file, "0 listen(3, 1) = 0\n+0 > Q. 0:0(0) ack 1\n").unwrap();
    let out = run(&[file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("bad.pkt:2:6"), "{text}");
    assert!(text.contains("unknown TCP flag `Q`"), "{text}");
}

#[test]
fn a_blocking_read_returns_at_its_end_time_with_what_came_meanwhile() {
    // packetdrill starts `+0...0.100 read` at once and expects it back 100 ms later, when the
    // `<` line it waits for has come; the harness's RECEIVE never blocks, so it is made then.
    let dir = tempfile::tempdir().unwrap();
    let open = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
        +0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 8192 <mss 1000>\n\
        +0 > S. 0:0(0) ack 1 <mss 536>\n+.1 < . 1:1(0) ack 1 win 8192\n+0 accept(3, ..., ...) = 4\n";
    let blocking =
        format!("{open}+0...0.100 read(4, ..., 1000) = 10\n+.1 < P. 1:11(10) ack 1 win 8192\n+0 > . 1:1(0) ack 11\n");
    let file = dir.path().join("blocking.pkt");
    std::fs::write(&file, blocking).unwrap();
    let text = stdout(&run(&[file.to_str().unwrap()]));
    assert!(text.contains("1 passed"), "{text}");
    // A read into a buffer smaller than the text that came asks for less than RECEIVE returns.
    let short = format!("{open}+0 < P. 1:11(10) ack 1 win 8192\n+0 > . 1:1(0) ack 11\n+0 read(4, ..., 4) = 4\n");
    let file = dir.path().join("short.pkt");
    std::fs::write(&file, short).unwrap();
    let text = stdout(&run(&[file.to_str().unwrap()]));
    assert!(text.contains("short.pkt:11:4: a `read` of 4 octets with 10 come and unread"), "{text}");
}

#[test]
fn tcpcheck_scripts_run_as_json_without_a_finding_wrapper() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("open.json");
    std::fs::write(
        &file,
        r#"[{"user":"listen"},{"inject":{"kind":"syn","seq":"exact","ack":"exact","len":0,"window":"open"}}]"#,
    )
    .unwrap();
    let out = run(&["--json", file.to_str().unwrap()]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{value}");
    assert_eq!(value["summary"]["passed"], 1, "{value}");
    let out = run(&["--model", "two-packet-handshake", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    std::fs::write(&file, "[{\"user\":\"nonsense\"}]").unwrap();
    let out = run(&[file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("open.json:1:"), "{}", stdout(&out));
}

/// The round trip over the fuzzers' own scripts: run, written as packetdrill, parsed, planned
/// and run again on the same stack, the script passes and the oracle draws the same verdict
/// (check and row). Scripts the exporter cannot fully say (it writes a comment instead of a
/// line) are left out, and so are scripts the plan skips (a second socket); at least half of
/// the fuzzers' scripts must go through (168 of 300 did when this was written).
fn round_trip(stack_model: &str, script: &Script) -> Option<Result<(), String>> {
    let oracle_model = Shipped::find("rfc9293").unwrap().load().unwrap();
    let model = Shipped::find(stack_model).unwrap().load().unwrap();
    let mut stack = Reference::new(&model, 7);
    let params = stack.params().clone();
    let oracle = Oracle::new(&oracle_model, params.clone());
    let first = oracle.run(&mut stack, script, true);
    let text = packetdrill(&first.trace, &params, first.stack_iss, "");
    if text.contains("cannot number it") || text.contains("no socket call says that") {
        return None;
    }
    let parsed = match parse(&Source::new("rt.pkt", text.as_str())) {
        Ok(p) => p,
        Err(p) => return Some(Err(format!("{}\n{text}", p.render_plain()))),
    };
    let plan = plan(&parsed, false).ok()?;
    let second = oracle.to_the_end().run(&mut stack, &plan.script, true);
    let judged = judge(&plan, &second, params.clock, Tolerance::default());
    let key = |v: &Option<tcpcheck::conform::Verdict>| v.as_ref().map(|v| (v.check, v.row.clone()));
    if judged.script != Outcome::Pass {
        return Some(Err(format!("script outcome {:?}\n{text}", judged.script)));
    }
    if key(&first.verdict) != key(&second.verdict) {
        return Some(Err(format!("verdicts differ: {:?} then {:?}\n{text}", first.verdict, second.verdict)));
    }
    Some(Ok(()))
}

#[test]
fn every_seed_round_trips_on_every_shipped_model() {
    let mut through = 0;
    for model in
        ["rfc9293", "rfc793", "no-time-wait", "two-packet-handshake", "no-2msl-restart", "rst-closes-time-wait"]
    {
        for seed in tcpcheck::conform::script::SEEDS {
            if let Some(result) = round_trip(model, &seed.script()) {
                result.unwrap_or_else(|e| panic!("{model}/{}: {e}", seed.name));
                through += 1;
            }
        }
    }
    assert!(through >= 40, "only {through} of 48 went through");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn fuzz_scripts_round_trip_through_packetdrill(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        model in prop::sample::select(vec!["rfc9293", "no-time-wait", "two-packet-handshake", "no-2msl-restart", "rst-closes-time-wait", "rfc793"]),
    ) {
        let script = tcpcheck::conform::finding::decode(&bytes);
        if let Some(result) = round_trip(model, &script) {
            prop_assert!(result.is_ok(), "{}", result.unwrap_err());
        }
    }
}

#[test]
fn most_fuzz_scripts_go_through_the_round_trip() {
    let (mut through, mut total) = (0, 0);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        let bytes: Vec<u8> = (0..120)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let script = tcpcheck::conform::finding::decode(&bytes);
        total += 1;
        if let Some(result) = round_trip("rfc9293", &script) {
            result.unwrap();
            through += 1;
        }
    }
    eprintln!("round trip: {through} of {total} fuzz scripts went through");
    assert!(through * 2 >= total, "only {through} of {total} went through");
}

#[test]
fn every_script_runs_in_both_families_as_run_all_runs_them() {
    // Our own scripts: the passing ones in IPv4 and IPv6, each a line of its own; a name that
    // ends in v4.pkt or v6.pkt runs only in that family, as packetdrill's run_all.py reads it.
    // smoltcp passes two of the scripts written for the reference stack (the others expect its
    // MSS and ACK timing).
    let smoltcp = ["tests/packetdrill/pass/syn-options.pkt", "tests/packetdrill/pass/listener-stays.pkt"];
    for (stack, pass, n) in [("reference", &["tests/packetdrill/pass"][..], 10), ("smoltcp", &smoltcp[..], 6)] {
        let mut args = vec!["--stack", stack, "--family", "both", "tests/packetdrill/family"];
        args.extend(pass);
        let out = run(&args);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{stack}: {text}");
        assert!(text.contains("PASS  tests/packetdrill/pass/syn-options.pkt (ipv4)\n"), "{stack}: {text}");
        assert!(text.contains("PASS  tests/packetdrill/pass/syn-options.pkt (ipv6)\n"), "{stack}: {text}");
        assert!(text.contains("PASS  tests/packetdrill/family/active-open-data-v6.pkt (ipv6)\n"), "{stack}: {text}");
        assert!(!text.contains("active-open-data-v6.pkt (ipv4)"), "{stack}: {text}");
        assert!(!text.contains("passive-open-text-v4.pkt (ipv6)"), "{stack}: {text}");
        let summary = format!(" in IPv4 and IPv6: {n} passed, 0 failed, 0 skipped");
        assert!(text.contains(&format!("{n} scripts on ")) && text.contains(&summary), "{text}");
    }
    // One family asked for: a script of the other is skipped, saying why; JSON names the family.
    let out = run(&["--family", "6", "--json", "tests/packetdrill/family"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{value}");
    let scripts = value["scripts"].as_array().unwrap();
    assert!(scripts.iter().all(|s| s["family"] == "ipv6"), "{value}");
    assert_eq!(value["summary"]["passed"], 1, "{value}");
    let skipped = &value["summary"]["skipped_by"];
    let why = "an IPv4-only script (its name ends in v4.pkt, as packetdrill's run_all.py reads it)";
    assert_eq!(skipped[why], 1, "{value}");
    // A script's own --ip_version chooses its family, as on packetdrill's command line.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("own-option.pkt");
    let syn_options = std::fs::read_to_string("tests/packetdrill/pass/syn-options.pkt").unwrap();
    std::fs::write(&file, format!("--ip_version=ipv6\n{syn_options}")).unwrap();
    let out = run(&["--family", "both", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("own-option.pkt:1:1: --ip_version=ipv6: the script runs in IPv6 only"), "{text}");
    assert!(text.contains("1 passed, 0 failed, 1 skipped"), "{text}");
    // So does the family its socket names.
    let inet6 = syn_options.replace("socket(..., SOCK_STREAM", "socket(AF_INET6, SOCK_STREAM");
    std::fs::write(&file, inet6).unwrap();
    let out = run(&["--stack", "smoltcp", "--family", "both", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(text.contains("PASS  ") && text.contains("own-option.pkt (ipv6)\n"), "{text}");
    assert!(text.contains("own-option.pkt:2:7: an AF_INET6 socket: the script runs in IPv6 only"), "{text}");
    let out = run(&["--family", "5", "tests/packetdrill/family"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected 4, 6 or both"));
}
