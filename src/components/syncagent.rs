//! kcp's api-syncagent and what it needs (api-syncagent's getting-started guide, checked
//! against v0.7.0 on kcp v0.30): a provider workspace with an empty APIExport (kcp
//! creates the endpoint slice of the same name), a consumer workspace bound to it, the
//! agent's own identity (client certificate, CN `kcpenv-syncagent`) with the RBAC the
//! guide lists, and a service cluster with the PublishedResource CRD, the agent's
//! namespace and, optionally, an example CRD and its PublishedResource.
//!
//! Service cluster `kcp-workspace`: a workspace of the same kcp serves as the cluster the
//! agent syncs to — an API server without nodes, like the envtest servers the agent's own
//! end-to-end tests use. The agent gets cluster-admin there, as it would have through its
//! in-cluster service account and the chart's roles on a cluster of its own.
//!
//! Service cluster `kubeconfig:PATH`: an existing cluster (`service_cluster`). kcpenv's
//! CA means nothing there, so the agent acts with the kubeconfig's own credentials, and
//! kcpenv creates the service side's objects with them too.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::kubeconfig;
use crate::names;
use crate::pki::LeafSpec;
use crate::plan::{
    ContainerSpec, FileSpec, KubeObject, NamedKubeconfig, Network, PortBinding, Probe, ServedWait,
    ServiceSide, shift,
};
use crate::profile::{ServiceCluster, SyncAgentSpec};
use crate::render;
use crate::service_cluster::External;

use super::{Context, Planned};

pub const NAME: &str = "syncagent";
/// The image's user (`nobody`).
const UID: u64 = 65534;
pub const AGENT_CERT: &str = "syncagent";
/// The agent's user name in kcp (its certificate's CN).
pub const AGENT_USER: &str = "kcpenv-syncagent";
/// Must never change once the agent ran (it names the agent's state on the service cluster).
const AGENT_NAME: &str = "kcpenv";
const KCP_KUBECONFIG: &str = "/etc/api-syncagent/kcp/kubeconfig";
const SERVICE_KUBECONFIG: &str = "/etc/api-syncagent/service/kubeconfig";

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const CLUSTER_ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";

pub fn cert_requests() -> BTreeMap<String, LeafSpec> {
    BTreeMap::from([(
        AGENT_CERT.to_owned(),
        LeafSpec::Client {
            common_name: AGENT_USER.into(),
            organizations: vec![],
        },
    )])
}

/// What `up` plans for the agent: its container, the objects to create in kcp (after
/// kcp's own), and the kubeconfigs written beside the admin one.
pub struct PlannedAgent {
    pub container: Planned,
    pub bootstrap: Vec<KubeObject>,
    pub kubeconfigs: Vec<NamedKubeconfig>,
    pub waits: Vec<ServedWait>,
    /// With an existing service cluster: what to create and wait for there.
    pub service: Option<ServiceSide>,
    /// With an existing service cluster: the network the holder joins to reach it.
    pub holder_network: Option<String>,
}

/// `external` is the existing service cluster `up` read and routed for `kubeconfig:PATH`
/// (None in previews, which get a placeholder).
pub fn plan(
    spec: &SyncAgentSpec,
    mode: &ServiceCluster,
    external: Option<&External>,
    kcp_server: &str,
    ctx: &Context,
) -> Result<PlannedAgent> {
    let health = shift(spec.health_port, ctx.offset, "syncagent.healthPort")?;
    let metrics = shift(spec.metrics_port, ctx.offset, "syncagent.metricsPort")?;
    let agent = ctx.certs.get(AGENT_CERT)?;
    let admin = ctx.certs.get(super::kcp::ADMIN_CERT)?;
    let at = |ws: &str| format!("{kcp_server}/clusters/{ws}");
    let kc =
        |name: &str, ws: &str, pair| kubeconfig::single(name, &at(ws), &ctx.certs.ca_pem, pair);
    let agent_kcp = kc("syncagent-kcp", &spec.provider_workspace, agent);
    let provider = kc("provider", &spec.provider_workspace, admin);
    let consumer = (!spec.consumer_workspace.is_empty())
        .then(|| kc("consumer", &spec.consumer_workspace, admin));

    // The service cluster: the agent's kubeconfig for it (as seen from the namespace),
    // the named kubeconfigs for the host, and where its objects go.
    let mut bootstrap = vec![];
    let mut service_kubeconfigs = vec![];
    let (agent_service, service, holder_network) = match mode {
        ServiceCluster::KcpWorkspace => {
            let ws = &spec.service_workspace;
            let agent_service = kc("syncagent-service", ws, agent);
            service_kubeconfigs.push(NamedKubeconfig {
                name: "syncagent-service".into(),
                description: format!(
                    "the agent's identity on the service cluster (workspace {ws})"
                ),
                doc: agent_service.clone(),
            });
            service_kubeconfigs.push(NamedKubeconfig {
                name: "service-cluster".into(),
                description: format!("admin of the service cluster (workspace {ws})"),
                doc: kc("service-cluster", ws, admin),
            });
            bootstrap.extend(service_objects(spec, ws, true)?);
            (agent_service, None, None)
        }
        ServiceCluster::Kubeconfig { source, .. } => {
            let placeholder;
            let ext = match external {
                Some(e) => e,
                None => {
                    placeholder = External::placeholder(source);
                    &placeholder
                }
            };
            service_kubeconfigs.push(NamedKubeconfig {
                name: "service-cluster".into(),
                description: format!(
                    "the existing service cluster ({source}, flattened); the agent acts with these credentials"
                ),
                doc: ext.host.kubeconfig("service-cluster"),
            });
            let side = ServiceSide {
                source: source.clone(),
                access: ext.host.clone(),
                objects: service_objects(spec, "", false)?,
                waits: vec![published_resources_served("")],
            };
            (
                ext.inside.kubeconfig("syncagent-service"),
                Some(side),
                ext.network.clone(),
            )
        }
    };

    let file = |path: &str, doc: &serde_yaml::Value| FileSpec {
        path: path.to_owned(),
        content: serde_yaml::to_string(doc).expect("kubeconfig serialises"),
        mode: 0o600,
        uid: UID,
        gid: UID,
        secret: true,
    };
    let container = ContainerSpec {
        component: NAME.into(),
        name: names::container_name(ctx.env, NAME),
        image: ctx.images.resolve(NAME, &spec.image),
        entrypoint: None,
        command: Some(vec![
            format!("--apiexportendpointslice-ref={}", spec.api_export),
            format!("--agent-name={AGENT_NAME}"),
            format!("--kcp-kubeconfig={KCP_KUBECONFIG}"),
            format!("--kubeconfig={SERVICE_KUBECONFIG}"),
            format!("--namespace={}", spec.namespace),
            // Published through the holder for the readiness probe.
            format!("--health-address=0.0.0.0:{health}"),
            format!("--metrics-address=127.0.0.1:{metrics}"),
            "--log-format=Console".into(),
        ]),
        env: BTreeMap::new(),
        user: None,
        network: Network::JoinHolder,
        volumes: vec![],
        files: vec![
            file(KCP_KUBECONFIG, &agent_kcp),
            file(SERVICE_KUBECONFIG, &agent_service),
        ],
        init: None,
        // v0.7.0 registers no health checks, so /readyz and /healthz answer 404; the
        // listener being up means its manager started. That the agent actually works
        // is checked after (`waits`).
        readiness: Some(Probe::Tcp { port: health }),
        depends_on: vec![super::kcp::NAME.into()],
        stop_timeout: 10,
        urls: vec![],
        labels: BTreeMap::new(),
    };
    let publish = vec![PortBinding::loopback(health, NAME, "health")];

    // The example is published: the consumer workspace serves it (the agent turned the
    // CRD into a schema on the export, and kcp updated the binding).
    let mut waits = vec![];
    if service.is_none() {
        waits.push(published_resources_served(&spec.service_workspace));
    }
    if spec.example && !spec.consumer_workspace.is_empty() {
        waits.push(ServedWait {
            after: NAME.into(),
            cluster: spec.consumer_workspace.clone(),
            group: "example.kcpenv.dev".into(),
            version: "v1".into(),
            resource: "crontabs".into(),
        });
    }
    let service_workspace = service.is_none().then_some(&spec.service_workspace);
    bootstrap.splice(0..0, kcp_objects(spec, service_workspace)?);
    let mut kubeconfigs = vec![NamedKubeconfig {
        name: "syncagent-kcp".into(),
        description: format!(
            "the agent's identity ({AGENT_USER}) in {}, the endpoint slice's workspace",
            spec.provider_workspace
        ),
        doc: agent_kcp,
    }];
    kubeconfigs.extend(service_kubeconfigs);
    kubeconfigs.extend([NamedKubeconfig {
        name: "provider".into(),
        description: format!(
            "admin in {}: for a multicluster-runtime controller on APIExportEndpointSlice {}",
            spec.provider_workspace, spec.api_export
        ),
        doc: provider,
    }]);
    if let Some(doc) = consumer {
        kubeconfigs.push(NamedKubeconfig {
            name: "consumer".into(),
            description: format!(
                "admin in {}, the workspace bound to {}",
                spec.consumer_workspace, spec.api_export
            ),
            doc,
        });
    }
    Ok(PlannedAgent {
        waits,
        container: (container, publish),
        bootstrap,
        kubeconfigs,
        service,
        holder_network,
    })
}

/// The agent resolves PublishedResources through discovery once, at start: it must not
/// start before the service cluster serves them.
fn published_resources_served(cluster: &str) -> ServedWait {
    ServedWait {
        after: super::kcp::NAME.into(),
        cluster: cluster.into(),
        group: "syncagent.kcp.io".into(),
        version: "v1alpha1".into(),
        resource: "publishedresources".into(),
    }
}

/// The workspaces with each parent before its children, each once.
fn workspaces(paths: &[&String]) -> Vec<KubeObject> {
    let mut out: Vec<KubeObject> = vec![];
    for ws in paths {
        let parts: Vec<&str> = ws.split(':').collect();
        for i in 1..parts.len() {
            let obj = KubeObject::workspace(&parts[..i].join(":"), parts[i]);
            if !out.contains(&obj) {
                out.push(obj);
            }
        }
    }
    out
}

/// The service cluster's objects in `cluster` (a workspace, or "" for an existing
/// cluster): the PublishedResource CRD, the agent's namespace, cluster-admin for the
/// agent's identity when it is kcpenv's, and the example.
fn service_objects(
    spec: &SyncAgentSpec,
    cluster: &str,
    agent_binding: bool,
) -> Result<Vec<KubeObject>> {
    let mut out = vec![];
    let service = cluster;
    out.push(manifest(
        service,
        CRDS,
        "syncagent/publishedresource-crd.yaml",
        &json!({}),
    )?);
    out.push(KubeObject {
        cluster: service.into(),
        collection: "/api/v1/namespaces".into(),
        name: spec.namespace.clone(),
        body: json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": spec.namespace, "labels": { "app.kubernetes.io/managed-by": "kcpenv" } },
        }),
        exclusive: false,
    });
    if agent_binding {
        out.push(KubeObject::user_binding(
            service,
            "kcpenv:syncagent",
            "cluster-admin",
            AGENT_USER,
        ));
    }
    if spec.example {
        out.push(manifest(
            service,
            CRDS,
            "syncagent/example-crd.yaml",
            &json!({}),
        )?);
        out.push(manifest(
            service,
            "/apis/syncagent.kcp.io/v1alpha1/publishedresources",
            "syncagent/example-publishedresource.yaml",
            &json!({}),
        )?);
    }
    Ok(out)
}

/// In kcp, in order: the workspaces (parents first; the service workspace's too when it
/// is one), the export, the agent's RBAC, the consumer's binding.
fn kcp_objects(
    spec: &SyncAgentSpec,
    service_workspace: Option<&String>,
) -> Result<Vec<KubeObject>> {
    let mut paths: Vec<&String> = service_workspace.into_iter().collect();
    paths.push(&spec.provider_workspace);
    if !spec.consumer_workspace.is_empty() {
        paths.push(&spec.consumer_workspace);
    }
    let mut out = workspaces(&paths);
    let provider = spec.provider_workspace.as_str();
    let claims: Vec<(String, String)> = spec
        .permission_claims
        .iter()
        .map(|c| crate::profile::parse_claim(c))
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::Internal)?;
    out.push(KubeObject {
        cluster: provider.into(),
        collection: "/apis/apis.kcp.io/v1alpha1/apiexports".into(),
        name: spec.api_export.clone(),
        // No schemas: the agent adds them, and its own claims next to these.
        body: json!({
            "apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIExport",
            "metadata": { "name": spec.api_export, "labels": { "app.kubernetes.io/managed-by": "kcpenv" } },
            "spec": {
                "permissionClaims": claims.iter().map(|(group, resource)| json!({
                    "group": group, "resource": resource, "all": true,
                })).collect::<Vec<_>>(),
            },
        }),
        exclusive: true,
    });
    out.push(manifest(
        provider,
        CLUSTER_ROLES,
        "syncagent/agent-clusterrole.yaml",
        &json!({ "export": spec.api_export }),
    )?);
    out.push(KubeObject::user_binding(
        provider,
        "kcpenv:syncagent",
        "kcpenv:syncagent",
        AGENT_USER,
    ));
    out.push(KubeObject::user_binding(
        provider,
        "kcpenv:syncagent:access",
        "system:kcp:workspace:access",
        AGENT_USER,
    ));

    if !spec.consumer_workspace.is_empty() {
        out.push(KubeObject {
            cluster: spec.consumer_workspace.clone(),
            collection: "/apis/apis.kcp.io/v1alpha2/apibindings".into(),
            name: spec.api_export.clone(),
            body: json!({
                "apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding",
                "metadata": { "name": spec.api_export, "labels": { "app.kubernetes.io/managed-by": "kcpenv" } },
                "spec": {
                    "reference": { "export": { "path": provider, "name": spec.api_export } },
                    // The profile's claims, and the one api-syncagent v0.7.0 adds
                    // (events), accepted up front.
                    "permissionClaims": claims
                        .iter()
                        .map(|(g, r)| (g.as_str(), r.as_str()))
                        .chain(
                            (!claims.iter().any(|(g, r)| g.is_empty() && r == "events"))
                                .then_some(("", "events")),
                        )
                        .map(|(group, resource)| json!({
                            "group": group, "resource": resource, "verbs": ["*"],
                            "selector": { "matchAll": true }, "state": "Accepted",
                        }))
                        .collect::<Vec<_>>(),
                },
            }),
            exclusive: false,
        });
    }
    Ok(out)
}

/// An object from a YAML template under `templates/`.
fn manifest(cluster: &str, collection: &str, template: &str, vars: &Value) -> Result<KubeObject> {
    let text = render::template(template, vars)?;
    let body: Value = serde_yaml::from_str(&text)
        .map_err(|e| Error::Internal(format!("templates/{template}: {e}")))?;
    let name = body["metadata"]["name"]
        .as_str()
        .ok_or_else(|| Error::Internal(format!("templates/{template}: no metadata.name")))?
        .to_owned();
    Ok(KubeObject {
        cluster: cluster.into(),
        collection: collection.into(),
        name,
        body,
        exclusive: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKSPACES: &str = "/apis/tenancy.kcp.io/v1alpha1/workspaces";

    fn spec() -> SyncAgentSpec {
        serde_yaml::from_str("{}").unwrap()
    }

    /// The kcp-workspace mode's objects, in plan order.
    fn objects(s: &SyncAgentSpec) -> Result<Vec<KubeObject>> {
        let mut out = kcp_objects(s, Some(&s.service_workspace))?;
        out.extend(service_objects(s, &s.service_workspace, true)?);
        Ok(out)
    }

    #[test]
    fn workspaces_come_first_parents_before_children() {
        let objs = objects(&spec()).unwrap();
        let ws: Vec<String> = objs
            .iter()
            .filter(|o| o.collection == WORKSPACES)
            .map(|o| format!("{}:{}", o.cluster, o.name))
            .collect();
        assert_eq!(
            ws,
            vec![
                "root:service-cluster",
                "root:providers",
                "root:providers:example",
                "root:consumer"
            ]
        );
        // Each workspace's objects come after the workspace.
        for (i, o) in objs.iter().enumerate() {
            if o.collection != WORKSPACES {
                let ws = objs
                    .iter()
                    .position(|w| {
                        w.collection == WORKSPACES
                            && format!("{}:{}", w.cluster, w.name) == o.cluster
                    })
                    .unwrap();
                assert!(ws < i, "{} before its workspace", o.name);
            }
        }
    }

    #[test]
    fn the_agent_role_names_the_export() {
        let objs = objects(&spec()).unwrap();
        let role = objs.iter().find(|o| o.collection == CLUSTER_ROLES).unwrap();
        assert_eq!(role.cluster, "root:providers:example");
        let rules = role.body["rules"].to_string();
        assert!(rules.contains("\"apiexports/content\""), "{rules}");
        assert!(rules.contains("\"example.kcpenv.dev\""), "{rules}");
        // The binding comes after the export it refers to.
        let pos = |c: &str| objs.iter().position(|o| o.collection.ends_with(c)).unwrap();
        assert!(pos("apiexports") < pos("apibindings"));
        // The CRD before its PublishedResource.
        assert!(pos("customresourcedefinitions") < pos("publishedresources"));
    }

    #[test]
    fn without_the_example_no_crontab() {
        let mut s = spec();
        s.example = false;
        assert!(
            !objects(&s)
                .unwrap()
                .iter()
                .any(|o| o.name.contains("crontab"))
        );
    }
}
