//! A conformance run as a sequence diagram: the harness on the left (the peer's segments and the
//! stack's user's calls), the network in the middle, the stack under test on the right with what
//! the oracle's shadow expected of it, row by row, each with its `file:line` and RFC section.
//! The verdict, if any, is printed where it happened, so the reader sees the row that was broken
//! next to the segments that broke it.
//!
//! Numbers are relative to each side's ISS, as in verdicts ([`show_inbound`], [`show_outbound`]):
//! the peer's is [`PEER_ISS`], the stack's the one the oracle learnt from its SYN
//! (`Run::stack_iss`); without one, the stack's numbers are absolute and marked `(abs)`.
//! [`to_json`] carries the same content with absolute and relative numbers.

use serde_json::{json, Value};

use super::oracle::{show_inbound, show_outbound, PEER_ISS};
use super::{Params, Record, UserCall, Verdict};
use crate::model::{Model, Table};
use crate::simulate::columns::{wrap, Column, Grid, Width, FIT};
use crate::simulate::diagram::{told, transition_lines};
use crate::time::Instant;
use crate::wire::{Segment, SeqNum};

/// The columns: the clock, the step, the harness, the network, the stack.
fn grid(width: Width) -> Grid<5> {
    match width {
        Width::Wide => Grid {
            columns: [
                Column::right(10, " "),
                Column::right(5, "  "),
                Column::left(36),
                Column::left(54),
                Column::left(0),
            ],
            wrap: false,
        },
        Width::Fit => Grid {
            columns: [
                Column::right(8, " "),
                Column::right(4, "  "),
                Column::left(20),
                Column::left(40),
                Column::left(45),
            ],
            wrap: true,
        },
    }
}

/// The 0-based script step of every record (`None` before the first step starts).
pub(crate) fn steps(trace: &[Record]) -> Vec<Option<usize>> {
    let mut step = None;
    trace
        .iter()
        .map(|record| {
            if record.starts_step() {
                step = Some(step.map_or(0, |s: usize| s + 1));
            }
            step
        })
        .collect()
}

/// A user call as the RFC names it, with what a socket user would write.
pub(crate) fn call_text(call: UserCall) -> String {
    match call {
        UserCall::Listen => "user: OPEN passive (listen)".into(),
        UserCall::Serve => "user: OPEN passive (listen, and keep listening)".into(),
        UserCall::StopServing => "user: closes the listener".into(),
        UserCall::Connect => "user: OPEN active (connect)".into(),
        UserCall::Send(n) => format!("user: SEND {n} octets"),
        UserCall::Write(n) => format!("user: SEND {n} octets"),
        UserCall::Receive => "user: RECEIVE".into(),
        UserCall::Close => "user: CLOSE".into(),
        UserCall::Abort => "user: ABORT".into(),
    }
}

/// At most 16 characters of text, for a diagram cell.
fn preview(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let short: String = text.chars().take(16).collect();
    if short.len() < text.len() {
        format!("{short:?}...")
    } else {
        format!("{short:?}")
    }
}

/// A segment's relative text plus what verdicts leave out: the window and the MSS option.
fn segment_text(relative: String, seg: &Segment) -> String {
    let mut text = format!("{relative} win={}", seg.window);
    if let Some(mss) = seg.mss {
        text += &format!(" <mss {mss}>");
    }
    text
}

/// The verdict as a block: a banner and its `Display`, indented under the time column (and
/// wrapped to fit, unless wide).
fn verdict_block(verdict: &Verdict, grid: &Grid<5>) -> Vec<String> {
    let indent = grid.columns[0].width + grid.columns[1].width + grid.columns[0].gap.len() + grid.columns[1].gap.len();
    let pad = " ".repeat(indent);
    let banner = format!(
        "!!!!!!!! VERDICT at step {} ({}) !!!!!!!!",
        verdict.step.saturating_add(1),
        Instant::from_micros(verdict.at_us)
    );
    let text = verdict.to_string();
    let lines = std::iter::once(banner.as_str()).chain(text.lines());
    let wrapped: Vec<String> = match grid.wrap {
        true => lines.flat_map(|l| wrap(l, FIT - indent)).collect(),
        false => lines.map(str::to_string).collect(),
    };
    wrapped.into_iter().map(|l| format!("{pad}{l}")).collect()
}

/// The run as a sequence diagram; see the module doc.
pub fn render(
    trace: &[Record],
    model: &Model,
    params: &Params,
    stack_iss: Option<SeqNum>,
    verdict: Option<&Verdict>,
    width: Width,
) -> String {
    let table = model.table();
    let grid = grid(width);
    let row = |time: &str, step: &str, peer: &str, net: &str, stack: &str| grid.row([time, step, peer, net, stack]);
    let mut out = row(
        "time",
        "step",
        &format!("harness: peer {} + user", params.hosts.peer()),
        "network (seq/ack relative to each ISS)",
        &format!("stack under test: {} {}", params.name, params.hosts.stack()),
    );
    out.extend(row("", "", "", "", &format!("expected: oracle {} ({})", model.name(), table.source.name)));
    let steps = steps(trace);
    let verdict_step = verdict.map(|v| v.step);
    let mut verdict_shown = false;
    let mut last_time = None;
    let mut last_state = None;
    for (index, record) in trace.iter().enumerate() {
        let at = record.at();
        let time = if last_time == Some(at) { String::new() } else { at.to_string() };
        last_time = Some(at);
        let step = match (record.starts_step(), steps[index]) {
            (true, Some(s)) if Some(s) == verdict_step => format!("!{}", s.saturating_add(1)),
            (true, Some(s)) => s.saturating_add(1).to_string(),
            _ => String::new(),
        };
        match record {
            Record::Call { call, .. } => out.extend(row(&time, &step, &call_text(*call), "", "")),
            Record::Read { data, .. } => {
                let text = format!("RECEIVE returned {} octets {}", data.len(), preview(data));
                out.extend(row(&time, &step, &text, "", ""));
            }
            Record::Inbound { segment, .. } => {
                let text = segment_text(show_inbound(segment, stack_iss), segment);
                out.extend(row(&time, &step, "", &format!("{text} -->"), ""));
            }
            Record::Outbound { segment, .. } => {
                let text = segment_text(show_outbound(segment, stack_iss), segment);
                out.extend(row(&time, &step, "", &format!("<-- {text}"), ""));
            }
            Record::Garbled { bytes, error, .. } => {
                let text = format!("<-- malformed, {} bytes: {error}", bytes.len());
                out.extend(row(&time, &step, "", &text, ""));
            }
            Record::Row { transition, .. } => {
                let (head, cite) = transition_lines(table, transition);
                out.extend(row(&time, &step, "", "", &format!("expected {head}")));
                out.extend(row("", "", "", "", &format!("  {cite}")));
                last_state = Some(transition.to);
            }
            Record::Told { event, .. } => out.extend(row(&time, &step, "", "", &format!("expected {}", told(event)))),
            Record::Waited { at, to } => {
                let text = format!("~~~~ time passes: {} until {to} ~~~~", to.since(*at));
                out.extend(row(&time, &step, &text, "", ""));
            }
            // What the stack reports is in the verdicts and the JSON; a row per step would
            // repeat the shadow's state on every line.
            Record::Stack { .. } => {}
        }
        let step_ends = trace.get(index + 1).is_none_or(Record::starts_step);
        if let Some(v) = verdict.filter(|v| step_ends && steps[index] == Some(v.step)) {
            out.extend(verdict_block(v, &grid));
            verdict_shown = true;
        }
    }
    if let Some(v) = verdict.filter(|_| !verdict_shown) {
        out.extend(verdict_block(v, &grid));
    }
    let end = match (verdict, last_state) {
        (Some(_), _) => "the run ended at the verdict".to_string(),
        (None, Some(state)) => format!("no verdict; the shadow ended in {state}"),
        (None, None) => "no verdict".to_string(),
    };
    out.extend(row("end", "", "", "", &end));
    out.join("\n") + "\n"
}

/// A segment as JSON: absolute numbers, the same relative to `seq_base` and `ack_base`, and the
/// diagram's text.
fn segment_json(seg: &Segment, seq_base: Option<SeqNum>, ack_base: Option<SeqNum>, text: String) -> Value {
    let rel = |n: SeqNum, base: Option<SeqNum>| base.map(|b| n.distance_from(b));
    json!({
        "flags": seg.flags().to_string(),
        "seq": seg.seq.0,
        "ack": seg.ack.map(|a| a.0),
        "rel_seq": rel(seg.seq, seq_base),
        "rel_ack": seg.ack.and_then(|a| rel(a, ack_base)),
        "len": seg.payload.len(),
        "win": seg.window,
        "mss": seg.mss,
        "text": segment_text(text, seg),
    })
}

fn row_json(table: &Table, transition: &crate::endpoint::Transition) -> Value {
    let (head, cite) = transition_lines(table, transition);
    let (location, cite) = match table.rows.get(transition.row) {
        Some(row) => (table.row_location(row), row.rule.cite.qualified(table.rfc)),
        None => (cite, String::new()),
    };
    json!({
        "from": transition.from.name(), "to": transition.to.name(), "input": transition.input.to_string(),
        "row": location, "cite": cite, "expected": head,
    })
}

/// The run as JSON: the same content as [`render`], with absolute and relative numbers and the
/// 0-based step of every record.
pub fn to_json(
    trace: &[Record],
    model: &Model,
    params: &Params,
    stack_iss: Option<SeqNum>,
    verdict: Option<&Verdict>,
) -> Value {
    let table = model.table();
    let steps = steps(trace);
    let records: Vec<Value> = trace
        .iter()
        .zip(&steps)
        .map(|(record, step)| {
            let mut entry = match record {
                Record::Call { call, .. } => json!({"kind": "call", "call": call, "text": call_text(*call)}),
                Record::Read { data, .. } => json!({
                    "kind": "read", "len": data.len(), "text": String::from_utf8_lossy(data),
                }),
                Record::Inbound { segment, .. } => json!({
                    "kind": "inbound",
                    "segment": segment_json(segment, Some(PEER_ISS), stack_iss, show_inbound(segment, stack_iss)),
                }),
                Record::Outbound { segment, .. } => json!({
                    "kind": "outbound",
                    "segment": segment_json(segment, stack_iss, Some(PEER_ISS), show_outbound(segment, stack_iss)),
                }),
                Record::Garbled { bytes, error, .. } => json!({
                    "kind": "garbled", "len": bytes.len(), "error": error,
                    "bytes": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                }),
                Record::Row { transition, .. } => {
                    json!({"kind": "row", "transition": row_json(table, transition)})
                }
                Record::Told { event, .. } => json!({"kind": "told", "text": told(event)}),
                Record::Waited { at, to } => json!({
                    "kind": "wait", "to_us": to.as_micros(), "for_us": to.since(*at).as_micros(),
                }),
                Record::Stack { state, .. } => json!({"kind": "stack-state", "state": state.map(|s| s.name())}),
            };
            entry["at_us"] = json!(record.at().as_micros());
            entry["step"] = json!(step);
            entry
        })
        .collect();
    json!({
        "format": "tcpcheck-replay/1",
        "stack": params.name,
        "stack_addr": params.hosts.stack().to_string(),
        "peer_addr": params.hosts.peer().to_string(),
        "model": model.name(),
        "table": &*table.source.name,
        "stack_iss": stack_iss.map(|s| s.0),
        "peer_iss": PEER_ISS.0,
        "trace": records,
        "verdict": verdict.and_then(|v| serde_json::to_value(v).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Reference;
    use crate::conform::script::SEEDS;
    use crate::conform::{Oracle, Run, Stack};
    use crate::model::shipped::Shipped;

    fn model(name: &str) -> Model {
        Shipped::find(name).unwrap().load().unwrap()
    }

    /// `seed` with `stack` as the stack's model, judged by rfc9293: the run and its diagram.
    fn drawn(stack: &str, seed: &str) -> (Run, String, Value) {
        let oracle_model = model("rfc9293");
        let stack_model = model(stack);
        let mut stack = Reference::new(&stack_model, 7);
        let seed = SEEDS.iter().find(|s| s.name == seed).unwrap();
        let params = stack.params().clone();
        let run = Oracle::new(&oracle_model, params.clone()).run(&mut stack, &seed.script(), true);
        let text = render(&run.trace, &oracle_model, &params, run.stack_iss, run.verdict.as_ref(), Width::Wide);
        let value = to_json(&run.trace, &oracle_model, &params, run.stack_iss, run.verdict.as_ref());
        (run, text, value)
    }

    #[track_caller]
    fn line_with<'t>(text: &'t str, needle: &str) -> &'t str {
        text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` in\n{text}"))
    }

    #[test]
    fn passive_handshake_shows_segments_rows_and_cites() {
        let (_, text, _) = drawn("rfc9293", "passive-data-close");
        let head = text.lines().next().unwrap();
        assert!(head.contains("harness: peer 192.0.2.2:40000 + user"), "{text}");
        assert!(head.contains("stack under test: reference (rfc9293) 192.0.2.1:8080"), "{text}");
        let listen = line_with(&text, "user: OPEN passive (listen)");
        assert!(listen.trim_start().starts_with("0.000s     1  user:"), "{listen}");
        // Relative numbers both ways, arrows pointing the segment's way.
        assert!(line_with(&text, "SYN seq=0 win=8192 <mss 1000> -->").contains("    2  "), "{text}");
        line_with(&text, "<-- SYN|ACK seq=0 ack=1 win=");
        line_with(&text, "ACK seq=1 ack=1 len=10 win=8192 -->");
        line_with(&text, "RECEIVE returned 10 octets \"abcdefghij\"");
        // Each expectation with its row and qualified citation on the next line.
        let lines: Vec<&str> = text.lines().collect();
        let at = lines.iter().position(|l| l.contains("expected LISTEN=>SYN-RECEIVED on SYN")).expect(&text);
        assert!(lines[at + 1].trim_start().starts_with("models/rfc9293.tcp:"), "{}", lines[at + 1]);
        assert!(lines[at + 1].contains("RFC 9293 3.10.7.2"), "{}", lines[at + 1]);
        line_with(&text, "expected user told: connection closing");
        assert!(text.ends_with("no verdict; the shadow ended in CLOSED\n"), "{text}");
    }

    #[test]
    fn waits_are_time_lines() {
        let (_, text, _) = drawn("rfc9293", "active-time-wait");
        let wait = line_with(&text, "~~~~ time passes: 2min until 120.000s ~~~~");
        assert!(wait.contains(" 6  "), "the first wait is step 6: {wait}");
        line_with(&text, "~~~~ time passes: 2min until 240.000s ~~~~");
        line_with(&text, "expected TIME-WAIT=>CLOSED on TIMEOUT-2MSL");
    }

    #[test]
    fn a_verdict_is_marked_at_its_step_and_printed_in_full() {
        let (run, text, value) = drawn("no-time-wait", "active-time-wait");
        let verdict = run.verdict.clone().expect("no-time-wait is caught");
        let step = verdict.step + 1;
        // The step's first line carries `!N`, and the banner follows the step's records.
        let lines: Vec<&str> = text.lines().collect();
        let marked = lines.iter().position(|l| l.contains(&format!(" !{step}  "))).expect(&text);
        let banner = lines.iter().position(|l| l.contains(&format!("VERDICT at step {step}"))).expect(&text);
        assert!(marked < banner, "{text}");
        for line in verdict.to_string().lines() {
            assert!(text.contains(line), "verdict line `{line}` missing from\n{text}");
        }
        assert!(text.contains("time-wait-2msl:"), "{text}");
        assert!(text.ends_with("the run ended at the verdict\n"), "{text}");
        assert_eq!(value["verdict"]["check"], "time-wait-2msl");
        assert_eq!(value["verdict"]["step"], verdict.step);
    }

    #[test]
    fn steps_count_calls_inbounds_and_waits() {
        let (run, _, value) = drawn("rfc9293", "passive-data-close");
        let starts = run.trace.iter().filter(|r| r.starts_step()).count();
        assert_eq!(starts, run.steps, "every step begins with exactly one Call, Inbound or Waited record");
        let last = value["trace"].as_array().unwrap().last().unwrap()["step"].as_u64().unwrap();
        assert_eq!(last as usize, run.steps - 1);
    }

    #[test]
    fn json_has_absolute_and_relative_numbers() {
        let (run, _, value) = drawn("rfc9293", "passive-data-close");
        let iss = run.stack_iss.unwrap();
        assert_eq!(value["stack_iss"], iss.0);
        assert_eq!(value["peer_iss"], PEER_ISS.0);
        assert_eq!(value["stack"], "reference (rfc9293)");
        let trace = value["trace"].as_array().unwrap();
        let synack = trace.iter().find(|r| r["kind"] == "outbound").unwrap();
        assert_eq!(synack["segment"]["seq"], iss.0);
        assert_eq!(synack["segment"]["rel_seq"], 0);
        assert_eq!(synack["segment"]["ack"], PEER_ISS.0 + 1);
        assert_eq!(synack["segment"]["rel_ack"], 1);
        assert_eq!(synack["segment"]["flags"], "SYN|ACK");
        let row = trace.iter().find(|r| r["kind"] == "row").unwrap();
        assert_eq!(row["transition"]["from"], "CLOSED");
        assert_eq!(row["transition"]["to"], "LISTEN");
        assert!(row["transition"]["row"].as_str().unwrap().starts_with("models/rfc9293.tcp:"));
        assert!(row["transition"]["cite"].as_str().unwrap().starts_with("RFC "));
        assert_eq!(trace[0]["kind"], "call");
        assert_eq!(trace[0]["call"], "listen");
        assert_eq!(value["verdict"], Value::Null);
    }

    #[test]
    fn without_a_stack_iss_numbers_are_absolute() {
        let (run, text, value) = drawn("rfc9293", "closed-port");
        assert_eq!(run.stack_iss, None);
        line_with(&text, "(abs)");
        let rst = value["trace"].as_array().unwrap().iter().find(|r| r["kind"] == "outbound").unwrap();
        assert_eq!(rst["segment"]["rel_seq"], Value::Null);
    }

    #[test]
    fn every_seed_fits_120_columns_and_says_what_the_wide_diagram_says() {
        let oracle_model = model("rfc9293");
        for stack_name in Shipped::names() {
            let stack_model = model(stack_name);
            let mut stack = Reference::new(&stack_model, 7);
            let params = stack.params().clone();
            for seed in SEEDS {
                let run = Oracle::new(&oracle_model, params.clone()).run(&mut stack, &seed.script(), true);
                let draw =
                    |width| render(&run.trace, &oracle_model, &params, run.stack_iss, run.verdict.as_ref(), width);
                let (fit, wide) = (draw(Width::Fit), draw(Width::Wide));
                for line in fit.lines() {
                    assert!(
                        line.chars().count() <= FIT,
                        "{stack_name}, {}: {} columns:\n{line}",
                        seed.name,
                        line.len()
                    );
                }
                // The same characters, only laid out differently (a wide cell may touch the next).
                let ink = |text: &str| {
                    let mut chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
                    chars.sort_unstable();
                    chars
                };
                assert!(ink(&fit) == ink(&wide), "{stack_name}, {}: wrapping lost or added text", seed.name);
            }
        }
    }

    #[test]
    fn garbled_bytes_and_unknown_rows_do_not_panic() {
        let m = model("rfc9293");
        let stack = Reference::new(&m, 7);
        let transition = crate::endpoint::Transition {
            at: Instant::ZERO,
            input: crate::model::Input::Call(crate::model::Call::Close),
            from: crate::model::State::Closed,
            to: crate::model::State::Closed,
            row: usize::MAX,
        };
        let trace = [
            Record::Garbled { at: Instant::ZERO, bytes: vec![0xde, 0xad], error: "not an IPv4 packet".into() },
            Record::Row { at: Instant::ZERO, transition },
        ];
        let text = render(&trace, &m, stack.params(), None, None, Width::Wide);
        line_with(&text, "<-- malformed, 2 bytes: not an IPv4 packet");
        let value = to_json(&trace, &m, stack.params(), None, None);
        assert_eq!(value["trace"][0]["bytes"], "dead");
        assert_eq!(value["trace"][0]["step"], Value::Null);
    }
}
