//! `tcpcheck report [DIR]`: one self-contained HTML page for a fuzz output directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tcpcheck::conform::finding::{self, Finding, Input};
use tcpcheck::conform::{diagram, Oracle};
use tcpcheck::export::machine::{Fold, Machine, Paint};
use tcpcheck::export::report::{self, anchor, escape, Page};
use tcpcheck::export::{ladder, packetdrill, pcap};
use tcpcheck::model::Model;
use tcpcheck::simulate::columns::Width;

use super::fuzz::{make_stack, Models, StackArg};
use super::{load_model, CliError, OK};

/// Write an HTML report of a fuzz output directory, to open in a browser.
///
/// DIR is what `tcpcheck fuzz --corpus DIR` wrote (corpus/, findings/ and coverage.json). The
/// report shows the oracle table as a state machine coloured by the last run's coverage, and
/// every finding grouped by check and table row, each replayed to its verdict and drawn, with
/// its RFC section and its finding file, pcap and packetdrill script to download. The page is
/// one file that loads nothing: it can be mailed or archived as it is. Exit 0 when written,
/// 2 on bad input. (`tcpcheck check --html FILE` writes the same kind of page for a check.)
#[derive(clap::Args)]
pub struct Args {
    /// A fuzz output directory [default: fuzz-out]
    dir: Option<PathBuf>,
    /// Where to write the page [default: DIR/report.html]
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn bad_dir(dir: &Path, what: &str) -> CliError {
    CliError(format!(
        "error: {}: {what}\n  help: name a directory that `tcpcheck fuzz --corpus DIR` wrote (it holds corpus/ and \
         findings/), or run `tcpcheck fuzz` first (it writes fuzz-out/)\n",
        dir.display()
    ))
}

/// What `fuzz` recorded of its last run's coverage (`DIR/coverage.json`).
struct Recorded {
    stack: String,
    oracle: String,
    runs: u64,
    /// Hits by the row's `file:line`.
    hits: BTreeMap<String, u32>,
}

fn read_coverage(path: &Path) -> Result<Option<Recorded>, CliError> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(None) };
    let bad = |what: String| {
        CliError(format!(
            "error: {}: {what}\n  help: the file is what `tcpcheck fuzz` writes; run fuzz again to rewrite it\n",
            path.display()
        ))
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("{}:{}: not JSON: {e}", e.line(), e.column())))?;
    if value["format"] != "tcpcheck-coverage/1" {
        return Err(bad(format!("format is {}, expected \"tcpcheck-coverage/1\"", value["format"])));
    }
    let text_of = |key: &str| value[key].as_str().map(str::to_string).ok_or_else(|| bad(format!("no `{key}`")));
    let mut hits = BTreeMap::new();
    for row in value["rows"].as_array().ok_or_else(|| bad("no `rows`".into()))? {
        let (Some(at), Some(n)) = (row["row"].as_str(), row["hits"].as_u64()) else {
            return Err(bad(format!("a row is not {{\"row\": \"file:line\", \"hits\": N}}: {row}")));
        };
        hits.insert(at.to_string(), u32::try_from(n).unwrap_or(u32::MAX));
    }
    Ok(Some(Recorded {
        stack: text_of("stack")?,
        oracle: text_of("oracle")?,
        runs: value["runs"].as_u64().unwrap_or(0),
        hits,
    }))
}

/// A finding replayed: its run drawn, and the files it comes with.
struct Replayed {
    picture: String,
    pcap: Option<Vec<u8>>,
    packetdrill: String,
    /// When the verdict now differs from the one saved.
    changed: Option<String>,
}

fn replay(name: &str, f: &Finding) -> Result<Replayed, CliError> {
    let kind = StackArg::parse(&f.stack).map_err(|e| CliError(format!("{name}: {e}")))?;
    let model = f.model.as_deref().filter(|_| kind == StackArg::Reference);
    let models = Models::for_stack(&kind, model, Some(&f.oracle))?;
    let mut stack = make_stack(&kind, &models, f.seed, f.family)?;
    let params = stack.params().clone();
    let run = Oracle::new(&models.oracle, params.clone()).run(stack.as_mut(), &f.script, true);
    let verdict = run.verdict.as_ref();
    let drawn =
        ladder::from_run(&format!("replay {name}"), &run.trace, &models.oracle, &params, run.stack_iss, verdict);
    let text = diagram::render(&run.trace, &models.oracle, &params, run.stack_iss, verdict, Width::Wide);
    let picture = report::inline_svg(&ladder::svg::write(&drawn))
        + &format!("<details><summary>as text</summary>{}</details>\n", report::pre(&text));
    let changed = match verdict {
        Some(v) if v.key() == f.verdict.key() => None,
        Some(v) => Some(format!("now {} at {}", v.check, v.row)),
        None => Some("no verdict now".into()),
    };
    let header = format!("tcpcheck replay {name}\n{}", f.verdict);
    Ok(Replayed {
        picture,
        pcap: pcap::pcap(&run.trace, &params).ok(),
        packetdrill: packetdrill::packetdrill(&run.trace, &params, run.stack_iss, &header),
        changed,
    })
}

/// The page's section for one finding.
/// `base` is the directory links are relative to: the report's own.
fn finding_html(path: &Path, base: &Path, bytes: &[u8], f: &Finding) -> String {
    let name = path.display().to_string();
    let file = path.file_name().map_or(name.clone(), |n| n.to_string_lossy().into_owned());
    let stem = file.trim_end_matches(".json");
    let relative = path.strip_prefix(base).unwrap_or(path).display().to_string();
    let mut out = format!(
        "<div class=\"finding\" id=\"{}\">\n<h3>{} on {} &#8212; <code>{}</code></h3>\n",
        anchor(stem),
        escape(&f.verdict.check.to_string()),
        escape(&f.stack),
        escape(&relative)
    );
    out += &report::verdict_facts(&f.verdict);
    let mut files = vec![
        report::download(&file, "application/json", bytes, "finding (JSON)"),
        format!("<a href=\"{}\">{}</a>", escape(&relative), escape(&relative)),
    ];
    match replay(&name, f) {
        Ok(r) => {
            if let Some(pcap) = &r.pcap {
                files.push(report::download(&format!("{stem}.pcap"), "application/vnd.tcpdump.pcap", pcap, "pcap"));
            }
            files.push(report::download(&format!("{stem}.pkt"), "text/plain", r.packetdrill.as_bytes(), "packetdrill"));
            let _ = std::fmt::Write::write_fmt(
                &mut out,
                format_args!(
                    "<p class=\"files\">{} &#8212; replay: <code>tcpcheck replay {}</code></p>\n",
                    files.join(" "),
                    escape(&name)
                ),
            );
            if let Some(changed) = &r.changed {
                out += &format!("<p class=\"warn\">Replayed here, the verdict changed: {}.</p>\n", escape(changed));
            }
            out += &r.picture;
            out +=
                &format!("<details><summary>packetdrill script</summary>{}</details>\n", report::pre(&r.packetdrill));
        }
        Err(e) => {
            out += &format!("<p class=\"files\">{}</p>\n", files.join(" "));
            out +=
                &format!("<p class=\"warn\">Not replayed here, so not drawn: {}</p>\n", escape(e.to_string().trim()));
        }
    }
    out + "</div>\n"
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("fuzz-out"));
    if !dir.exists() {
        return Err(bad_dir(&dir, "no such directory"));
    }
    if !dir.is_dir() {
        return Err(bad_dir(&dir, "not a directory"));
    }
    let findings_dir = dir.join("findings");
    let recorded = read_coverage(&dir.join("coverage.json"))?;
    if recorded.is_none() && !findings_dir.is_dir() && !dir.join("corpus").is_dir() {
        return Err(bad_dir(&dir, "not a fuzz output directory (no corpus/, findings/ or coverage.json)"));
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&findings_dir)
        .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    paths.sort();
    let mut findings: Vec<(PathBuf, Vec<u8>, Finding)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|e| CliError(format!("error: failed to read {name}: {e}\n")))?;
        match finding::read(&name, &bytes) {
            Ok(Input::Finding(f)) => findings.push((path, bytes, *f)),
            Ok(Input::Artifact(_)) => skipped.push(format!("{name}: not a finding file (raw bytes)")),
            Err(e) => skipped.push(format!("{name}: {}", e.render_plain().trim())),
        }
    }
    for s in &skipped {
        eprintln!("warning: skipped {s}");
    }
    // The machine is the oracle's: the one coverage was recorded against, else the findings'.
    let oracle_name =
        recorded.as_ref().map(|r| r.oracle.clone()).or_else(|| findings.first().map(|(_, _, f)| f.oracle.clone()));
    let oracle = load_model(oracle_name.as_deref())?;
    let hits: Option<Vec<u32>> = recorded.as_ref().and_then(|r| {
        let hits: Vec<Option<u32>> = oracle.rows().iter().map(|row| r.hits.get(&row.location()).copied()).collect();
        hits.into_iter().collect()
    });

    let title = format!("tcpcheck fuzz report: {}", dir.display());
    let mut page = Page::new(&title);
    page.push(&summary(&dir, recorded.as_ref(), &oracle, hits.as_deref(), &findings));
    page.push("<h2>The oracle's state machine</h2>\n");
    let machine = match &hits {
        Some(hits) => Machine::of_model(&oracle, Paint::Coverage(hits), Fold::default()),
        None => {
            page.push(&format!(
                "<p class=\"warn\">{}</p>\n",
                match &recorded {
                    Some(_) => "coverage.json was recorded for another version of this table: drawn without coverage",
                    None => "no coverage.json (fuzz writes it since this version): drawn without coverage",
                }
            ));
            Machine::of_model(&oracle, Paint::Kind, Fold::default())
        }
    };
    page.push(&report::inline_svg_fit(&machine.svg("machine")));
    let output = args.output.unwrap_or_else(|| dir.join("report.html"));
    // Links to the finding files are relative to where the page is, if they are below it.
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let base = absolute(output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")));
    let findings: Vec<(PathBuf, Vec<u8>, Finding)> =
        findings.into_iter().map(|(path, bytes, f)| (absolute(&path), bytes, f)).collect();
    page.push(&findings_html(&base, &findings));
    if !skipped.is_empty() {
        page.push("<h2>Files skipped</h2>\n<ul>\n");
        for s in &skipped {
            page.push(&format!("<li><pre>{}</pre></li>\n", escape(s)));
        }
        page.push("</ul>\n");
    }
    std::fs::write(&output, page.html()).map_err(|e| {
        CliError(format!("error: failed to write {}: {e}\n  help: choose another file with -o\n", output.display()))
    })?;
    eprintln!("wrote {}: {} findings", output.display(), findings.len());
    Ok(OK)
}

fn summary(
    dir: &Path,
    recorded: Option<&Recorded>,
    oracle: &Model,
    hits: Option<&[u32]>,
    findings: &[(PathBuf, Vec<u8>, Finding)],
) -> String {
    // The last run's stack, as it names itself; else the findings'.
    let mut stacks: Vec<&str> = match recorded {
        Some(r) => vec![r.stack.as_str()],
        None => findings.iter().map(|(_, _, f)| f.stack.as_str()).collect(),
    };
    stacks.sort();
    stacks.dedup();
    let corpus = std::fs::read_dir(dir.join("corpus")).map_or(0, |e| e.count());
    let mut facts = vec![
        ("directory", format!("<code>{}</code>", escape(&dir.display().to_string()))),
        ("stack", escape(&stacks.join(", "))),
        ("oracle", format!("<code>{}</code> ({} rows)", escape(oracle.name()), oracle.rows().len())),
        ("corpus", format!("{corpus} scripts")),
        ("findings", format!("{} (one per check and row)", findings.len())),
    ];
    if let (Some(r), Some(hits)) = (recorded, hits) {
        let fired = hits.iter().filter(|&&n| n > 0).count();
        facts.push(("last run", format!("{} runs; {fired}/{} rows fired", r.runs, hits.len())));
    }
    report::facts(&facts)
}

/// Findings grouped by check, then by table row, with an index first.
fn findings_html(base: &Path, findings: &[(PathBuf, Vec<u8>, Finding)]) -> String {
    let mut by_check: BTreeMap<String, BTreeMap<(u64, String), Vec<usize>>> = BTreeMap::new();
    for (i, (_, _, f)) in findings.iter().enumerate() {
        let line = f.verdict.row.rsplit(':').next().and_then(|l| l.parse().ok()).unwrap_or(0);
        by_check
            .entry(f.verdict.check.to_string())
            .or_default()
            .entry((line, f.verdict.row.clone()))
            .or_default()
            .push(i);
    }
    let mut out = format!("<h2>Findings ({})</h2>\n", findings.len());
    if findings.is_empty() {
        return out + "<p class=\"ok\">No findings: every run drew the rows the oracle expected.</p>\n";
    }
    out += "<table class=\"list\"><tr><th>check</th><th>row</th><th>rule</th><th>RFC</th><th>findings</th></tr>\n";
    for (check, rows) in &by_check {
        for ((_, row), list) in rows {
            let f = &findings[list[0]].2;
            let links: Vec<String> = list
                .iter()
                .map(|&i| {
                    let path = &findings[i].0;
                    let stem = path
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().trim_end_matches(".json").to_string());
                    format!("<a href=\"#{}\">{}</a>", anchor(&stem), escape(&findings[i].2.stack))
                })
                .collect();
            out += &format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                escape(check),
                escape(row),
                escape(&f.verdict.rule),
                report::cite_links(&f.verdict.cite),
                links.join(" ")
            );
        }
    }
    out += "</table>\n";
    for (check, rows) in &by_check {
        out += &format!(
            "<h2>{} &#8212; {}</h2>\n",
            escape(check),
            escape(findings[rows.values().next().map_or(0, |l| l[0])].2.verdict.check.about())
        );
        for list in rows.values() {
            for &i in list {
                let (path, bytes, f) = &findings[i];
                out += &finding_html(path, base, bytes, f);
            }
        }
    }
    out
}

/// What `check --html` shows.
pub struct CheckView<'a> {
    pub model: &'a Model,
    /// The command as run, to say what the page is of.
    pub command: String,
    pub properties: &'a [tcpcheck::explore::Property],
    /// The violated property, what happened, and the counterexample drawn.
    pub violation: Option<(tcpcheck::explore::Property, String, String)>,
    /// Why the search stopped early, if it did.
    pub stopped: Option<&'static str>,
    /// The summary line (states, depth, time, memory).
    pub summary: String,
    /// The reachable (A, B) pairs as DOT, with the counterexample's path in red.
    pub pairs_dot: Option<String>,
}

/// Writes `view` as one self-contained HTML page at `path`.
pub fn write_check(path: &Path, view: &CheckView<'_>) -> Result<(), CliError> {
    let mut page = Page::new(&format!("tcpcheck check report: {}", view.model.name()));
    let result = match (&view.violation, view.stopped) {
        (Some((p, _, _)), _) => format!("<span class=\"bad\">{} is violated</span>", escape(p.name())),
        (None, Some(why)) => {
            format!("<span class=\"warn\">stopped early ({}): nothing is verified</span>", escape(why))
        }
        (None, None) => "<span class=\"ok\">all properties hold</span>".to_string(),
    };
    page.push(&report::facts(&[
        ("command", format!("<code>{}</code>", escape(&view.command))),
        ("model", format!("<code>{}</code> ({})", escape(view.model.name()), escape(&view.model.table().source.name))),
        ("result", result),
        ("search", escape(&view.summary)),
    ]));
    page.push("<h2>Properties</h2>\n<table class=\"list\"><tr><th>property</th><th>result</th><th>what it says, and why</th></tr>\n");
    for &p in view.properties {
        let status = match (&view.violation, view.stopped) {
            (Some((v, _, _)), _) if *v == p => "<span class=\"bad\">violated</span>",
            // The search stops at the first violation: the others are not verified.
            (Some(_), _) | (None, Some(_)) => "<span class=\"warn\">not verified</span>",
            (None, None) => "<span class=\"ok\">holds</span>",
        };
        page.push(&format!(
            "<tr><td><code>{}</code></td><td>{status}</td><td>{}</td></tr>\n",
            escape(p.name()),
            escape(p.reason())
        ));
    }
    page.push("</table>\n");
    if let Some((p, what, picture)) = &view.violation {
        page.push(&format!("<h2>Counterexample: {}</h2>\n<p>{}</p>\n{picture}", escape(p.name()), escape(what)));
    }
    if let Some(dot) = &view.pairs_dot {
        page.push("<h2>Reachable (A, B) state pairs</h2>\n<p>Each edge is labelled with the number of steps it stands for; the counterexample's path is red.</p>\n");
        page.push(&match report::layout_dot(dot) {
            Ok(svg) => report::inline_svg(&svg),
            Err(e) => format!("<p class=\"warn\">the graph could not be laid out: {}</p>\n", escape(&e)),
        });
    }
    page.push("<h2>The model's state machine</h2>\n");
    page.push(&report::inline_svg_fit(&Machine::of_model(view.model, Paint::Kind, Fold::default()).svg("machine")));
    std::fs::write(path, page.html()).map_err(|e| {
        CliError(format!(
            "error: failed to write {}: {e}\n  help: check that the directory exists and is writable\n",
            path.display()
        ))
    })?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
