//! Findings on disk: what `tcpcheck fuzz` saves and `tcpcheck replay` reads back.
//!
//! A finding file is JSON: the stack and models it was found with, the seed, the verdict it drew
//! and the script that draws it — small enough to read, review and commit. `replay` also takes
//! a libFuzzer artifact (the raw bytes of a `cargo fuzz` crash), decoded exactly as the fuzz
//! target decodes it. Every problem reading either is a diagnostic with `file:line:col`.

use arbitrary::{Arbitrary, Unstructured};
use serde::{Deserialize, Serialize};

use super::oracle::Verdict;
use super::script::Script;
use crate::model::{Kind, Problem, Problems, Source, Span};
use crate::wire::Family;

/// The format tag every finding file starts with; bumped when the script language changes.
pub const FORMAT: &str = "tcpcheck-finding/1";

/// A saved finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub format: String,
    /// The adapter: `reference`.
    pub stack: String,
    /// The table the reference stack ran (a shipped name or a path), if the stack runs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The oracle model (a shipped name or a path).
    pub oracle: String,
    /// The seed of the stack's own choices (its ISNs).
    pub seed: u64,
    /// The IP version of its packets: `ipv6` when it was found in IPv6; absent (the files of
    /// before IPv6 too) means IPv4.
    #[serde(default, skip_serializing_if = "is_ipv4")]
    pub family: Family,
    /// What the script drew when it was saved.
    pub verdict: Verdict,
    pub script: Script,
    /// What a person who read the run judged it to be, once it is committed under
    /// `tests/findings/STACK/` beside the stack's report; `tcpcheck matrix` reads it. Absent in
    /// what `fuzz` saves: nobody has judged it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Triage>,
}

fn is_ipv4(family: &Family) -> bool {
    *family == Family::V4
}

/// A triaged finding's judgement (`docs/findings/*.md` explain each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Triage {
    /// The stack does what the RFC says not to, or not what it says to.
    Bug,
    /// The RFC leaves it open, or it is a documented choice of the stack: a deviation from the
    /// table, not from the RFCs.
    Permitted,
    /// Our table or oracle does not model what the stack may do: a gap of tcpcheck's.
    Oracle,
    /// The harness that plays the stack's user does it differently from a socket user.
    Harness,
}

/// What a replayed file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Finding(Box<Finding>),
    /// A libFuzzer artifact: only a script; stack and models come from the command line.
    Artifact(Script),
}

impl Input {
    pub fn script(&self) -> &Script {
        match self {
            Input::Finding(f) => &f.script,
            Input::Artifact(s) => s,
        }
    }
}

/// Decodes fuzzer bytes into a script, as `fuzz/fuzz_targets/*.rs` and the fuzz loop do.
pub fn decode(bytes: &[u8]) -> Script {
    Script::arbitrary_take_rest(Unstructured::new(bytes)).unwrap_or_default()
}

impl Finding {
    pub fn to_json(&self) -> String {
        // A finding is plain data: serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Reads a replay file: JSON that starts with `{` is a finding, bytes that are not JSON an
/// artifact. An empty file, and JSON that is not an object (`null`, `[]`, a corpus script), are
/// errors: read as an artifact they would decode to an empty or unrelated script and "replay"
/// to no verdict.
pub fn read(name: &str, bytes: &[u8]) -> Result<Input, Problems> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) if text.trim_start().starts_with('{') => text,
        Ok(text) if !text.trim().is_empty() && serde_json::from_str::<serde_json::Value>(text).is_err() => {
            return Ok(Input::Artifact(decode(bytes)))
        }
        Ok(text) => {
            let source = Source::new(name, text);
            let what = if text.trim().is_empty() { "an empty file" } else { "JSON, but not a finding (an object)" };
            let p = Problem::new(
                Kind::BadFile,
                Span::new(0, text.len().min(1)),
                format!("{what}: nothing to replay"),
                "here",
            )
            .help(
                "replay takes a finding file (what `tcpcheck fuzz` saves under DIR/findings/) or a libFuzzer \
                     artifact (the raw bytes `cargo fuzz` saves); a file of DIR/corpus/ is a script, not a finding",
            );
            return Err(Problems::new(&source, vec![p]));
        }
        Err(_) => return Ok(Input::Artifact(decode(bytes))),
    };
    let source = Source::new(name, text);
    let problem = |line: usize, col: usize, message: String, help: &str| {
        let at = source.offset(line, col);
        // One character, or none at the end of the file: a label never leaves the text.
        let len = text.get(at..).and_then(|rest| rest.chars().next()).map_or(0, char::len_utf8);
        let p = Problem::new(Kind::BadFile, Span::new(at, len), message, "here").help(help);
        Problems::new(&source, vec![p])
    };
    let finding: Finding = serde_json::from_str(text).map_err(|e| {
        problem(
            e.line(),
            e.column().saturating_sub(1).max(1),
            format!("not a finding file: {e}"),
            "a finding file is what `tcpcheck fuzz` saves under DIR/findings/; regenerate it, or \
             fix the field named here (steps are written as in `tcpcheck fuzz --help`)",
        )
    })?;
    if finding.format != FORMAT {
        let at = text.find(&format!("\"{}\"", finding.format)).unwrap_or(0);
        let (line, col) = source.locate(at);
        return Err(problem(
            line,
            col,
            format!("unknown finding format `{}`", finding.format),
            &format!("this tcpcheck reads `{FORMAT}`"),
        ));
    }
    Ok(Input::Finding(Box::new(finding)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::script::SEEDS;
    use crate::conform::Check;

    fn finding() -> Finding {
        Finding {
            format: FORMAT.into(),
            stack: "reference".into(),
            model: Some("no-time-wait".into()),
            oracle: "rfc9293".into(),
            seed: 7,
            family: Family::V4,
            verdict: Verdict {
                check: Check::TimeWait2Msl,
                step: 4,
                at_us: 0,
                row: "models/rfc9293.tcp:200".into(),
                rule: "FIN-WAIT-2 FIN|ACK -> TIME-WAIT".into(),
                cite: "RFC 9293 3.10.7.4".into(),
                expected: "TIME-WAIT".into(),
                actual: "CLOSED".into(),
            },
            script: SEEDS[1].script(),
            triage: None,
        }
    }

    #[test]
    fn findings_round_trip() {
        let f = finding();
        assert_eq!(read("f.json", f.to_json().as_bytes()).unwrap(), Input::Finding(Box::new(f)));
    }

    #[test]
    fn the_family_is_written_for_ipv6_and_ipv4_is_the_default() {
        let six = Finding { family: Family::V6, ..finding() };
        let text = six.to_json();
        assert!(text.contains("\"family\": \"ipv6\""), "{text}");
        assert_eq!(read("f.json", text.as_bytes()).unwrap(), Input::Finding(Box::new(six)));
        // A file without the key (every file of before IPv6) is an IPv4 finding.
        assert!(!finding().to_json().contains("family"));
        let Input::Finding(old) = read("f.json", finding().to_json().as_bytes()).unwrap() else { panic!() };
        assert_eq!(old.family, Family::V4);
    }

    #[test]
    fn a_triage_is_read_and_written() {
        let f = Finding { triage: Some(Triage::Permitted), ..finding() };
        let text = f.to_json();
        assert!(text.contains("\"triage\": \"permitted\""), "{text}");
        assert_eq!(read("f.json", text.as_bytes()).unwrap(), Input::Finding(Box::new(f)));
        assert!(!finding().to_json().contains("triage"));
    }

    #[test]
    fn empty_files_and_json_that_is_not_a_finding_are_errors() {
        for text in ["", "  \n", "null", "[]", "[{\"user\": \"listen\"}]", "7"] {
            let err = read("x.json", text.as_bytes()).unwrap_err();
            assert!(err.render_plain().contains("nothing to replay"), "{text:?}: {}", err.render_plain());
        }
    }

    #[test]
    fn raw_bytes_are_an_artifact() {
        let bytes = [3u8, 1, 4, 1, 5, 9, 2, 6];
        assert_eq!(read("crash-1", &bytes).unwrap(), Input::Artifact(decode(&bytes)));
    }

    #[test]
    fn a_bad_step_points_at_its_line_and_column() {
        let text = finding().to_json().replacen("\"msl\"", "\"msx\"", 1);
        let err = read("bad.json", text.as_bytes()).unwrap_err();
        let location = err.problems[0].location();
        let line = text.lines().position(|l| l.contains("msx")).unwrap() + 1;
        assert!(location.starts_with(&format!("bad.json:{line}:")), "{location}");
        assert!(err.render_plain().contains("unknown variant"), "{}", err.render_plain());
    }

    #[test]
    fn an_error_at_the_end_points_inside_the_file() {
        for text in ["{", "{\"format\": \"é", "{\n"] {
            let err = read("end.json", text.as_bytes()).unwrap_err();
            let (span, _) = err.problems[0].labels[0];
            assert!(span.end() <= text.len(), "{text:?}: {span:?}");
        }
    }

    #[test]
    fn truncated_and_foreign_files_are_errors_not_panics() {
        let text = finding().to_json();
        for cut in [1, text.len() / 3, text.len() / 2, text.len() - 3] {
            assert!(read("cut.json", &text.as_bytes()[..cut]).is_err(), "cut at {cut}");
        }
        let other = text.replace(FORMAT, "tcpcheck-finding/99");
        let err = read("v99.json", other.as_bytes()).unwrap_err();
        assert!(err.render_plain().contains("tcpcheck-finding/1"));
    }
}
