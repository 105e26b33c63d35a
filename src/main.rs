//! `beyond`: the desktop app with no arguments, the CLI with a command.

mod cli;

use clap::Parser;

/// Training allocates the same large tensors every step; mimalloc reuses their pages where the
/// system allocator returns them to the OS and faults in fresh zeroed ones (a fifth of a CPU
/// training step on Linux).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in `mimalloc.h`: how long freed pages stay before going back to the OS.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed pages stay 10 s rather than mimalloc's 10 ms: a training step frees and reallocates
/// the same buffers well within that, and an idle app still returns them. `MIMALLOC_PURGE_DELAY`
/// in the environment (milliseconds, -1 for never) is left to decide.
fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets a plain integer option; mimalloc reads it on each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
}

fn main() -> std::process::ExitCode {
    keep_freed_pages();
    let args = cli::Cli::parse();
    let Some(command) = args.command else {
        return report(beyond::app::run(beyond::app::AppOptions::default()), false);
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
