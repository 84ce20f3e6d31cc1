//! `harness`: the nfq-bench command. A thin shell over the library: parse, run, exit.

use std::process::ExitCode;

use clap::Parser;
use harness::app::{self, UsageError};
use harness::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match app::main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
