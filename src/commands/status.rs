//! `kcpenv status`: each component's container state, readiness (probed now), image and
//! URLs. Exit 0 when every component is ready, 9 when not, 10 when the environment does
//! not exist.

use futures_util::future::join_all;
use serde_json::json;

use crate::cli::StatusArgs;
use crate::error::{Error, Result, exit};
use crate::names;
use crate::readiness::Prober;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::{ContainerState, Runtime};
use crate::state::StateDir;
use crate::ui;

use super::env_name;

struct Row {
    component: String,
    container: String,
    state: String,
    ready: bool,
    detail: Option<String>,
    image: String,
    urls: Vec<String>,
}

pub async fn run(args: StatusArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let rt = DockerRuntime::connect().await?;
    let state = StateDir::for_env(&env)?;
    let record = state.read_env()?;
    let observed = rt.list_containers(&env).await?;
    if observed.is_empty() && record.is_none() {
        return Err(Error::EnvNotFound { env });
    }
    let ca = std::fs::read_to_string(state.pki().join("ca.crt")).unwrap_or_default();
    let prober = Prober::new(&ca)?;

    // Components the last `up` planned, plus any container of the env it did not.
    let mut names: Vec<String> = record
        .as_ref()
        .map(|r| r.components.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    for o in &observed {
        if !names.contains(&o.component) {
            names.push(o.component.clone());
        }
    }
    let probes = join_all(names.iter().map(|name| {
        let (rt, prober, observed, record) = (&rt, &prober, &observed, &record);
        async move {
            let rec = record
                .as_ref()
                .and_then(|r| r.components.iter().find(|c| &c.name == name));
            let obs = observed.iter().find(|o| &o.component == name);
            let (ready, detail) = match obs {
                None => (false, Some("no container".to_string())),
                Some(o) if o.state != ContainerState::Running => (false, None),
                Some(o) => match rec.and_then(|r| r.readiness.as_ref()) {
                    None => (true, None),
                    Some(p) => match prober.check(rt, &o.id, p).await {
                        Ok(()) => (true, None),
                        Err(why) => (false, Some(why)),
                    },
                },
            };
            Row {
                component: name.clone(),
                container: obs
                    .map(|o| o.name.clone())
                    .unwrap_or_else(|| names::container_name(&env_name_of(record), name)),
                state: obs.map_or("missing".into(), |o| o.state.to_string()),
                ready,
                detail,
                image: obs
                    .map(|o| o.image.clone())
                    .or(rec.map(|r| r.image.clone()))
                    .unwrap_or_default(),
                urls: rec.map(|r| r.urls.clone()).unwrap_or_default(),
            }
        }
    }));
    // The store ids, asked live (they change when a memory datastore restarts), while
    // the components are probed.
    let store = async {
        match record.as_ref().and_then(|r| r.openfga.as_ref()) {
            Some(f) => {
                let store = match crate::fga::FgaClient::new(&f.api_url) {
                    Ok(c) => c
                        .store_id(crate::components::openfga::ORGS_STORE)
                        .await
                        .ok()
                        .flatten(),
                    Err(_) => None,
                };
                Some((f, store))
            }
            None => None,
        }
    };
    let published = published_resources(&state, record.as_ref());
    let (rows, fga, published) = tokio::join!(probes, store, published);
    // The agent cannot work while its service cluster cannot be reached.
    let all_ready = rows.iter().all(|r| r.ready) && published.is_ok();
    let (published, unreachable) = match published {
        Ok(p) => (p, None),
        Err(e) => (vec![], Some(e)),
    };
    let kubeconfig = state.kubeconfig();

    if ui::is_json(args.output) {
        let doc = json!({
            "env": env,
            "profile": record.as_ref().map(|r| &r.profile),
            "ready": all_ready,
            "engine": rt.endpoint,
            "kubeconfig": kubeconfig.exists().then_some(&kubeconfig),
            "oidc": record.as_ref().and_then(|r| r.oidc.as_ref()).map(|o| json!({
                "issuer": o.issuer,
                "client_id": o.client_id,
                "users": record.as_ref().map(|r| r.users.iter().map(|u| &u.email).collect::<Vec<_>>()),
            })),
            "openfga": fga.as_ref().map(|(f, store)| json!({
                "api_url": f.api_url,
                "playground_url": f.playground_url,
                "stores": { crate::components::openfga::ORGS_STORE: store },
            })),
            "syncagent": record.as_ref().and_then(|r| r.syncagent.as_ref()),
            "published_resources": published.iter().map(|p| json!({ "name": p.name, "published": p.published, "state": p.state })).collect::<Vec<_>>(),
            "service_cluster_error": unreachable,
            "kubeconfigs": record.as_ref().map(|r| r.kubeconfigs.keys().map(|k| state.named_kubeconfig(k)).collect::<Vec<_>>()),
            "components": rows.iter().map(|r| json!({
                "name": r.component, "container": r.container, "state": r.state,
                "ready": r.ready, "detail": r.detail, "image": r.image, "urls": r.urls,
            })).collect::<Vec<_>>(),
        });
        println!("{doc}");
    } else {
        println!(
            "environment {env:?} (profile {}): {}  [engine {}]",
            record.as_ref().map_or("?", |r| r.profile.as_str()),
            if all_ready { "ready" } else { "NOT ready" },
            rt.endpoint
        );
        println!(
            "{:<12} {:<10} {:<6} {:<45} URL",
            "COMPONENT", "STATE", "READY", "IMAGE"
        );
        for r in &rows {
            println!(
                "{:<12} {:<10} {:<6} {:<45} {}",
                r.component,
                r.state,
                if r.ready { "yes" } else { "no" },
                r.image,
                r.urls.join(" ")
            );
            if let Some(d) = &r.detail {
                println!("{:<12} {d}", "");
            }
        }
        if let Some(r) = &record
            && let Some(o) = &r.oidc
        {
            println!("issuer: {} (client {})", o.issuer, o.client_id);
            let users: Vec<&str> = r.users.iter().map(|u| u.email.as_str()).collect();
            println!(
                "users: {}  (kcpenv users --show-passwords)",
                users.join(", ")
            );
        }
        if let Some((f, store)) = &fga {
            println!(
                "openfga: API {}  playground {}  store {}: {}",
                f.api_url,
                f.playground_url.as_deref().unwrap_or("(off)"),
                crate::components::openfga::ORGS_STORE,
                store.as_deref().unwrap_or("(not found)")
            );
        }
        if let Some(sa) = record.as_ref().and_then(|r| r.syncagent.as_ref()) {
            println!(
                "syncagent: APIExport {} and APIExportEndpointSlice {} in {}; service cluster {}{}{}",
                sa.api_export,
                sa.endpoint_slice,
                sa.provider_workspace,
                sa.service_cluster,
                sa.service_workspace
                    .as_ref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default(),
                sa.consumer_workspace
                    .as_ref()
                    .map(|w| format!("; bound in {w}"))
                    .unwrap_or_default(),
            );
            for p in &published {
                println!("  PublishedResource {}: {}", p.name, p.state);
            }
            if let Some(e) = &unreachable {
                println!("  service cluster: cannot be asked: {e}");
            }
            println!("  kubeconfigs: kcpenv kubeconfig --list");
        }
        if kubeconfig.exists() {
            println!("kubeconfig: {}", kubeconfig.display());
        }
    }
    Ok(if all_ready { exit::OK } else { exit::NOT_READY })
}

fn env_name_of(record: &Option<crate::state::EnvRecord>) -> String {
    record.as_ref().map(|r| r.env.clone()).unwrap_or_default()
}

struct Published {
    name: String,
    published: bool,
    state: String,
}

/// With api-syncagent: each PublishedResource on the service cluster and whether the
/// agent published it (v0.7.0 records only the schema name in its status, so an
/// unpublished one is explained by looking for the CRD it names). Err says why the
/// service cluster cannot be asked.
async fn published_resources(
    state: &StateDir,
    record: Option<&crate::state::EnvRecord>,
) -> std::result::Result<Vec<Published>, String> {
    if record.and_then(|r| r.syncagent.as_ref()).is_none() {
        return Ok(vec![]);
    }
    // The service cluster's kubeconfig: kcp's admin in the service workspace, or the
    // existing cluster's own (flattened).
    let path = state.named_kubeconfig("service-cluster");
    let access =
        crate::service_cluster::load("service-cluster", &path, None).map_err(|e| e.to_string())?;
    let client = crate::bootstrap::Bootstrapper::for_access(&access).map_err(|e| e.to_string())?;
    let (pr_path, crd_path) = (
        "/apis/syncagent.kcp.io/v1alpha1/publishedresources",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    );
    let (prs, crds) = tokio::join!(client.get_json(pr_path), client.get_json(crd_path));
    let items = |v: Option<serde_json::Value>| {
        v.and_then(|v| v["items"].as_array().cloned())
            .unwrap_or_default()
    };
    let prs = prs.map_err(|e| e.to_string())?;
    let crds = items(crds.ok().flatten());
    Ok(items(prs)
        .iter()
        .map(|pr| {
            let name = pr["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            let (kind, group) = (
                pr["spec"]["resource"]["kind"].as_str().unwrap_or_default(),
                pr["spec"]["resource"]["apiGroup"].as_str().unwrap_or_default(),
            );
            let schema = pr["status"]["resourceSchemaName"].as_str().unwrap_or_default();
            let has_crd = crds
                .iter()
                .any(|c| c["spec"]["group"] == group && c["spec"]["names"]["kind"] == kind);
            let state = if !schema.is_empty() {
                format!("published as APIResourceSchema {schema}")
            } else if !has_crd {
                format!(
                    "NOT published: it names {kind}.{group}, which the service cluster has no CRD for (create the CRD, or fix the PublishedResource)"
                )
            } else {
                "not published yet (see `kcpenv logs syncagent`)".to_owned()
            };
            Published {
                name,
                published: !schema.is_empty(),
                state,
            }
        })
        .collect())
}
