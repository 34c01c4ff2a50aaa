//! `tcpcheck diff MODEL_A MODEL_B`: rows removed, added and changed, and apart from them rows
//! only cited differently; `tcpcheck diff VARIANT`: the variant's rows against its base.

use std::process::ExitCode;

use serde_json::{json, Value};
use tcpcheck::export::json::row_json;
use tcpcheck::model::diff::{diff, first_disagreement, header_changes, Change, Disagreement};
use tcpcheck::model::{Model, Row, Table};

use super::{finding, load_model, CliError, OK};

/// Show how two models differ, row by row.
///
/// Rows are matched by (state, input, guard). A matched row whose target or actions differ is
/// "changed"; one that does the same but cites another reason is listed apart, under "cited
/// differently", so a re-cited table does not read as one that behaves differently. Citations
/// are compared as qualified (`3.10.1` in an RFC 9293 table is `RFC 9293 3.10.1`). Each side is
/// shown with its file:line. With one model, a variant, it is compared with the base it
/// extends. The last line says whether the two behave alike in every case (rows split or
/// merged differently, or cited differently, still do), or names the first case they answer
/// differently. Exits 1 if the models differ in anything, citations included.
#[derive(clap::Args)]
pub struct Args {
    /// The model to compare from (table file or shipped name); alone, a variant to compare with its base
    a: String,
    /// The model to compare to
    b: Option<String>,
    /// Print the differences as one JSON object (docs/json.md)
    #[arg(long)]
    json: bool,
}

/// `file:line  FROM INPUT [GUARD] -> TO [ACTIONS] @ CITE`, the citation qualified by the table's RFC.
fn located(table: &Table, row: &Row) -> String {
    let r = &row.rule;
    let mut text = format!("{}  {} {}", table.row_location(row), r.from, r.input);
    if !r.guard.is_empty() {
        text.push_str(&format!(" {}", r.guard));
    }
    text.push_str(&format!(" -> {}", r.to));
    let actions: Vec<String> = r.actions.iter().map(|a| a.to_string()).collect();
    if !actions.is_empty() {
        text.push_str(&format!(" {}", actions.join("; ")));
    }
    text.push_str(&format!(" @ {}", r.cite.qualified(table.rfc)));
    text
}

/// How many changes of each kind: removed, added, changed, re-cited.
fn counts(changes: &[Change]) -> [usize; 4] {
    let mut n = [0; 4];
    for change in changes {
        n[match change {
            Change::Removed(_) => 0,
            Change::Added(_) => 1,
            Change::Changed(..) => 2,
            Change::Recited(..) => 3,
        }] += 1;
    }
    n
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let a = load_model(Some(&args.a))?;
    let (a, b) = match &args.b {
        Some(b) => (a, load_model(Some(b))?),
        None => match a.table().variant.clone() {
            Some(variant) => (variant.base.clone().validate()?, a),
            None => {
                return Err(CliError(format!(
                    "error: {} extends no other model, so there is nothing to compare it with\n  \
                     help: give two models, e.g. `tcpcheck diff rfc793 {}`, or a variant (a table that says `extends`)\n",
                    args.a, args.a
                )))
            }
        },
    };
    let (ta, tb) = (a.table(), b.table());
    let comparison = Comparison {
        a: &a,
        b: &b,
        headers: header_changes(ta, tb),
        changes: diff(ta, tb),
        disagreement: first_disagreement(&a, &b),
    };
    if args.json {
        println!("{}", comparison.json());
    } else {
        print!("{}", comparison.text());
    }
    Ok(if comparison.same() { OK } else { finding() })
}

/// Two models and how they differ: header fields, rows, and the first case they answer differently.
struct Comparison<'m> {
    a: &'m Model,
    b: &'m Model,
    headers: Vec<(&'static str, String, String)>,
    changes: Vec<Change<'m>>,
    disagreement: Option<Disagreement<'m>>,
}

impl Comparison<'_> {
    /// Nothing differs, citations and header included.
    fn same(&self) -> bool {
        self.changes.is_empty() && self.headers.is_empty()
    }

    fn text(&self) -> String {
        let Comparison { a, b, headers, changes, disagreement } = self;
        let (ta, tb) = (a.table(), b.table());
        let mut out = String::new();
        for (field, x, y) in headers {
            out += &format!("~ {field}: {x} -> {y}\n");
        }
        let [removed, added, changed, recited] = counts(changes);
        for change in changes {
            match change {
                Change::Removed(row) => out += &format!("- {}\n", located(ta, row)),
                Change::Added(row) => out += &format!("+ {}\n", located(tb, row)),
                Change::Changed(x, y) => out += &format!("~ {}\n  {}\n", located(ta, x), located(tb, y)),
                Change::Recited(..) => {}
            }
        }
        if recited > 0 {
            out +=
                &format!("cited differently, doing the same ({recited} row{}):\n", if recited == 1 { "" } else { "s" });
            for change in changes {
                if let Change::Recited(x, y) = change {
                    out += &format!(
                        "@ {}\n  {}  @ {}\n",
                        located(ta, x),
                        tb.row_location(y),
                        y.rule.cite.qualified(tb.rfc)
                    );
                }
            }
        }
        out += &format!(
            "{}: {removed} removed, {added} added, {changed} changed, {recited} cited differently ({} vs {})\n",
            if self.same() { "same" } else { "differ" },
            ta.source.name,
            tb.source.name
        );
        match disagreement {
            None => out += "behaviour: the same in every case\n",
            Some(d) => {
                let fired = |r: Option<&Row>| r.map_or("no row".to_string(), |r| r.location());
                out += &format!(
                    "behaviour: differs, first in {} on {} when {}: {} fires {}, {} fires {}\n",
                    d.state,
                    d.input,
                    when(d),
                    ta.name,
                    fired(d.rows[0]),
                    tb.name,
                    fired(d.rows[1])
                );
            }
        }
        out
    }

    /// The same as one JSON object (`docs/json.md`, format `tcpcheck-diff/1`).
    fn json(&self) -> String {
        let Comparison { a, b, headers, changes, disagreement } = self;
        let (ta, tb) = (a.table(), b.table());
        let side = |m: &Model| json!({ "model": m.name(), "source": &*m.table().source.name });
        let row = |table: &Table, r: Option<&Row>| r.map_or(Value::Null, |r| row_json(r, table.rfc));
        let (mut behaviour, mut citations) = (Vec::new(), Vec::new());
        for change in changes {
            let (kind, x, y) = match *change {
                Change::Removed(x) => ("removed", Some(x), None),
                Change::Added(y) => ("added", None, Some(y)),
                Change::Changed(x, y) => ("changed", Some(x), Some(y)),
                Change::Recited(x, y) => ("recited", Some(x), Some(y)),
            };
            let entry = json!({ "change": kind, "a": row(ta, x), "b": row(tb, y) });
            if change.is_behaviour() {
                behaviour.push(entry);
            } else {
                citations.push(entry);
            }
        }
        let first = disagreement.as_ref().map(|d| {
            json!({
                "state": d.state.name(),
                "input": d.input.to_string(),
                "when": when(d),
                "a": d.rows[0].map(Row::location),
                "b": d.rows[1].map(Row::location),
            })
        });
        let value = json!({
            "format": "tcpcheck-diff/1",
            "a": side(a),
            "b": side(b),
            "same": self.same(),
            "headers": headers.iter().map(|(f, x, y)| json!({ "field": f, "a": x, "b": y })).collect::<Vec<_>>(),
            "row_changes": behaviour,
            "citation_changes": citations,
            "behaves_alike": disagreement.is_none(),
            "first_disagreement": first,
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}

fn when(d: &Disagreement) -> String {
    if d.when.is_empty() {
        "always".to_string()
    } else {
        d.when.to_string()
    }
}
