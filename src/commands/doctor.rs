//! `kcpenv doctor`: what `up` will need, checked on this machine before a workshop —
//! the Docker engine, the profile's images and host ports, kubectl and kubelogin, free
//! disk, the state directory's permissions. Each finding names its fix; exit 13 when
//! any of them blocks `up`.

use std::path::Path;

use serde_json::json;

use crate::cli::DoctorArgs;
use crate::error::{Result, exit};
use crate::images;
use crate::plan;
use crate::profile;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::{ContainerState, Runtime};
use crate::state::{self, StateDir};
use crate::ui;

use super::env_name;
use super::up::on_path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, serde::Serialize)]
struct Finding {
    check: String,
    level: Level,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

pub async fn run(args: DoctorArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let mut out: Vec<Finding> = vec![];
    let mut add = |check: &str, level: Level, detail: String, fix: Option<String>| {
        out.push(Finding {
            check: check.into(),
            level,
            detail,
            fix,
        })
    };

    let mut profile = match profile::load(&args.profile) {
        Ok(p) => Some(p),
        Err(e) => {
            add("profile", Level::Fail, e.to_string(), e.hint());
            None
        }
    };
    if let (Some(mode), Some(sa)) = (
        &args.service_cluster,
        profile.as_mut().and_then(|p| p.syncagent.as_mut()),
    ) {
        sa.service_cluster = mode.clone();
    }
    let state = StateDir::for_env(&env)?;
    let record = state.read_env().ok().flatten();
    let offset = args
        .port_offset
        .or(record
            .as_ref()
            .and_then(|r| r.up.as_ref())
            .map(|u| u.port_offset))
        .unwrap_or(0);

    let rt = match DockerRuntime::connect().await {
        Ok(rt) => {
            let info = rt.engine_info().await;
            match info {
                Ok(i) => add(
                    "docker",
                    Level::Ok,
                    format!(
                        "Docker Engine {} (API {}, {}/{}) at {}",
                        i.version, i.api_version, i.os, i.arch, rt.endpoint
                    ),
                    None,
                ),
                Err(e) => add("docker", Level::Fail, e.to_string(), e.hint()),
            }
            Some(rt)
        }
        Err(e) => {
            add("docker", Level::Fail, e.to_string(), e.hint());
            None
        }
    };

    if let Some(p) = &profile {
        let plan = plan::preview(
            p,
            &plan::Options {
                env: env.clone(),
                port_offset: offset,
                image_overrides: Default::default(),
                mirror: std::env::var(images::MIRROR_ENV)
                    .ok()
                    .filter(|m| !m.is_empty()),
                service_cluster: None,
            },
        )?;
        let mut seen = vec![];
        for c in plan.all_containers() {
            let (component, image) = (&c.component, c.image.clone());
            if seen.contains(&image) {
                continue;
            }
            seen.push(image.clone());
            let Some(rt) = &rt else { continue };
            match rt.image_exists(&image).await {
                Ok(true) => add(
                    "image",
                    Level::Ok,
                    format!("{image} ({component}) is present"),
                    None,
                ),
                Ok(false) => add(
                    "image",
                    Level::Fail,
                    format!("{image} ({component}) is missing"),
                    Some(format!(
                        "`kcpenv images pull -p {}` (needs its registry), or `kcpenv images load BUNDLE` from a bundle made with `kcpenv images save`",
                        args.profile
                    )),
                ),
                Err(e) => add("image", Level::Fail, format!("{image}: {e}"), None),
            }
        }

        // Ports: free, or held by this environment's running holder.
        let ours = match &rt {
            Some(rt) => rt
                .list_containers(&env)
                .await
                .unwrap_or_default()
                .into_iter()
                .any(|c| c.component == crate::names::HOLDER && c.state == ContainerState::Running),
            None => false,
        };
        for b in plan.published_ports() {
            let (what, port) = (format!("{} {}", b.component, b.name), b.port);
            if std::net::TcpListener::bind((b.host_ip.as_str(), port)).is_ok() {
                add(
                    "port",
                    Level::Ok,
                    format!("127.0.0.1:{port} ({what}) is free"),
                    None,
                );
            } else if ours {
                add(
                    "port",
                    Level::Ok,
                    format!("127.0.0.1:{port} ({what}) is in use, by environment {env:?} itself"),
                    None,
                );
            } else {
                add(
                    "port",
                    Level::Fail,
                    format!("127.0.0.1:{port} ({what}) is already in use"),
                    Some(format!(
                        "stop what listens there, or use another offset: `kcpenv up --port-offset {}` (a new environment picks a free one by itself)",
                        offset + 100
                    )),
                );
            }
        }
        if let Some(sa) = &p.syncagent
            && let Ok(profile::ServiceCluster::Kubeconfig {
                source,
                path,
                context,
            }) = sa.service_cluster.parse()
        {
            let routed = async {
                let access = crate::service_cluster::load(&source, &path, context.as_deref())?;
                crate::service_cluster::check(&source, &access).await?;
                match &rt {
                    Some(rt) => super::up::route_service_cluster(rt, &env, &source, access)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            };
            match routed.await {
                Ok(Some(ext)) => add(
                    "service-cluster",
                    Level::Ok,
                    format!(
                        "{source}: {} answers; the agent reaches it at {}{}",
                        ext.host.server,
                        ext.inside.server,
                        ext.network
                            .as_ref()
                            .map(|n| format!(" (on network {n})"))
                            .unwrap_or_default()
                    ),
                    None,
                ),
                Ok(None) => add(
                    "service-cluster",
                    Level::Warn,
                    format!("{source} answers, but without the engine its route is unknown"),
                    None,
                ),
                Err(e) => add("service-cluster", Level::Fail, e.to_string(), e.hint()),
            }
        }
        if p.dex.is_some() && !on_path("kubectl-oidc_login") {
            add("kubelogin", Level::Warn, "kubectl-oidc_login is not on PATH: the OIDC context cannot log in".into(),
                Some("`kubectl krew install oidc-login`, or put kubelogin on PATH as kubectl-oidc_login".into()));
        }
    }

    if on_path("kubectl") {
        add("kubectl", Level::Ok, "kubectl is on PATH".into(), None);
    } else {
        add(
            "kubectl",
            Level::Warn,
            "kubectl is not on PATH".into(),
            Some("install kubectl (https://kubernetes.io/docs/tasks/tools/)".into()),
        );
    }

    let home = state::home()?;
    let existing = existing_ancestor(&home);
    match free_bytes(&existing) {
        Some(free) => {
            let gib = free as f64 / (1u64 << 30) as f64;
            let level = if gib < 1.0 {
                Level::Fail
            } else if gib < 5.0 {
                Level::Warn
            } else {
                Level::Ok
            };
            add("disk", level, format!("{gib:.1} GiB free at {}", existing.display()),
                (level != Level::Ok).then(|| "free disk space: kcp, its images and volumes need a few GiB (`docker system df`)".into()));
        }
        None => add(
            "disk",
            Level::Warn,
            format!("cannot tell the free space at {}", existing.display()),
            None,
        ),
    }

    if home.is_dir() {
        for e in std::fs::read_dir(&home).into_iter().flatten().flatten() {
            use std::os::unix::fs::PermissionsExt;
            let p = e.path();
            if p.is_dir()
                && let Ok(m) = std::fs::metadata(&p)
                && m.permissions().mode() & 0o077 != 0
            {
                add(
                    "state",
                    Level::Warn,
                    format!(
                        "{} is readable by others (mode {:o})",
                        p.display(),
                        m.permissions().mode() & 0o777
                    ),
                    Some(format!("chmod 700 {}", p.display())),
                );
            }
        }
    }
    add(
        "state",
        Level::Ok,
        format!("state directory {}", home.display()),
        None,
    );

    let blocked = out.iter().any(|f| f.level == Level::Fail);
    if ui::is_json(args.output) {
        println!("{}", json!({ "ok": !blocked, "findings": out }));
    } else {
        for f in &out {
            let tag = match f.level {
                Level::Ok => "ok  ",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            println!("{tag} {:<10} {}", f.check, f.detail);
            if let Some(fix) = &f.fix {
                println!("     {:<10} fix: {fix}", "");
            }
        }
        println!(
            "{}",
            if blocked {
                "doctor: something blocks `kcpenv up` (FAIL above)"
            } else {
                "doctor: ready for `kcpenv up`"
            }
        );
    }
    Ok(if blocked { exit::DOCTOR } else { exit::OK })
}

fn existing_ancestor(p: &Path) -> std::path::PathBuf {
    let mut p = p.to_path_buf();
    while !p.exists() {
        if !p.pop() {
            return "/".into();
        }
    }
    p
}

/// Free bytes on the file system holding `p`, from `df`.
fn free_bytes(p: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .args(["-Pk"])
        .arg(p)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}
