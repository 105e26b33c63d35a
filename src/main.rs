//! `beyond`: the desktop app with no arguments, the CLI with a command.

mod app;
mod cli;

use clap::Parser;

/// Training allocates the same large tensors every step; mimalloc reuses their pages where the
/// system allocator returns them to the OS and faults in fresh zeroed ones (a fifth of a CPU
/// training step on Linux).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    let Some(command) = args.command else {
        return report(app::run(app::AppOptions::default()), false);
    };
    let json = cli::wants_json(&command);
    report(cli::run(command), json)
}

/// Prints an error for people (and as JSON when asked) and turns it into the exit code.
fn report(result: anyhow::Result<()>, json: bool) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            }
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
