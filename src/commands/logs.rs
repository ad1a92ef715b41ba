//! `kcpenv logs COMPONENT`: the component's container log, stdout to stdout and stderr
//! to stderr, as the program wrote them.

use std::io::Write;

use futures_util::StreamExt;

use crate::cli::LogsArgs;
use crate::error::{Error, Result};
use crate::runtime::docker::DockerRuntime;
use crate::runtime::{LogChunk, Runtime};
use crate::state::StateDir;

use super::env_name;

pub async fn run(args: LogsArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let rt = DockerRuntime::connect().await?;
    let containers = rt.list_containers(&env).await?;
    if containers.is_empty() && !StateDir::for_env(&env)?.exists() {
        return Err(Error::EnvNotFound { env });
    }
    let Some(c) = containers.iter().find(|c| c.component == args.component) else {
        let mut known: Vec<String> = containers.iter().map(|c| c.component.clone()).collect();
        known.sort();
        return Err(Error::UnknownComponent {
            env,
            component: args.component,
            known,
        });
    };
    let mut stream = rt.logs(&c.id, args.tail, args.follow);
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    while let Some(chunk) = stream.next().await {
        // A closed pipe (`| head`) ends the command quietly.
        let written = match chunk? {
            LogChunk::Stdout(b) => out.write_all(&b).and_then(|_| out.flush()),
            LogChunk::Stderr(b) => err.write_all(&b),
        };
        if written.is_err() {
            break;
        }
    }
    Ok(0)
}
