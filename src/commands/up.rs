//! `kcpenv up`: profile → plan → reconcile → readiness → kubeconfig.
//!
//! Order matters for "nothing half-made": everything that can be checked without creating
//! anything (profile, flags, engine, lock, host ports, images) is checked first. Objects
//! this run creates carry its run id, so a failure or Ctrl-C removes exactly those.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use serde_json::json;

use crate::bootstrap::Bootstrapper;
use crate::cli::UpArgs;
use crate::components;
use crate::error::{Error, Result};
use crate::images;
use crate::kubeconfig;
use crate::names;
use crate::pki::Pki;
use crate::plan::{self, Certs, Plan};
use crate::profile;
use crate::readiness::Prober;
use crate::reconcile::{self, Executor, Failure};
use crate::runtime::docker::DockerRuntime;
use crate::runtime::{ContainerState, LogChunk, Observed, Runtime};
use crate::secrets::Secrets;
use crate::service_cluster;
use crate::state::{
    ComponentRecord, EnvRecord, FgaRecord, OidcRecord, StateDir, SyncAgentRecord, UpRecord,
};
use crate::ui::{self, Event, Reporter};

use super::{env_name, lock};

pub async fn run(args: UpArgs) -> Result<i32> {
    let mirror = std::env::var(images::MIRROR_ENV)
        .ok()
        .filter(|m| !m.is_empty());
    run_with(args, mirror).await
}

/// `up` again exactly as the environment was last brought up (`users add`, `start`).
pub async fn rerun(
    env: &str,
    up: crate::state::UpRecord,
    output: crate::cli::OutputFormat,
    wait_timeout: Duration,
    lock_timeout: Duration,
) -> Result<i32> {
    let args = UpArgs {
        env: crate::cli::EnvArgs {
            name: env.to_owned(),
        },
        profile: up.profile,
        port_offset: Some(up.port_offset),
        wait_timeout,
        images: up.images,
        service_cluster: up.service_cluster,
        keep_on_failure: false,
        output,
        lock_timeout,
    };
    run_with(args, up.mirror).await
}

/// `up` with the image mirror given explicitly (commands that re-run `up` pass the one
/// the environment was created with).
pub async fn run_with(mut args: UpArgs, mirror: Option<String>) -> Result<i32> {
    let env = env_name(&args.env)?;
    args.service_cluster = args.service_cluster.map(|m| absolute_service_cluster(&m));
    let mut profile = profile::load(&args.profile)?;
    let overrides = images::parse_overrides(&args.images)?;
    if let Some(mode) = &args.service_cluster {
        let Some(sa) = &mut profile.syncagent else {
            return Err(Error::Usage {
                message: format!("profile {:?} has no api-syncagent", profile.name),
                hint:
                    "--service-cluster applies to profiles with `syncagent:` (syncagent, workshop)"
                        .into(),
            });
        };
        sa.service_cluster = mode.clone();
        profile::validate(&profile, "--service-cluster")?;
    }
    // An existing service cluster is read and asked first (no engine needed for that);
    // the route to it needs the engine.
    let service_access = match profile
        .syncagent
        .as_ref()
        .map(|sa| sa.service_cluster.parse())
    {
        Some(Ok(profile::ServiceCluster::Kubeconfig {
            source,
            path,
            context,
        })) => {
            let access = service_cluster::load(&source, &path, context.as_deref())?;
            service_cluster::check(&source, &access).await?;
            Some((source, access))
        }
        _ => None,
    };
    let reporter = ui::reporter(args.output);
    let rt = DockerRuntime::connect().await?;
    let service_cluster = match service_access {
        Some((source, access)) => Some(route_service_cluster(&rt, &env, &source, access).await?),
        None => None,
    };
    let state = StateDir::for_env(&env)?;
    let _lock = lock(&state, args.lock_timeout, reporter.as_ref())?;
    state.create()?;
    if let Some(dex) = &mut profile.dex {
        dex.users = state.read_user_changes()?.apply(&dex.users);
    }
    let recorded_offset = state
        .read_env()
        .ok()
        .flatten()
        .and_then(|r| r.up)
        .map(|u| u.port_offset);
    let mut up_record = UpRecord {
        // A file profile by absolute path, so a later `users add` finds it from anywhere.
        profile: match std::path::Path::new(&args.profile).canonicalize() {
            Ok(p) if !profile::embedded_names().contains(&args.profile) => p.display().to_string(),
            _ => args.profile.clone(),
        },
        port_offset: 0, // chosen below
        images: args.images.clone(),
        mirror: mirror.clone(),
        service_cluster: args.service_cluster.clone(),
    };

    let mut opts = plan::Options {
        env: env.clone(),
        port_offset: args.port_offset.or(recorded_offset).unwrap_or(0),
        image_overrides: overrides,
        mirror,
        service_cluster,
    };
    let (certs, secrets) = materials(&state, &profile)?;
    let mut plan = plan::build(&profile, &opts, &certs, &secrets)?;
    // A new environment without --port-offset moves out of the way of what already
    // listens (another environment, say); a given or recorded offset is kept, and a
    // clash then fails naming the port.
    if args.port_offset.is_none() && recorded_offset.is_none() && !ports_free(&plan) {
        for offset in (100..=2000).step_by(100) {
            opts.port_offset = offset;
            let candidate = plan::build(&profile, &opts, &certs, &secrets)?;
            if ports_free(&candidate) {
                reporter.emit(Event::Info {
                    message: format!(
                        "some default ports are in use; using --port-offset {offset} (pass --port-offset to choose)"
                    ),
                });
                plan = candidate;
                break;
            }
        }
    }
    up_record.port_offset = plan.port_offset;
    let run = run_id();
    let started = Instant::now();
    let deadline = started + args.wait_timeout;
    let prober = Prober::new(&certs.ca_pem)?;
    let clients = reconcile::Clients::new(
        plan.kubeconfig
            .as_ref()
            .map(Bootstrapper::new)
            .transpose()?,
        plan.service
            .as_ref()
            .map(|s| Bootstrapper::for_access(&s.access))
            .transpose()?,
    );

    let executor = Executor {
        rt: &rt,
        plan: &plan,
        run: &run,
        prober: &prober,
        reporter: reporter.as_ref(),
        deadline,
        clients: &clients,
    };
    let env_record = record(&plan, &profile, up_record);
    let work = reconcile_env(&executor, &state, &env_record);
    let outcome = tokio::select! {
        r = work => r,
        _ = interrupted() => Err(Failure::from(Error::Interrupted)),
    };
    match outcome {
        Ok(changed) => {
            write_outputs(&state, &plan, &env_record)?;
            if plan.kubeconfig.as_ref().is_some_and(|k| k.oidc.is_some()) {
                for warning in login_warnings() {
                    reporter.emit(Event::Info { message: warning });
                }
            }
            reporter.finish();
            print_summary(
                &plan,
                &state,
                changed,
                started.elapsed(),
                ui::is_json(args.output),
            );
            Ok(0)
        }
        Err(failure) => {
            reporter.finish();
            // A second Ctrl-C during cleanup ends the process at once.
            tokio::spawn(async {
                interrupted().await;
                std::process::exit(crate::error::exit::INTERRUPTED);
            });
            let mut error = failure.error;
            if let (
                Some((component, id)),
                Error::ComponentFailed {
                    log_tail, saved_to, ..
                },
            ) = (&failure.component, &mut error)
            {
                let (tail, dir) = save_diagnostics(&rt, &state, component, id).await;
                *log_tail = tail;
                *saved_to = dir;
            }
            if args.keep_on_failure {
                reporter.emit(Event::Info {
                    message: "keeping what this run created (--keep-on-failure); `kcpenv down` removes it".into(),
                });
            } else if let Ok((c, v)) = reconcile::rollback(&rt, &env, &run).await {
                if c + v > 0 {
                    reporter.emit(Event::Info {
                        message: format!(
                            "removed what this run created: {c} container(s), {v} volume(s)"
                        ),
                    });
                }
                // Nothing of the environment left running: it does not exist for `status`.
                if rt.list_containers(&env).await.is_ok_and(|l| l.is_empty()) {
                    let _ = std::fs::remove_file(state.env_json());
                }
            }
            Err(error)
        }
    }
}

/// `kubeconfig:PATH` with a relative PATH made absolute, as `up` records it: `start` and
/// `users add` re-run the recorded `up` from any directory.
fn absolute_service_cluster(mode: &str) -> String {
    let Ok(profile::ServiceCluster::Kubeconfig { path, context, .. }) = mode.parse() else {
        return mode.to_owned();
    };
    if path.is_absolute() || path.starts_with("~") {
        return mode.to_owned();
    }
    let Ok(abs) = std::path::absolute(&path) else {
        return mode.to_owned();
    };
    match context {
        Some(c) => format!("kubeconfig:{}#{c}", abs.display()),
        None => format!("kubeconfig:{}", abs.display()),
    }
}

/// How the environment reaches an existing service cluster (see `service_cluster`).
pub async fn route_service_cluster<R: Runtime>(
    rt: &R,
    env: &str,
    source: &str,
    access: service_cluster::Access,
) -> Result<service_cluster::External> {
    let publisher = match access.loopback_port() {
        Some(port) => rt.port_publisher(port).await?,
        None => None,
    };
    if publisher
        .as_ref()
        .is_some_and(|p| p.container == names::container_name(env, names::HOLDER))
    {
        return Err(Error::ServiceCluster {
            origin: source.into(),
            message: format!("{} is this environment's own kcp", access.server),
            hint: "for a workspace of this kcp, use --service-cluster kcp-workspace".into(),
        });
    }
    service_cluster::route(source, access, publisher.as_ref())
}

/// The environment's certificates (issued or reused from its PKI) and secrets (generated
/// once, kept in secrets.yaml) that the profile needs.
pub fn materials(state: &StateDir, profile: &profile::Profile) -> Result<(Certs, Secrets)> {
    let pki = Pki::open(&state.pki(), &state.env)?;
    let mut certs = Certs {
        ca_pem: pki.ca_pem().to_owned(),
        leaves: BTreeMap::new(),
    };
    for (name, spec) in components::cert_requests(profile) {
        certs.leaves.insert(name.clone(), pki.ensure(&name, &spec)?);
    }
    let mut secrets = Secrets::load(&state.secrets())?;
    let before = secrets.clone();
    components::ensure_secrets(profile, &mut secrets)?;
    if secrets != before {
        secrets.save(&state.secrets())?;
    }
    Ok((certs, secrets))
}

/// Observe, check, diff, execute. Returns whether anything changed.
async fn reconcile_env<R: Runtime>(
    ex: &Executor<'_, R>,
    state: &StateDir,
    record: &EnvRecord,
) -> std::result::Result<bool, Failure> {
    let (rt, plan) = (ex.rt, ex.plan);
    let observed = rt.list_containers(&plan.env).await?;
    let diff = reconcile::diff(plan, &observed);
    if diff.is_noop() {
        // Still verify readiness: "up returns when every component is ready".
        let checks = plan.components.iter().map(|c| async {
            let id = &observed
                .iter()
                .find(|o| o.component == c.component)
                .expect("noop diff")
                .id;
            ex.prober
                .wait(rt, id, c.readiness.as_ref(), ex.deadline)
                .await
                .map_err(|reason| Failure {
                    error: Error::ComponentFailed {
                        component: c.component.clone(),
                        reason,
                        log_tail: String::new(),
                        saved_to: None,
                    },
                    component: Some((c.component.clone(), id.clone())),
                })
        });
        try_join_all(checks).await?;
        for c in &plan.components {
            reconcile::after_ready(ex.clients, plan, &c.component, ex.reporter).await?;
        }
        return Ok(false);
    }
    check_ports(rt, plan, &observed).await?;
    ensure_images(rt, plan, ex.reporter).await?;
    // Written before containers exist so `status` and `logs` work during a long start.
    state.write_env(record).map_err(Failure::from)?;
    // An existing service cluster's side starts with the containers (kcp's bootstrap
    // awaits its outcome, so nothing is lost when execute ends first).
    // A failure there ends `up` at once.
    let early = async {
        match ex.clients.service_side(plan, ex.reporter).await {
            Ok(()) => std::future::pending().await,
            Err(e) => e,
        }
    };
    tokio::select! {
        r = ex.execute(&diff) => r?,
        e = early => return Err(Failure::from(e)),
    }
    Ok(true)
}

/// Whether every port the plan publishes can be bound now.
fn ports_free(plan: &Plan) -> bool {
    plan.published_ports()
        .iter()
        .all(|p| std::net::TcpListener::bind((p.host_ip.as_str(), p.port)).is_ok())
}

/// Fails before anything is created when a host port is taken by someone else. Ports
/// our own holder publishes are ours, even if the holder is about to be replaced.
async fn check_ports<R: Runtime>(rt: &R, plan: &Plan, observed: &[Observed]) -> Result<()> {
    let mut ours = vec![];
    // A stopped holder holds no port: someone may have taken it meanwhile.
    if let Some(h) = observed
        .iter()
        .find(|o| o.component == names::HOLDER && o.state == ContainerState::Running)
    {
        let inspect = rt.inspect_json(&h.id).await?;
        if let Some(b) = inspect
            .pointer("/HostConfig/PortBindings")
            .and_then(|b| b.as_object())
        {
            for list in b.values().filter_map(|v| v.as_array()) {
                ours.extend(
                    list.iter()
                        .filter_map(|x| x.get("HostPort")?.as_str()?.parse::<u16>().ok()),
                );
            }
        }
    }
    for p in plan.published_ports() {
        if ours.contains(&p.port) {
            continue;
        }
        if std::net::TcpListener::bind((p.host_ip.as_str(), p.port)).is_err() {
            return Err(Error::PortTaken {
                port: p.port,
                component: p.component.clone(),
                port_name: p.name.clone(),
            });
        }
    }
    Ok(())
}

/// Every image present before anything is created; missing ones are pulled.
async fn ensure_images<R: Runtime>(rt: &R, plan: &Plan, reporter: &dyn Reporter) -> Result<()> {
    let wanted: Vec<String> = plan.all_containers().map(|c| c.image.clone()).collect();
    pull_missing(rt, &wanted, reporter).await.map(drop)
}

/// Pulls those of `images` that are not present (in parallel, with progress events);
/// returns how many were pulled.
pub async fn pull_missing<R: Runtime>(
    rt: &R,
    images: &[String],
    reporter: &dyn Reporter,
) -> Result<usize> {
    let mut wanted: Vec<&str> = images.iter().map(String::as_str).collect();
    wanted.sort();
    wanted.dedup();
    let pulled = try_join_all(wanted.into_iter().map(|image| async move {
        if rt.image_exists(image).await? {
            return Ok(false);
        }
        let start = Instant::now();
        reporter.emit(Event::StepStarted {
            component: image.into(),
            step: "pull".into(),
        });
        let progress = |p: crate::runtime::PullProgress| {
            reporter.emit(Event::PullProgress {
                image: p.image,
                current: p.current,
                total: p.total,
            })
        };
        let r = rt.pull_image(image, &progress).await;
        match &r {
            Ok(()) => reporter.emit(Event::StepFinished {
                component: image.into(),
                step: "pull".into(),
                millis: start.elapsed().as_millis() as u64,
            }),
            Err(e) => reporter.emit(Event::StepFailed {
                component: image.into(),
                step: "pull".into(),
                error: e.to_string(),
            }),
        }
        r.map(|()| true)
    }))
    .await?;
    Ok(pulled.into_iter().filter(|p| *p).count())
}

fn record(plan: &Plan, profile: &profile::Profile, up: UpRecord) -> EnvRecord {
    EnvRecord {
        env: plan.env.clone(),
        profile: plan.profile.clone(),
        port_offset: plan.port_offset,
        components: plan
            .all_containers()
            .map(|c| ComponentRecord {
                name: c.component.clone(),
                image: c.image.clone(),
                urls: c.urls.clone(),
                readiness: c.readiness.clone(),
            })
            .collect(),
        oidc: plan
            .kubeconfig
            .as_ref()
            .and_then(|k| k.oidc.as_ref())
            .map(|o| OidcRecord {
                issuer: o.issuer.clone(),
                client_id: o.client_id.clone(),
            }),
        openfga: profile.openfga.as_ref().and_then(|spec| {
            Some(FgaRecord {
                api_url: components::openfga::api_url(spec, plan.port_offset).ok()?,
                playground_url: components::openfga::playground_url(spec, plan.port_offset).ok()?,
            })
        }),
        kubeconfigs: plan
            .kubeconfigs
            .iter()
            .map(|k| (k.name.clone(), k.description.clone()))
            .collect(),
        syncagent: profile.syncagent.as_ref().map(|sa| {
            let in_kcp = sa.service_cluster == profile::SyncAgentSpec::default_service_cluster();
            SyncAgentRecord {
                service_cluster: sa.service_cluster.clone(),
                service_workspace: in_kcp.then(|| sa.service_workspace.clone()),
                provider_workspace: sa.provider_workspace.clone(),
                api_export: sa.api_export.clone(),
                endpoint_slice: sa.api_export.clone(),
                consumer_workspace: (!sa.consumer_workspace.is_empty())
                    .then(|| sa.consumer_workspace.clone()),
            }
        }),
        users: profile
            .dex
            .as_ref()
            .map(|d| d.users.clone())
            .unwrap_or_default(),
        up: Some(up),
    }
}

fn write_outputs(state: &StateDir, plan: &Plan, record: &EnvRecord) -> Result<()> {
    if let Some(spec) = &plan.kubeconfig {
        kubeconfig::write(
            &state.kubeconfig(),
            &kubeconfig::generate(&plan.env, spec, Some(&state.root)),
        )?;
    }
    for k in &plan.kubeconfigs {
        kubeconfig::write(&state.named_kubeconfig(&k.name), &k.doc)?;
    }
    // The files each container was given, as given (secrets stay 0600), for inspection.
    for c in &plan.components {
        for f in &c.files {
            let rel = f.path.trim_start_matches('/');
            let mode = if f.secret { 0o600 } else { 0o644 };
            crate::state::write_file(
                &state.config(&c.component).join(rel),
                f.content.as_bytes(),
                mode,
            )?;
        }
    }
    state.write_env(record)
}

/// Whether an executable named `bin` is in a directory of PATH.
pub fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

/// What would stop an interactive OIDC login on this host; not a failure of `up`
/// (scripts use `kcpenv token` or `kubeconfig --user … --non-interactive`).
fn login_warnings() -> Vec<String> {
    let mut out = vec![];
    if !on_path("kubectl-oidc_login") {
        out.push(
            "warning: kubelogin is not installed; the OIDC context needs it: `kubectl krew install oidc-login`, or put kubelogin on PATH as kubectl-oidc_login".into(),
        );
    }
    // kubelogin's browser callback listens on the first of these it can bind.
    if [8000, 18000]
        .iter()
        .all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_err())
    {
        out.push("warning: 127.0.0.1:8000 and :18000 are both in use; kubelogin's browser login needs one of them free".into());
    }
    out
}

fn print_summary(plan: &Plan, state: &StateDir, changed: bool, took: Duration, json: bool) {
    let kubeconfig = plan.kubeconfig.as_ref().map(|_| state.kubeconfig());
    if json {
        let doc = json!({
            "env": plan.env,
            "profile": plan.profile,
            "ready": true,
            "changed": changed,
            "seconds": took.as_secs_f64(),
            "kubeconfig": kubeconfig,
            "components": plan.components.iter().map(|c| json!({
                "name": c.component, "container": c.name, "image": c.image, "urls": c.urls,
            })).collect::<Vec<_>>(),
        });
        println!("{doc}");
        return;
    }
    let verb = if changed {
        "is ready"
    } else {
        "was already up to date"
    };
    println!(
        "environment {:?} (profile {}) {verb} after {:.1}s",
        plan.env,
        plan.profile,
        took.as_secs_f64()
    );
    for c in plan.components.iter().filter(|c| !c.urls.is_empty()) {
        println!("  {:<12} {}", c.component, c.urls.join(" "));
    }
    if let Some(k) = kubeconfig {
        println!("kubeconfig: {}", k.display());
        if !plan.kubeconfigs.is_empty() {
            println!(
                "  more ({}): kcpenv kubeconfig --list{}",
                plan.kubeconfigs
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                name_flag(&plan.env)
            );
        }
        println!(
            "  export KUBECONFIG=$(kcpenv kubeconfig --path{})",
            name_flag(&plan.env)
        );
    }
}

pub fn name_flag(env: &str) -> String {
    if env == "kcpenv" {
        String::new()
    } else {
        format!(" --name {env}")
    }
}

/// Saves the failed component's full log and inspect output; returns the log's tail.
async fn save_diagnostics<R: Runtime>(
    rt: &R,
    state: &StateDir,
    component: &str,
    id: &str,
) -> (String, Option<std::path::PathBuf>) {
    use futures_util::StreamExt;
    let mut log = Vec::new();
    let mut stream = rt.logs(id, None, false);
    while let Some(Ok(chunk)) = stream.next().await {
        match chunk {
            LogChunk::Stdout(b) | LogChunk::Stderr(b) => log.extend_from_slice(&b),
        }
    }
    let text = String::from_utf8_lossy(&log);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = state
        .failures()
        .join(format!("{}-{component}", timestamp()));
    let inspect = rt.inspect_json(id).await.unwrap_or_default();
    let saved = crate::state::write_file(&dir.join("log.txt"), &log, 0o600)
        .and_then(|_| {
            crate::state::write_file(
                &dir.join("inspect.json"),
                serde_json::to_string_pretty(&inspect)
                    .unwrap_or_default()
                    .as_bytes(),
                0o600,
            )
        })
        .is_ok();
    (tail, saved.then_some(dir))
}

fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// A short random id labelling what this run creates.
fn run_id() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

/// SIGINT or SIGTERM.
pub async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_service_cluster_kubeconfig_is_recorded_absolute() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            absolute_service_cluster("kubeconfig:kind.yaml#kind-kind"),
            format!("kubeconfig:{}#kind-kind", cwd.join("kind.yaml").display())
        );
        for kept in [
            "kubeconfig:/etc/k.yaml",
            "kubeconfig:~/.kube/config#kind-kind",
            "kcp-workspace",
        ] {
            assert_eq!(absolute_service_cluster(kept), kept);
        }
    }
}
