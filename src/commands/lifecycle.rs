//! `kcpenv stop` and `kcpenv start`: keep containers, volumes and state; `start` is the
//! environment's last `up` again, which finds every container up to date but stopped and
//! starts it — holder first, each component once its dependencies are ready — and
//! waits for readiness. That also brings an environment back after the Docker engine
//! restarted (its containers do not restart by themselves: components share the
//! holder's network namespace, and only kcpenv starts them in the right order).

use futures_util::future::try_join_all;
use serde_json::json;

use crate::cli::{StartArgs, StopArgs};
use crate::error::{Error, Result};
use crate::names;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::{ContainerState, Observed, Runtime};
use crate::state::StateDir;
use crate::ui::{self, Event};

use super::{env_name, lock};

pub async fn stop(args: StopArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let reporter = ui::reporter(args.output);
    let rt = DockerRuntime::connect().await?;
    let state = StateDir::for_env(&env)?;
    let _lock = lock(&state, args.lock_timeout, reporter.as_ref())?;
    let containers = existing(&rt, &env, &state).await?;
    let running: Vec<&Observed> = containers
        .iter()
        .filter(|c| c.state == ContainerState::Running)
        .collect();
    // Components before the holder whose namespace they use.
    let (holders, others): (Vec<&Observed>, Vec<&Observed>) =
        running.iter().partition(|c| c.component == names::HOLDER);
    reporter.emit(Event::StepStarted {
        component: env.clone(),
        step: format!("stop {} container(s)", running.len()),
    });
    // Each with the stop timeout of its spec (kcp's fits its etcd's clean shutdown).
    try_join_all(others.iter().map(|c| rt.stop_container(&c.id))).await?;
    try_join_all(holders.iter().map(|c| rt.stop_container(&c.id))).await?;
    reporter.emit(Event::StepFinished {
        component: env.clone(),
        step: format!("stop {} container(s)", running.len()),
        millis: 0,
    });
    reporter.finish();
    if ui::is_json(args.output) {
        println!("{}", json!({ "env": env, "stopped": running.len() }));
    } else {
        println!(
            "environment {env:?} stopped ({} container(s)); `kcpenv start{}` brings it back",
            running.len(),
            super::name_flag(&env)
        );
    }
    Ok(0)
}

pub async fn start(args: StartArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let rt = DockerRuntime::connect().await?;
    let state = StateDir::for_env(&env)?;
    let containers = existing(&rt, &env, &state).await?;
    let ours = env!("CARGO_PKG_VERSION");
    if let Some(newer) = containers.iter().find(|c| newer_than(&c.version, ours)) {
        return Err(Error::Usage {
            message: format!(
                "environment {env:?} was made by kcpenv {}, newer than this one ({ours})",
                newer.version
            ),
            hint: format!(
                "use kcpenv {} or newer, or recreate it: kcpenv down --purge{} && kcpenv up",
                newer.version,
                super::name_flag(&env)
            ),
        });
    }
    let up = state
        .read_env()?
        .and_then(|r| r.up)
        .ok_or_else(|| Error::Usage {
            message: format!("environment {env:?} has no record of how it was brought up"),
            hint: "run `kcpenv up` with its profile once; start works after that".into(),
        })?;
    super::up::rerun(&env, up, args.output, args.wait_timeout, args.lock_timeout).await
}

/// The environment's containers; none is "does not exist" (after `down`, too).
async fn existing(rt: &DockerRuntime, env: &str, state: &StateDir) -> Result<Vec<Observed>> {
    let containers = rt.list_containers(env).await?;
    if containers.is_empty() {
        if state.exists() {
            return Err(Error::Usage {
                message: format!("environment {env:?} has no containers (it was taken down)"),
                hint: format!(
                    "`kcpenv up{}` recreates it from its state",
                    super::name_flag(env)
                ),
            });
        }
        return Err(Error::EnvNotFound {
            env: env.to_owned(),
        });
    }
    Ok(containers)
}

/// Whether version `a` (x.y.z) is newer than `b`; unparsable versions are not.
pub fn newer_than(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Option<Vec<u64>> {
        v.split(['.', '-'])
            .take(3)
            .map(|p| p.parse().ok())
            .collect()
    };
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a > b)
}

#[cfg(test)]
mod tests {
    use super::newer_than;

    #[test]
    fn versions_compare_numerically() {
        assert!(newer_than("0.10.0", "0.9.3"));
        assert!(!newer_than("0.1.0", "0.1.0"));
        assert!(!newer_than("", "0.1.0"));
        assert!(!newer_than("0.1.0", "0.2.0"));
    }
}
