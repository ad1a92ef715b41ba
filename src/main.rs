//! kcpenv: a complete local kcp development environment in Docker, in one command.

mod access;
mod bootstrap;
mod cli;
mod commands;
mod components;
mod compose;
mod error;
mod fga;
mod images;
mod kubeconfig;
mod names;
mod pki;
mod plan;
mod profile;
mod readiness;
mod reconcile;
mod render;
mod runtime;
mod secrets;
mod service_cluster;
mod state;
mod ui;

use clap::Parser;

use cli::{Cli, Command, OutputFormat};
use error::Error;

fn main() {
    let cli = Cli::parse();
    let json = matches!(
        &cli.command,
        Command::Up(cli::UpArgs {
            output: OutputFormat::Json,
            ..
        }) | Command::Down(cli::DownArgs {
            output: OutputFormat::Json,
            ..
        }) | Command::Status(cli::StatusArgs {
            output: OutputFormat::Json,
            ..
        })
    );
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            report(&e, json);
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32, Error> {
    // Commands that only read local files skip the async runtime.
    match cli.command {
        Command::Kubeconfig(a) => return commands::kubeconfig::run(a),
        Command::Profiles(a) => return commands::profiles::run(a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "kcpenv", &mut std::io::stdout());
            return Ok(0);
        }
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("starting the async runtime"))?;
    rt.block_on(async move {
        match cli.command {
            Command::Up(a) => commands::up::run(a).await,
            Command::Down(a) => commands::down::run(a).await,
            Command::Status(a) => commands::status::run(a).await,
            Command::Logs(a) => commands::logs::run(a).await,
            Command::Token(a) => commands::token::run(a).await,
            Command::Users(a) => commands::users::run(a).await,
            Command::Grant(a) => commands::access::run(commands::access::Mode::Grant, a).await,
            Command::Revoke(a) => commands::access::run(commands::access::Mode::Revoke, a).await,
            Command::Can(a) => commands::access::run(commands::access::Mode::Can, a).await,
            Command::Fga(a) => commands::fga::run(a).await,
            Command::Stop(a) => commands::lifecycle::stop(a).await,
            Command::Start(a) => commands::lifecycle::start(a).await,
            Command::List(a) => commands::list::run(a).await,
            Command::Doctor(a) => commands::doctor::run(a).await,
            Command::Export(a) => commands::export::run(a).await,
            Command::Env(a) => commands::shellenv::run(a).await,
            Command::Images(a) => commands::images::run(a).await,
            Command::Kubeconfig(_) | Command::Profiles(_) | Command::Completions { .. } => {
                unreachable!("handled above")
            }
        }
    })
}

/// One message naming the cause, the fix, then details; on stderr.
fn report(e: &Error, json: bool) {
    if json {
        eprintln!("{}", e.to_json());
        return;
    }
    eprintln!("error: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
    if let Some(d) = e.details() {
        eprintln!("{d}");
    }
    if let Some(h) = e.hint() {
        eprintln!("  hint: {h}");
    }
}
