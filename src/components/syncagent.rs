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

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::kubeconfig;
use crate::names;
use crate::pki::LeafSpec;
use crate::plan::{
    ContainerSpec, FileSpec, KubeObject, NamedKubeconfig, Network, PortBinding, Probe, ServedWait,
    shift,
};
use crate::profile::{ServiceCluster, SyncAgentSpec};
use crate::render;

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
}

pub fn plan(
    spec: &SyncAgentSpec,
    service: &ServiceCluster,
    kcp_server: &str,
    ctx: &Context,
) -> Result<PlannedAgent> {
    let health = shift(spec.health_port, ctx.offset, "syncagent.healthPort")?;
    let metrics = shift(spec.metrics_port, ctx.offset, "syncagent.metricsPort")?;
    let ServiceCluster::KcpWorkspace = service else {
        return Err(Error::Internal(
            "profile validation lets only kcp-workspace through".into(),
        ));
    };
    let agent = ctx.certs.get(AGENT_CERT)?;
    let admin = ctx.certs.get(super::kcp::ADMIN_CERT)?;
    let at = |ws: &str| format!("{kcp_server}/clusters/{ws}");
    let kc =
        |name: &str, ws: &str, pair| kubeconfig::single(name, &at(ws), &ctx.certs.ca_pem, pair);
    let agent_kcp = kc("syncagent-kcp", &spec.provider_workspace, agent);
    let agent_service = kc("syncagent-service", &spec.service_workspace, agent);
    let provider = kc("provider", &spec.provider_workspace, admin);
    let service_admin = kc("service-cluster", &spec.service_workspace, admin);
    let consumer = (!spec.consumer_workspace.is_empty())
        .then(|| kc("consumer", &spec.consumer_workspace, admin));

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
    let mut waits = vec![
        // The agent resolves PublishedResources through discovery once, at start.
        ServedWait {
            after: super::kcp::NAME.into(),
            cluster: spec.service_workspace.clone(),
            group: "syncagent.kcp.io".into(),
            version: "v1alpha1".into(),
            resource: "publishedresources".into(),
        },
    ];
    if spec.example && !spec.consumer_workspace.is_empty() {
        waits.push(ServedWait {
            after: NAME.into(),
            cluster: spec.consumer_workspace.clone(),
            group: "example.kcpenv.dev".into(),
            version: "v1".into(),
            resource: "crontabs".into(),
        });
    }
    let mut kubeconfigs = vec![
        NamedKubeconfig {
            name: "syncagent-kcp".into(),
            description: format!(
                "the agent's identity ({AGENT_USER}) in {}, the endpoint slice's workspace",
                spec.provider_workspace
            ),
            doc: agent_kcp,
        },
        NamedKubeconfig {
            name: "syncagent-service".into(),
            description: format!(
                "the agent's identity on the service cluster (workspace {})",
                spec.service_workspace
            ),
            doc: agent_service,
        },
        NamedKubeconfig {
            name: "service-cluster".into(),
            description: format!(
                "admin of the service cluster (workspace {})",
                spec.service_workspace
            ),
            doc: service_admin,
        },
        NamedKubeconfig {
            name: "provider".into(),
            description: format!(
                "admin in {}: for a multicluster-runtime controller on APIExportEndpointSlice {}",
                spec.provider_workspace, spec.api_export
            ),
            doc: provider,
        },
    ];
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
        bootstrap: objects(spec)?,
        kubeconfigs,
    })
}

/// In order: workspaces (each parent first), the service cluster's objects, the export,
/// the agent's RBAC, the consumer's binding.
fn objects(spec: &SyncAgentSpec) -> Result<Vec<KubeObject>> {
    let mut out = vec![];
    let mut workspaces = vec![&spec.service_workspace, &spec.provider_workspace];
    if !spec.consumer_workspace.is_empty() {
        workspaces.push(&spec.consumer_workspace);
    }
    for ws in workspaces {
        let parts: Vec<&str> = ws.split(':').collect();
        for i in 1..parts.len() {
            let obj = KubeObject::workspace(&parts[..i].join(":"), parts[i]);
            if !out.contains(&obj) {
                out.push(obj);
            }
        }
    }

    let service = spec.service_workspace.as_str();
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
    out.push(KubeObject::user_binding(
        service,
        "kcpenv:syncagent",
        "cluster-admin",
        AGENT_USER,
    ));
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
        let first_other = objs
            .iter()
            .position(|o| o.collection != WORKSPACES)
            .unwrap();
        assert!(
            objs[first_other..]
                .iter()
                .all(|o| o.collection != WORKSPACES)
        );
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
