//! What the end-to-end tests of the binary share: running it away from `models/`, so that every
//! shipped model must come from the binary itself, and reading what it printed.

use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_tcpcheck");

/// Runs `tcpcheck ARGS` in a directory without `models/`, and waits for it.
pub fn tcpcheck(args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(std::env::temp_dir()).output().expect("run tcpcheck")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
