//! `kcpenv list`: every environment on this machine — those with containers (by label)
//! and those with a state directory — with its profile, state, port offset and kcp URL.

use std::collections::BTreeMap;

use serde_json::json;

use crate::cli::ListArgs;
use crate::error::Result;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::{ContainerState, Observed, Runtime};
use crate::state::{self, StateDir};
use crate::ui;

struct Row {
    env: String,
    profile: String,
    state: String,
    containers: usize,
    port_offset: Option<u16>,
    url: Option<String>,
}

pub async fn run(args: ListArgs) -> Result<i32> {
    // Without an engine the state directories still tell what exists.
    let (containers, engine_error) = match DockerRuntime::connect().await {
        Ok(rt) => (rt.list_all_containers().await?, None),
        Err(e) => (vec![], Some(e.to_string())),
    };
    let mut by_env: BTreeMap<String, Vec<Observed>> = BTreeMap::new();
    for c in containers {
        by_env.entry(c.env.clone()).or_default().push(c);
    }
    if let Ok(entries) = std::fs::read_dir(state::home()?) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().join("env.json").is_file() {
                by_env.entry(name).or_default();
            }
        }
    }
    let mut rows = vec![];
    for (env, cs) in by_env {
        let record = StateDir::for_env(&env)?.read_env().ok().flatten();
        let running = cs
            .iter()
            .filter(|c| c.state == ContainerState::Running)
            .count();
        let state = match (cs.len(), running) {
            (0, _) if engine_error.is_some() => "unknown (engine unreachable)",
            (0, _) => "down",
            (n, r) if r == n => "running",
            (_, 0) => "stopped",
            _ => "partly running",
        };
        rows.push(Row {
            profile: record
                .as_ref()
                .map(|r| r.profile.clone())
                .or_else(|| cs.first().map(|_| "?".into()))
                .unwrap_or_default(),
            port_offset: record.as_ref().map(|r| r.port_offset),
            url: record.as_ref().and_then(|r| {
                r.kcp_url()
                    .or_else(|| {
                        r.components
                            .iter()
                            .find_map(|c| c.urls.first().map(String::as_str))
                    })
                    .map(str::to_owned)
            }),
            state: state.into(),
            containers: cs.len(),
            env,
        });
    }
    if ui::is_json(args.output) {
        let doc: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.env, "profile": r.profile, "state": r.state,
                    "containers": r.containers, "port_offset": r.port_offset, "url": r.url,
                })
            })
            .collect();
        println!("{}", serde_json::Value::from(doc));
    } else {
        println!(
            "{:<20} {:<12} {:<16} {:<7} URL",
            "NAME", "PROFILE", "STATE", "OFFSET"
        );
        for r in &rows {
            println!(
                "{:<20} {:<12} {:<16} {:<7} {}",
                r.env,
                r.profile,
                r.state,
                r.port_offset.map(|o| o.to_string()).unwrap_or_default(),
                r.url.as_deref().unwrap_or("")
            );
        }
    }
    if let Some(e) = engine_error {
        eprintln!("warning: {e}; container states are unknown");
    }
    Ok(0)
}
