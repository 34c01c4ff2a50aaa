//! `tcpcheck validate [MODEL]...`: parse and check tables; one summary line per model.

use std::process::ExitCode;

use tcpcheck::model::resolve::OnDisk;
use tcpcheck::model::shipped::SHIPPED;
use tcpcheck::model::{Source, Table};

use super::{bad_input, model_source, render, CliError, OK};

/// Check that tables parse and are exhaustive, unambiguous and cited.
///
/// Checks what rustc checks for a `match`: every state x input x guard valuation is matched by
/// some row, and no row is shadowed by earlier rows; also that every state is reachable from
/// CLOSED, every guard means something where it is used, and every row cites its RFC section.
/// Prints one line per valid model; every problem of an invalid one, with file:line:col.
#[derive(clap::Args)]
pub struct Args {
    /// Table files or shipped model names [default: every shipped model]
    models: Vec<String>,
    /// Print one JSON object (docs/json.md): each model's figures, or its problems
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    // A built-in model is named as one: a file of the same path that differs is validated only
    // when it is named, and its line then says the path, never "built in".
    let sources: Vec<(Source, bool)> = if args.models.is_empty() {
        SHIPPED.iter().map(|s| (s.source(), true)).collect()
    } else {
        let named = |m: &String| Ok((model_source(m)?, !std::path::Path::new(m).is_file()));
        args.models.iter().map(named).collect::<Result<_, CliError>>()?
    };
    let mut failed = 0;
    let mut reports = Vec::new();
    for (source, built_in) in sources {
        let name = if built_in {
            let shipped = SHIPPED.iter().find(|s| *s.path == *source.name).map_or("", |s| s.name);
            format!("{shipped} (built in)")
        } else {
            source.name.to_string()
        };
        match Table::load_with(source, &OnDisk) {
            Ok(model) => {
                let s = model.stats();
                let base = model.table().variant.as_ref().map(|v| (v.base_name.clone(), v.changes.len()));
                reports.push(serde_json::json!({
                    "source": name, "ok": true, "model": model.name(), "rows": s.rows, "states": s.states,
                    "inputs": s.inputs, "guard_valuations": s.cases, "msl_us": model.table().msl.as_micros(),
                    "extends": base.as_ref().map(|(b, n)| serde_json::json!({ "base": b, "changes": n })),
                }));
                if !args.json {
                    let variant = match &base {
                        Some((base, n)) => {
                            format!(", a variant of {base} ({n} change{})", if *n == 1 { "" } else { "s" })
                        }
                        None => String::new(),
                    };
                    println!(
                        "ok    {name}: model {}, {} rows, {} states, {} inputs, {} guard valuations covered, msl {}{variant}",
                        model.name(),
                        s.rows,
                        s.states,
                        s.inputs,
                        s.cases,
                        model.table().msl
                    );
                }
            }
            Err(problems) => {
                failed += 1;
                let listed: Vec<serde_json::Value> = problems
                    .problems
                    .iter()
                    .map(|p| serde_json::json!({"at": p.location(), "message": p.to_string()}))
                    .collect();
                reports.push(serde_json::json!({"source": name, "ok": false, "problems": listed}));
                if !args.json {
                    eprint!("{}", render(&problems));
                    println!("FAIL  {name}: {} problem(s)", problems.problems.len());
                }
            }
        }
    }
    if args.json {
        let value = serde_json::json!({"format": "tcpcheck-validate/1", "models": reports});
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    }
    Ok(if failed == 0 { OK } else { bad_input() })
}
