//! `tcpcheck diff MODEL_A MODEL_B`: rows removed, added and changed; `tcpcheck diff VARIANT`:
//! the variant's rows against its base.

use std::process::ExitCode;

use tcpcheck::model::diff::{diff, first_disagreement, header_changes, Change};
use tcpcheck::model::{Row, Table};

use super::{finding, load_model, CliError, OK};

/// Show how two models differ, row by row.
///
/// Rows are matched by (state, input, guard); a matched row whose target, actions or citation
/// differ is "changed". Each side is shown with its file:line. With one model, a variant, it
/// is compared with the base it extends. The last line says whether the two behave alike in
/// every case (rows split or merged differently, or cited differently, still do), or names the
/// first case they answer differently. Exits 1 if the models differ.
#[derive(clap::Args)]
pub struct Args {
    /// The model to compare from (table file or shipped name); alone, a variant to compare with its base
    a: String,
    /// The model to compare to
    b: Option<String>,
}

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
    text.push_str(&format!(" @ {}", r.cite));
    text
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
                     help: give two models, e.g. `tcpcheck diff rfc9293 {}`\n",
                    args.a, args.a
                )))
            }
        },
    };
    let (ta, tb) = (a.table(), b.table());
    let headers = header_changes(ta, tb);
    for (field, x, y) in &headers {
        println!("~ {field}: {x} -> {y}");
    }
    let changes = diff(ta, tb);
    let (mut removed, mut added, mut changed) = (0, 0, 0);
    for change in &changes {
        match change {
            Change::Removed(row) => {
                removed += 1;
                println!("- {}", located(ta, row));
            }
            Change::Added(row) => {
                added += 1;
                println!("+ {}", located(tb, row));
            }
            Change::Changed(x, y) => {
                changed += 1;
                println!("~ {}", located(ta, x));
                println!("  {}", located(tb, y));
            }
        }
    }
    println!(
        "{}: {removed} removed, {added} added, {changed} changed ({} vs {})",
        if changes.is_empty() && headers.is_empty() { "same" } else { "differ" },
        ta.source.name,
        tb.source.name
    );
    match first_disagreement(&a, &b) {
        None => println!("behaviour: the same in every case"),
        Some(d) => {
            let fired = |r: Option<&Row>| r.map_or("no row".to_string(), |r| r.location());
            println!(
                "behaviour: differs, first in {} on {} when {}: {} fires {}, {} fires {}",
                d.state,
                d.input,
                if d.when.is_empty() { "always".to_string() } else { d.when.to_string() },
                ta.name,
                fired(d.rows[0]),
                tb.name,
                fired(d.rows[1])
            );
        }
    }
    Ok(if changes.is_empty() && headers.is_empty() { OK } else { finding() })
}
