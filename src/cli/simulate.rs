//! `tcpcheck simulate --scenario NAME [--model M] [--msl DUR] [--json]`.

use std::path::PathBuf;
use std::process::ExitCode;

use tcpcheck::export::ladder;

use tcpcheck::simulate::columns::Width;
use tcpcheck::simulate::scenario::{Scenario, SCENARIOS};
use tcpcheck::simulate::{diagram, Sim, Stuck};
use tcpcheck::time::Duration;

use super::{finding, load_model, write_file, CliError, OK};

/// Run two reference endpoints through a scripted scenario and print a sequence diagram.
///
/// Both endpoints execute MODEL over a virtual network (10 ms each way, in order). The diagram
/// shows A | network | B with the virtual clock in the margin; every transition names its row
/// (file:line) and RFC section; lost segments are marked. Exits 1 if the scenario never settles.
#[derive(clap::Args)]
pub struct Args {
    /// The scenario to run (see --list)
    #[arg(long, short, required_unless_present = "list")]
    scenario: Option<String>,
    /// List the scenarios with a line each
    #[arg(long)]
    list: bool,
    /// Table file or shipped model name [default: rfc9293]
    #[arg(long, short)]
    model: Option<String>,
    /// Maximum segment lifetime, overriding the model's (TIME-WAIT lasts twice this)
    #[arg(long, value_parser = parse_duration)]
    msl: Option<Duration>,
    /// Print the trace as JSON instead of a diagram
    #[arg(long)]
    json: bool,
    /// Draw the text diagram one line per event, however wide (default: within 120 columns)
    #[arg(long)]
    wide: bool,
    /// Also draw the run as an SVG ladder diagram into FILE
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    Duration::parse(text)
}

fn list() -> String {
    SCENARIOS.iter().map(|s| format!("  {:<20} {}\n", s.name, s.about)).collect()
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.list {
        print!("{}", list());
        return Ok(OK);
    }
    let name = args.scenario.unwrap_or_default();
    let Some(scenario) = Scenario::find(&name) else {
        return Err(CliError(format!("error: no scenario named `{name}`\n  help: the scenarios are:\n{}", list())));
    };
    let model = load_model(args.model.as_deref())?;
    let mut sim = Sim::new(&model, args.msl);
    let outcome = (scenario.run)(&mut sim);
    if args.json {
        let text = serde_json::to_string_pretty(&diagram::to_json(sim.diagram(), &model))
            .map_err(|e| CliError(format!("error: {e}\n")))?;
        println!("{text}");
    } else {
        print!("{}", diagram::render(sim.diagram(), &model, Width::from_wide(args.wide)));
    }
    if let Some(path) = &args.svg {
        let title = format!("simulate {name} under {}", model.name());
        write_file(path, ladder::svg::write(&ladder::from_trace(&title, sim.diagram(), &model)).as_bytes())?;
    }
    match outcome {
        Ok(()) => Ok(OK),
        Err(Stuck(why)) => {
            eprintln!("scenario {name} did not settle: {why}");
            Ok(finding())
        }
    }
}
