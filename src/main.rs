//! The `pcdns` binary: parse the command line, run, exit 0 (clean), 1 (findings) or 2 (error).

use clap::Parser;
use std::process::ExitCode;

/// mimalloc (see `pcdns::allocator`).
#[global_allocator]
static ALLOCATOR: pcdns::allocator::Mimalloc = pcdns::allocator::Mimalloc;

fn main() -> ExitCode {
    let config = pcdns::cli::Cli::parse().into_config();
    match pcdns::commands::run(config) {
        Ok(status) => ExitCode::from(status.exit_code()),
        Err(error) => {
            eprintln!("pcdns: error: {error}");
            ExitCode::from(2)
        }
    }
}
