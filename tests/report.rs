//! End-to-end tests of the pictures and pages: `show --format svg`, `tcpcheck report DIR` on a
//! fuzz output directory, and `check --html`. Every SVG and page the tool writes is parsed as
//! XML; the browser test (`scripts/browser-check`, in CI) opens the pages in Chromium.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tcpcheck");

fn tcpcheck(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().expect("run tcpcheck")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A page's markup from `<html>` on, parsed as XML: the pages are written to be well-formed,
/// so every inline SVG in them is checked too.
#[track_caller]
fn parse_page(html: &str) -> roxmltree::Document<'_> {
    let at = html.find("<html").expect("an <html> element");
    roxmltree::Document::parse(&html[at..]).unwrap_or_else(|e| panic!("not well-formed: {e}"))
}

fn count(doc: &roxmltree::Document<'_>, tag: &str, class: Option<&str>) -> usize {
    doc.descendants().filter(|n| n.has_tag_name(tag) && class.is_none_or(|c| n.attribute("class") == Some(c))).count()
}

#[test]
fn show_svg_is_one_page_with_every_state() {
    let dir = tempfile::tempdir().unwrap();
    let out = tcpcheck(dir.path(), &["show", "no-time-wait", "--format", "svg"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let svg = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name("svg"));
    // Shown whole on a 1600x1200 screen, its 10 px text stays at 9 px or more.
    let size = |a: &str| root.attribute(a).unwrap().parse::<f64>().unwrap();
    assert!((1600.0 / size("width")).min(1200.0 / size("height")) >= 0.9, "{} x {}", size("width"), size("height"));
    for state in [
        "CLOSED",
        "LISTEN",
        "SYN-SENT",
        "SYN-RECEIVED",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "CLOSE-WAIT",
        "CLOSING",
        "LAST-ACK",
    ] {
        assert!(doc.descendants().any(|n| n.has_tag_name("text") && n.text() == Some(state)), "{state}");
    }
    // no-time-wait never enters TIME-WAIT: the table has no box for it.
    assert!(!doc.descendants().any(|n| n.has_tag_name("text") && n.text() == Some("TIME-WAIT")));
}

#[test]
fn report_of_a_fuzz_directory_shows_every_finding_with_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        tcpcheck(dir.path(), &["fuzz", "--model", "no-time-wait", "--runs", "2000", "--jobs", "1", "--corpus", "out"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let findings = std::fs::read_dir(dir.path().join("out/findings")).unwrap().count();
    assert!(findings > 0);
    let coverage: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/coverage.json")).unwrap()).unwrap();
    assert_eq!(coverage["format"], "tcpcheck-coverage/1");
    assert_eq!(coverage["oracle"], "rfc9293");

    let out = tcpcheck(dir.path(), &["report", "out"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    let doc = parse_page(&html);
    assert_eq!(count(&doc, "div", Some("finding")), findings);
    // The coverage-coloured machine, and each finding's run as a ladder.
    assert!(html.contains("never fired"), "coverage key");
    assert_eq!(count(&doc, "svg", None), 1 + findings);
    // Each finding's file, pcap and packetdrill script travel inside the page.
    let links =
        |prefix: &str| doc.descendants().filter(|n| n.attribute("href").is_some_and(|h| h.starts_with(prefix))).count();
    assert_eq!(links("data:application/json;base64,"), findings);
    assert_eq!(links("data:application/vnd.tcpdump.pcap;base64,"), findings);
    assert_eq!(links("data:text/plain;base64,"), findings);
    assert!(links("https://www.rfc-editor.org/rfc/rfc9293#section-") >= findings);
    // Nothing is loaded from anywhere.
    assert!(!doc.descendants().any(|n| n.has_tag_name("script") || n.attribute("src").is_some()));
    assert!(html.contains("default-src 'none'"));
}

#[test]
fn report_refuses_what_is_not_a_fuzz_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = tcpcheck(dir.path(), &["report", "missing"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing: no such directory"), "{}", stderr(&out));
    assert!(stderr(&out).contains("help:"));

    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let out = tcpcheck(dir.path(), &["report", "empty"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a fuzz output directory"), "{}", stderr(&out));

    std::fs::write(dir.path().join("file"), "x").unwrap();
    let out = tcpcheck(dir.path(), &["report", "file"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));

    std::fs::create_dir(dir.path().join("bad")).unwrap();
    std::fs::write(dir.path().join("bad/coverage.json"), "{\"format\": \"tcpcheck-coverage/1\",\n \"rows\": 7")
        .unwrap();
    let out = tcpcheck(dir.path(), &["report", "bad"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("coverage.json: 2:"), "{}", stderr(&out));
}

#[test]
fn report_skips_a_broken_finding_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("out/findings")).unwrap();
    std::fs::write(dir.path().join("out/findings/x.json"), "{\"format\": 3}").unwrap();
    let out = tcpcheck(dir.path(), &["report", "out", "-o", "page.html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: skipped out/findings/x.json"), "{}", stderr(&out));
    let html = std::fs::read_to_string(dir.path().join("page.html")).unwrap();
    let doc = parse_page(&html);
    assert_eq!(count(&doc, "div", Some("finding")), 0);
    assert!(html.contains("Files skipped"));
    assert!(html.contains("no coverage.json"));
}

#[test]
fn check_html_shows_the_counterexample_and_the_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let out = tcpcheck(dir.path(), &["check", "no-time-wait", "--data", "0", "--html", "check.html"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let html = std::fs::read_to_string(dir.path().join("check.html")).unwrap();
    let doc = parse_page(&html);
    assert!(html.contains("orderly-close is violated"));
    assert!(html.contains("Counterexample: orderly-close"));
    // The counterexample's ladder, the pairs graph (laid out in process) and the model's machine.
    assert_eq!(count(&doc, "svg", None), 3);
    assert!(html.contains("A: CLOSED"));

    let out = tcpcheck(dir.path(), &["check", "--loss", "0", "--data", "0", "--html", "ok.html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(dir.path().join("ok.html")).unwrap();
    parse_page(&html);
    assert!(html.contains("all properties hold"));
    assert_eq!(html.matches(">holds<").count(), 6);
}

#[test]
fn the_readmes_machine_is_what_show_draws() {
    let dir = tempfile::tempdir().unwrap();
    let out = tcpcheck(dir.path(), &["show", "--format", "svg"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rfc9293-machine.svg");
    if std::env::var_os("TCPCHECK_BLESS").is_some() {
        std::fs::write(&committed, &out.stdout).unwrap();
    }
    let text = std::fs::read_to_string(&committed).unwrap();
    assert!(
        text.as_bytes() == out.stdout,
        "docs/rfc9293-machine.svg is not what `tcpcheck show --format svg` draws: TCPCHECK_BLESS=1 cargo test --test report regenerates it"
    );
}
