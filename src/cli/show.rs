//! `tcpcheck show [MODEL] --format table|dot|svg|json`.

use std::process::ExitCode;

use tcpcheck::export::dot::{to_dot, DotOptions};
use tcpcheck::export::json::to_json;
use tcpcheck::export::machine::{Fold, Machine, Paint};

use super::{load_model, CliError, OK};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// The table file, canonically formatted (parses back to the same model)
    Table,
    /// Graphviz: the state machine on one page, as RFC 9293 draws it, with each state's rows
    /// that keep it or close the connection in its box (render with `dot -Tsvg`)
    Dot,
    /// The same page as SVG, drawn without Graphviz
    Svg,
    /// Every row with its line, parts and qualified citation
    Json,
}

/// Print a validated model as a table, a Graphviz graph or JSON.
#[derive(clap::Args)]
pub struct Args {
    /// Table file or shipped model name [default: rfc9293]
    model: Option<String>,
    #[arg(long, short, value_enum, default_value = "table")]
    format: Format,
    /// DOT and SVG: leave out rows that keep the state (drops, errors, challenge ACKs)
    #[arg(long)]
    no_loops: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let model = load_model(args.model.as_deref())?;
    match args.format {
        Format::Table => print!("{}", model.table()),
        Format::Dot => print!("{}", to_dot(&model, DotOptions { no_loops: args.no_loops })),
        Format::Svg => {
            print!("{}", Machine::of_model(&model, Paint::Kind, Fold { no_loops: args.no_loops }).svg("machine"))
        }
        Format::Json => {
            let text = serde_json::to_string_pretty(&to_json(&model)).map_err(|e| CliError(format!("error: {e}\n")))?;
            println!("{text}");
        }
    }
    Ok(OK)
}
