//! End-to-end tests of variants: tables written as changes to another table. Files on disk
//! extend shipped models and each other by relative path; `show` prints the flattened table,
//! `diff VARIANT` its changes, DOT and JSON each row's file; mistakes point at the variant's
//! line with the base row as a note; cycles and missing bases are bad input.

mod support;

use std::path::PathBuf;

use support::{stderr, stdout, tcpcheck};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A variant of the shipped rfc9293 that answers a SYN in LISTEN with nothing, and one on top
/// of it (by relative path) that also drops a SYN+FIN there.
fn two_layers(dir: &tempfile::TempDir) -> (String, String) {
    let first = write(
        dir,
        "quiet.tcp",
        "# LISTEN ignores RSTs and pure ACKs alike.\nmodel quiet\nextends rfc9293\n\n\
         replace LISTEN ACK|* -> LISTEN @ 3.10.7.2\n",
    );
    let second = write(
        dir,
        "quieter.tcp",
        "model quieter\nextends ./quiet.tcp\nmsl 30s\n\
         insert before LISTEN SYN|*: LISTEN SYN|FIN|* -> LISTEN @ 3.10.7.2\n",
    );
    (first, second)
}

#[test]
fn a_variant_on_disk_extends_a_shipped_model_and_another_file() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_layers(&dir);
    let out = tcpcheck(&["validate", &first, &second]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("model quiet, 220 rows") && text.contains("a variant of rfc9293 (1 change)"), "{text}");
    assert!(text.contains("model quieter, 221 rows") && text.contains("msl 30s, a variant of ./quiet.tcp"), "{text}");

    // `show` prints the flattened table: a whole table that validates by itself.
    let shown = stdout(&tcpcheck(&["show", &second]));
    assert!(shown.starts_with("model quieter\nrfc 9293\nmsl 30s\n"), "{shown}");
    let flat = write(&dir, "flat.tcp", &shown);
    let out = tcpcheck(&["validate", &flat]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // `diff VARIANT` compares it with its base: one row added.
    let out = tcpcheck(&["diff", &second]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains(&format!("+ {second}:4  LISTEN SYN|FIN|* -> LISTEN @ RFC 9293 3.10.7.2")), "{text}");
    assert!(text.contains("~ msl: 2min -> 30s"), "{text}");
}

#[test]
fn dot_and_json_name_each_rows_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_, second) = two_layers(&dir);
    let json: serde_json::Value =
        serde_json::from_slice(&tcpcheck(&["show", &second, "--format", "json"]).stdout).unwrap();
    assert_eq!(json["extends"]["base"], "./quiet.tcp");
    let rows = json["rows"].as_array().unwrap();
    let file_of = |input: &str| {
        let row = rows.iter().find(|r| r["from"] == "LISTEN" && r["input"] == input).unwrap();
        (row["file"].as_str().unwrap().to_string(), row["line"].as_u64().unwrap())
    };
    assert_eq!(file_of("SYN|FIN|*"), (second.clone(), 4));
    assert!(file_of("ACK|*").0.ends_with("quiet.tcp"), "{:?}", file_of("ACK|*"));
    assert_eq!(file_of("RST|*").0, "models/rfc9293.tcp");

    let dot = stdout(&tcpcheck(&["show", &second, "--format", "dot"]));
    // Each row's tooltip names its file and line; the grey notes name the file only for rows
    // outside the file most rows come from (here the base, models/rfc9293.tcp).
    assert!(dot.contains(&format!("{second}:4  LISTEN SYN|FIN|* -&gt; LISTEN")), "own rows by file:line");
    assert!(dot.contains("models/rfc9293.tcp:116  LISTEN"), "inherited rows by file:line");
    assert!(dot.contains(",quieter:4<"), "the variant's own row marked with its file");
    assert!(dot.contains("lines of models/rfc9293.tcp"), "the notes say whose lines they are");
}

#[test]
fn a_mistake_points_at_the_variants_line_with_the_base_row_as_a_note() {
    let dir = tempfile::tempdir().unwrap();
    // Without the catch-all, LISTEN misses segments: blamed on the `remove`, not on rfc9293.tcp.
    let broken = write(&dir, "broken.tcp", "model broken\nextends rfc9293\n\nremove LISTEN *\n");
    let out = tcpcheck(&["validate", &broken]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("tcpcheck::non-exhaustive"), "{err}");
    assert!(err.contains(&format!("{broken}:4:1]")), "{err}");
    assert!(err.contains("in the flattened table, at models/rfc9293.tcp:118:1"), "{err}");

    let wrong_key = write(&dir, "key.tcp", "model key\nextends rfc9293\nremove TIME-WAIT RST|* rst-exact\n");
    let err = stderr(&tcpcheck(&["validate", &wrong_key]));
    assert!(err.contains("no row `TIME-WAIT RST|* rst-exact` to remove"), "{err}");
    assert!(err.contains("did you mean `TIME-WAIT RST|*`?"), "{err}");
}

#[test]
fn cycles_and_missing_bases_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(&dir, "a.tcp", "model a\nextends b.tcp\n");
    write(&dir, "b.tcp", "model b\nextends ./a.tcp\n");
    let out = tcpcheck(&["validate", &a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("leads back to itself"), "{}", stderr(&out));

    let lost = write(&dir, "lost.tcp", "model lost\nextends rfc9294\n");
    let out = tcpcheck(&["show", &lost]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cannot find the base `rfc9294`") && err.contains("shipped: rfc9293"), "{err}");
    let out = tcpcheck(&["diff", "rfc9293"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("extends no other model"), "{}", stderr(&out));
}

#[test]
fn every_shipped_mutant_is_a_short_delta() {
    for (path, text) in [
        ("no-time-wait", include_str!("../models/mutants/no-time-wait.tcp")),
        ("two-packet-handshake", include_str!("../models/mutants/two-packet-handshake.tcp")),
        ("no-2msl-restart", include_str!("../models/mutants/no-2msl-restart.tcp")),
        ("rst-closes-time-wait", include_str!("../models/mutants/rst-closes-time-wait.tcp")),
    ] {
        let rows = text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).count();
        assert!(text.contains("\nextends rfc9293\n") && rows <= 30, "{path}: {rows} lines");
    }
}
