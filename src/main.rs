//! The `tcpcheck` command line. Exit codes, for every subcommand: 0 = fine / property holds,
//! 1 = a violation, finding or difference, 2 = bad input or usage, 3 = a search stopped early
//! (a limit or Ctrl-C) without a finding, so nothing was verified.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match args.run() {
        Ok(code) => code,
        Err(err) => {
            eprint!("{err}");
            cli::bad_input()
        }
    }
}
