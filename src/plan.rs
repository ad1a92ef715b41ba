//! The plan: everything `up` will create, computed purely from the profile, the flags and
//! the certificates. Deterministic — the same inputs give byte-identical container specs —
//! so a config hash of each spec tells the reconciler what changed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::components;
use crate::error::{Error, Result};
use crate::images;
use crate::names::{self, HOLDER};
use crate::pki::CertPair;
use crate::profile::Profile;
use crate::secrets::Secrets;

/// Inputs to the plan besides the profile.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub env: String,
    pub port_offset: u16,
    pub image_overrides: BTreeMap<String, String>,
    pub mirror: Option<String>,
    /// api-syncagent's service cluster when it is an existing one (`kubeconfig:PATH`),
    /// read and routed by `up`; without it such a plan gets a placeholder (previews).
    pub service_cluster: Option<crate::service_cluster::External>,
}

/// Certificates the plan may embed, keyed by the names `components::cert_requests` gave.
#[derive(Debug, Clone, Default)]
pub struct Certs {
    pub ca_pem: String,
    pub leaves: BTreeMap<String, CertPair>,
}

impl Certs {
    pub fn get(&self, name: &str) -> Result<&CertPair> {
        self.leaves
            .get(name)
            .ok_or_else(|| Error::Internal(format!("certificate {name:?} was not prepared")))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub env: String,
    pub profile: String,
    pub port_offset: u16,
    pub holder: ContainerSpec,
    /// In dependency order (a component comes after everything it depends on).
    pub components: Vec<ContainerSpec>,
    pub volumes: Vec<VolumeSpec>,
    pub kubeconfig: Option<KubeconfigSpec>,
    /// kcp objects created (when missing) once kcp is ready.
    pub bootstrap: Vec<KubeObject>,
    /// The component whose readiness gates `bootstrap` (the one serving kcp's API).
    pub bootstrap_after: Option<String>,
    /// OpenFGA stores, models and tuples to ensure once OpenFGA is ready.
    pub fga: Option<FgaPlan>,
    /// Kubeconfigs besides the admin one (the sync agent's, the service cluster's, …).
    pub kubeconfigs: Vec<NamedKubeconfig>,
    pub waits: Vec<ServedWait>,
    /// An existing service cluster's objects, created with its kubeconfig's credentials.
    pub service: Option<ServiceSide>,
}

/// What kcpenv creates on an existing service cluster (`kubeconfig:PATH`) and waits for
/// there, through the kubeconfig's own credentials. Objects and waits have no
/// workspace (`cluster` is empty): the kubeconfig's server is the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSide {
    /// As the user wrote it: `kubeconfig:PATH[#CONTEXT]`.
    pub source: String,
    pub access: crate::service_cluster::Access,
    pub objects: Vec<KubeObject>,
    pub waits: Vec<ServedWait>,
}

impl Plan {
    pub fn all_containers(&self) -> impl Iterator<Item = &ContainerSpec> {
        std::iter::once(&self.holder).chain(self.components.iter())
    }
    pub fn published_ports(&self) -> &[PortBinding] {
        match &self.holder.network {
            Network::Holder { publish, .. } => publish,
            Network::JoinHolder => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub component: String,
    pub name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub network: Network,
    pub volumes: Vec<VolumeMount>,
    /// Files copied into the container before it starts (owned by `uid`:`gid`). Copying,
    /// not bind-mounting, works with remote engines and lets a non-root container read
    /// a 0600 key without the host file being readable by that uid.
    pub files: Vec<FileSpec>,
    /// A command run to completion in a one-shot container (same image, volumes and
    /// files) before this one is created, e.g. a database migration.
    pub init: Option<Vec<String>>,
    pub readiness: Option<Probe>,
    pub depends_on: Vec<String>,
    pub stop_timeout: u32,
    /// User-facing URLs, shown by `status`.
    pub urls: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

impl ContainerSpec {
    pub fn config_hash(&self) -> &str {
        self.labels
            .get(names::LABEL_CONFIG_HASH)
            .map(String::as_str)
            .unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Network {
    /// Owns the shared network namespace and publishes these ports; on the engine's
    /// default bridge, or on `network` (to reach an existing service cluster there).
    Holder {
        publish: Vec<PortBinding>,
        // Skipped when absent so the config hash of existing holders stays the same.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        network: Option<String>,
    },
    /// Joins the holder's namespace (`network_mode: container:<holder>`).
    JoinHolder,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub host_ip: String,
    /// Identity port: the same number inside the namespace and on the host.
    pub port: u16,
    pub component: String,
    pub name: String,
}

impl PortBinding {
    /// A port published on 127.0.0.1 only (kcpenv's default: nothing reachable from the network).
    pub fn loopback(port: u16, component: &str, name: &str) -> PortBinding {
        PortBinding {
            host_ip: "127.0.0.1".into(),
            port,
            component: component.into(),
            name: name.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    pub volume: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub name: String,
    pub component: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSpec {
    pub path: String,
    pub content: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Whether the content is secret (kept 0600 in the state dir, redacted in exports).
    pub secret: bool,
}

/// A readiness probe, run from the host against a published port (or inside the container
/// for `exec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Probe {
    Http {
        port: u16,
        path: String,
    },
    /// Verified with the environment's CA.
    Https {
        port: u16,
        path: String,
    },
    Tcp {
        port: u16,
    },
    Exec {
        command: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigSpec {
    /// Base URL of kcp, e.g. `https://localhost:6443`.
    pub server: String,
    pub ca_pem: String,
    pub admin: CertPair,
    /// With Dex: the OIDC client kubelogin logs in with.
    pub oidc: Option<OidcSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSpec {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

/// After `after` is ready (and its bootstrap done), `up` waits until kcp's discovery in
/// workspace `cluster` lists `resource` of `group`/`version`: a component's effect, not
/// just its process. (kcp's aggregated discovery lists a new CRD seconds after the CRD
/// is established; clients such as controller-runtime start from it.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedWait {
    pub after: String,
    pub cluster: String,
    pub group: String,
    pub version: String,
    pub resource: String,
}

/// A kubeconfig written beside the admin one (`<state>/kubeconfigs/<name>.kubeconfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedKubeconfig {
    pub name: String,
    pub description: String,
    pub doc: serde_yaml::Value,
}

/// What kcpenv ensures in OpenFGA once it is ready.
#[derive(Debug, Clone, PartialEq)]
pub struct FgaPlan {
    /// Base URL of OpenFGA's HTTP API on the host.
    pub api_url: String,
    pub stores: Vec<FgaStorePlan>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FgaStorePlan {
    pub name: String,
    /// The authorization model in OpenFGA's JSON form.
    pub model: serde_json::Value,
    /// Base tuples, written if missing.
    pub tuples: Vec<FgaTuple>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FgaTuple {
    pub user: String,
    pub relation: String,
    pub object: String,
}

/// A kcp object kcpenv creates (if missing) in logical cluster `cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubeObject {
    pub cluster: String,
    /// The collection, e.g. `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`.
    pub collection: String,
    pub name: String,
    pub body: serde_json::Value,
    /// An existing object of this name that kcpenv did not create is an error (it
    /// would be taken over, e.g. an APIExport the sync agent rewrites).
    pub exclusive: bool,
}

impl KubeObject {
    /// A ClusterRoleBinding of `role` to the user `user` in `cluster`.
    pub fn user_binding(cluster: &str, name: &str, role: &str, user: &str) -> KubeObject {
        let mut obj = Self::cluster_role_binding(cluster, name, role, user);
        obj.body["subjects"][0]["kind"] = "User".into();
        obj
    }

    /// A workspace of kcp's default type under `parent`.
    pub fn workspace(parent: &str, name: &str) -> KubeObject {
        KubeObject {
            cluster: parent.into(),
            collection: "/apis/tenancy.kcp.io/v1alpha1/workspaces".into(),
            name: name.into(),
            body: serde_json::json!({
                "apiVersion": "tenancy.kcp.io/v1alpha1",
                "kind": "Workspace",
                "metadata": { "name": name, "labels": { "app.kubernetes.io/managed-by": "kcpenv" } },
            }),
            exclusive: false,
        }
    }

    pub fn cluster_role_binding(cluster: &str, name: &str, role: &str, group: &str) -> KubeObject {
        KubeObject {
            cluster: cluster.into(),
            collection: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings".into(),
            name: name.into(),
            body: serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": { "name": name, "labels": { "app.kubernetes.io/managed-by": "kcpenv" } },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
                "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group }],
            }),
            exclusive: false,
        }
    }
}

/// Builds the plan. Pure: no I/O, no clock, no randomness.
pub fn build(profile: &Profile, opts: &Options, certs: &Certs, secrets: &Secrets) -> Result<Plan> {
    let env = opts.env.as_str();
    let known: BTreeSet<String> = components::names(profile).into_iter().collect();
    for c in opts.image_overrides.keys() {
        if !known.contains(c) {
            return Err(Error::InvalidImageFlag {
                value: format!("{c}={}", opts.image_overrides[c]),
                reason: format!(
                    "profile {:?} has no component {c:?} (components: {})",
                    profile.name,
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    let ctx = components::Context {
        env,
        offset: opts.port_offset,
        images: ImageChoice {
            overrides: &opts.image_overrides,
            mirror: opts.mirror.as_deref(),
        },
        certs,
        secrets,
    };
    let planned = components::plan(profile, &ctx, opts.service_cluster.as_ref())?;

    let mut comps = order_by_dependencies(planned.containers)?;
    let publish: Vec<PortBinding> = comps.iter().flat_map(|c| c.1.iter().cloned()).collect();
    let holder_image = ctx.images.resolve(HOLDER, &profile.holder.image);
    let mut holder = ContainerSpec {
        component: HOLDER.into(),
        name: names::container_name(env, HOLDER),
        image: holder_image,
        entrypoint: Some(vec![profile.holder.shell.clone()]),
        // Waits forever but exits at once on SIGTERM (PID 1 gets no default handlers).
        command: Some(vec![
            "-c".into(),
            "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done".into(),
        ]),
        env: BTreeMap::new(),
        user: None,
        network: Network::Holder {
            publish,
            network: planned.holder_network,
        },
        volumes: vec![],
        files: vec![],
        init: None,
        readiness: None,
        depends_on: vec![],
        stop_timeout: 2,
        urls: vec![],
        labels: BTreeMap::new(),
    };
    finish(&mut holder, env, &profile.name);
    for (c, _) in comps.iter_mut() {
        finish(c, env, &profile.name);
    }
    let components: Vec<ContainerSpec> = comps.into_iter().map(|(c, _)| c).collect();
    let volumes = components
        .iter()
        .flat_map(|c| {
            c.volumes.iter().map(|v| VolumeSpec {
                name: v.volume.clone(),
                component: c.component.clone(),
            })
        })
        .collect();
    Ok(Plan {
        env: env.to_owned(),
        profile: profile.name.clone(),
        port_offset: opts.port_offset,
        holder,
        components,
        volumes,
        kubeconfig: planned.kubeconfig,
        bootstrap_after: profile
            .kcp
            .as_ref()
            .map(|_| components::kcp::NAME.to_owned()),
        bootstrap: planned.bootstrap,
        fga: planned.fga,
        kubeconfigs: planned.kubeconfigs,
        waits: planned.waits,
        service: planned.service,
    })
}

/// The plan with placeholder certificates and secrets: for commands that only need its
/// shape (images, published ports), with no state directory to read.
pub fn preview(profile: &Profile, opts: &Options) -> Result<Plan> {
    let mut certs = Certs::default();
    for name in components::cert_requests(profile).into_keys() {
        certs.leaves.insert(name, CertPair::default());
    }
    // Placeholders, not generated secrets: a real one costs a bcrypt hash per Dex user,
    // and nothing previewed uses them.
    let mut secrets = Secrets::default();
    for u in profile.dex.iter().flat_map(|d| &d.users) {
        secrets
            .users
            .insert(u.email.clone(), crate::secrets::UserSecret::default());
    }
    build(profile, opts, &certs, &secrets)
}

/// How a component's `image:` field becomes a reference.
#[derive(Debug, Clone, Copy)]
pub struct ImageChoice<'a> {
    pub overrides: &'a BTreeMap<String, String>,
    pub mirror: Option<&'a str>,
}

impl ImageChoice<'_> {
    pub fn resolve(&self, component: &str, field: &str) -> String {
        match self.overrides.get(component) {
            Some(r) => r.clone(),
            None => images::resolve(field, self.mirror),
        }
    }
}

/// Shifts a profile port by the offset; the result must still be a port.
pub fn shift(port: u16, offset: u16, what: &str) -> Result<u16> {
    port.checked_add(offset)
        .ok_or_else(|| Error::ProfileInvalid {
            origin: "--port-offset".into(),
            message: format!("{what} {port} + offset {offset} exceeds 65535"),
            location: None,
        })
}

/// Labels and the config hash. The hash covers everything about the container except
/// the labels themselves, so any change to image, flags, files or ports shows up.
fn finish(spec: &mut ContainerSpec, env: &str, profile: &str) {
    spec.labels.clear();
    let json = serde_json::to_vec(&*spec).expect("specs serialise");
    let hash = hex(&Sha256::digest(&json))[..16].to_owned();
    spec.labels = BTreeMap::from([
        (names::LABEL_ENV.into(), env.into()),
        (names::LABEL_COMPONENT.into(), spec.component.clone()),
        (names::LABEL_PROFILE.into(), profile.into()),
        (names::LABEL_CONFIG_HASH.into(), hash),
        (
            names::LABEL_VERSION.into(),
            env!("CARGO_PKG_VERSION").into(),
        ),
    ]);
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stable topological order: among components whose dependencies are placed, the
/// profile's order (built-ins first, then containers by name) decides.
fn order_by_dependencies(
    mut items: Vec<(ContainerSpec, Vec<PortBinding>)>,
) -> Result<Vec<(ContainerSpec, Vec<PortBinding>)>> {
    let mut out: Vec<(ContainerSpec, Vec<PortBinding>)> = Vec::with_capacity(items.len());
    let mut placed: BTreeSet<String> = BTreeSet::new();
    while !items.is_empty() {
        let Some(i) = items
            .iter()
            .position(|(c, _)| c.depends_on.iter().all(|d| placed.contains(d)))
        else {
            return Err(Error::Internal(
                "dependency cycle survived validation".into(),
            ));
        };
        let item = items.remove(i);
        placed.insert(item.0.component.clone());
        out.push(item);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile;

    pub(crate) fn certs() -> Certs {
        let pair = |n: &str| CertPair {
            cert_pem: format!("{n}-cert"),
            key_pem: format!("{n}-key"),
        };
        let mut c = Certs {
            ca_pem: "ca".into(),
            leaves: BTreeMap::new(),
        };
        for (name, _) in components::cert_requests(&profile::load("kcp").unwrap()) {
            c.leaves.insert(name.clone(), pair(&name));
        }
        c
    }

    fn opts(offset: u16) -> Options {
        Options {
            env: "dev".into(),
            port_offset: offset,
            ..Default::default()
        }
    }

    #[test]
    fn kcp_plan_is_deterministic_and_labelled() {
        let p = profile::load("kcp").unwrap();
        let a = build(&p, &opts(0), &certs(), &Secrets::default()).unwrap();
        let b = build(&p, &opts(0), &certs(), &Secrets::default()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.holder.name, "kcpenv-dev-holder");
        let kcp = &a.components[0];
        assert_eq!(kcp.name, "kcpenv-dev-kcp");
        assert_eq!(kcp.labels[names::LABEL_ENV], "dev");
        assert_eq!(kcp.labels[names::LABEL_COMPONENT], "kcp");
        assert_eq!(kcp.labels[names::LABEL_PROFILE], "kcp");
        assert_eq!(kcp.config_hash().len(), 16);
        assert_eq!(
            a.published_ports(),
            &[PortBinding {
                host_ip: "127.0.0.1".into(),
                port: 6443,
                component: "kcp".into(),
                name: "https".into()
            }]
        );
        assert_eq!(a.volumes[0].name, "kcpenv-dev-kcp-data");
    }

    #[test]
    fn offset_shifts_ports_urls_and_hash() {
        let p = profile::load("kcp").unwrap();
        let a = build(&p, &opts(0), &certs(), &Secrets::default()).unwrap();
        let b = build(&p, &opts(100), &certs(), &Secrets::default()).unwrap();
        assert_eq!(b.published_ports()[0].port, 6543);
        assert_eq!(b.components[0].urls, vec!["https://localhost:6543"]);
        assert_ne!(a.components[0].config_hash(), b.components[0].config_hash());
        assert_ne!(a.holder.config_hash(), b.holder.config_hash());
        assert!(build(&p, &opts(65000), &certs(), &Secrets::default()).is_err());
    }

    #[test]
    fn image_override_and_mirror() {
        let p = profile::load("kcp").unwrap();
        let mut o = opts(0);
        o.mirror = Some("kcpenv.local".into());
        let plan = build(&p, &o, &certs(), &Secrets::default()).unwrap();
        assert!(
            plan.components[0]
                .image
                .starts_with("kcpenv.local/kcp-dev/kcp:")
        );
        assert_eq!(plan.holder.image, plan.components[0].image);
        o.image_overrides.insert("kcp".into(), "my/kcp:dev".into());
        let plan = build(&p, &o, &certs(), &Secrets::default()).unwrap();
        assert_eq!(plan.components[0].image, "my/kcp:dev");
        o.image_overrides.insert("dex".into(), "dex:x".into());
        let e = build(&p, &o, &certs(), &Secrets::default()).unwrap_err();
        assert!(e.to_string().contains("dex=dex:x"), "{e}");
    }

    /// `kubeconfig:PATH`: the holder joins the cluster's network, the agent gets the
    /// routed view, and the service side goes through the kubeconfig, not kcp.
    #[test]
    fn an_existing_service_cluster_is_planned_apart_from_kcp() {
        use crate::service_cluster::{Access, Auth, External};
        let mut p = profile::load("syncagent").unwrap();
        p.syncagent.as_mut().unwrap().service_cluster = "kubeconfig:/k#kind-kind".into();
        let mut certs = certs();
        for (leaf, _) in components::cert_requests(&p) {
            certs.leaves.entry(leaf).or_default();
        }
        let host = Access {
            server: "https://127.0.0.1:40123".into(),
            ca_pem: Some("CA".into()),
            insecure: false,
            tls_server_name: None,
            auth: Auth::Token("t0ken".into()),
        };
        let inside = Access {
            server: "https://kind-control-plane:6443".into(),
            tls_server_name: Some("127.0.0.1".into()),
            ..host.clone()
        };
        let mut o = opts(0);
        o.service_cluster = Some(External {
            source: "kubeconfig:/k#kind-kind".into(),
            host: host.clone(),
            inside,
            network: Some("kind".into()),
        });
        let plan = build(&p, &o, &certs, &Secrets::default()).unwrap();
        assert!(matches!(
            &plan.holder.network,
            Network::Holder { network: Some(n), .. } if n == "kind"
        ));
        let agent = plan
            .components
            .iter()
            .find(|c| c.component == "syncagent")
            .unwrap();
        let service = agent
            .files
            .iter()
            .find(|f| f.path.ends_with("service/kubeconfig"))
            .unwrap();
        assert!(
            service
                .content
                .contains("server: https://kind-control-plane:6443")
        );
        assert!(service.content.contains("tls-server-name: 127.0.0.1"));
        assert!(service.content.contains("token: t0ken") && service.secret);

        let side = plan.service.as_ref().unwrap();
        assert_eq!(side.access, host);
        assert!(side.objects.iter().all(|o| o.cluster.is_empty()));
        assert!(
            side.objects
                .iter()
                .any(|o| o.name == "publishedresources.syncagent.kcp.io")
        );
        // No RoleBinding for kcpenv's agent identity: the kubeconfig's identity acts.
        assert!(
            !side
                .objects
                .iter()
                .any(|o| o.body["kind"] == "ClusterRoleBinding")
        );
        assert_eq!(side.waits.len(), 1);
        // Nothing of the service side in kcp, and no service workspace.
        assert!(
            plan.bootstrap
                .iter()
                .all(|o| !o.cluster.contains("service-cluster") && o.name != "service-cluster")
        );
        let names: Vec<&str> = plan.kubeconfigs.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(
            names,
            ["syncagent-kcp", "service-cluster", "provider", "consumer"]
        );
        assert!(
            !plan
                .waits
                .iter()
                .any(|w| w.resource == "publishedresources")
        );

        // The kcp-workspace holder's hash is unaffected by the new field.
        let plain = profile::load("syncagent").unwrap();
        let a = build(&plain, &opts(0), &certs, &Secrets::default()).unwrap();
        let json = serde_json::to_string(&a.holder.network).unwrap();
        assert!(!json.contains("network\""), "{json}");
    }

    /// Every embedded profile plans, and every template in templates/ is rendered by at
    /// least one of them (into the container path listed here) as valid YAML.
    #[test]
    fn every_template_is_rendered_by_an_embedded_profile() {
        let rendered_at = [
            ("dex/config.yaml", "/etc/dex/config.yaml"),
            (
                "kcp/authentication-config.yaml",
                "/etc/kcpenv/auth/authentication-config.yaml",
            ),
            // OpenFGA stores are written through its API, not as files.
            ("openfga/orgs/model.json", "openfga store orgs: model"),
            ("openfga/orgs/tuples.yaml", "openfga store orgs: tuples"),
            // kcp objects are created through its API.
            (
                "syncagent/agent-clusterrole.yaml",
                "kcp object clusterroles/kcpenv:syncagent",
            ),
            (
                "syncagent/example-crd.yaml",
                "kcp object customresourcedefinitions/crontabs.example.kcpenv.dev",
            ),
            (
                "syncagent/example-publishedresource.yaml",
                "kcp object publishedresources/crontabs",
            ),
            (
                "syncagent/publishedresource-crd.yaml",
                "kcp object customresourcedefinitions/publishedresources.syncagent.kcp.io",
            ),
        ];
        let mut files = BTreeMap::new();
        for name in profile::embedded_names() {
            let p = profile::load(&name).unwrap();
            let mut certs = certs();
            for (leaf, _) in components::cert_requests(&p) {
                certs.leaves.entry(leaf.clone()).or_insert(CertPair {
                    cert_pem: format!("{leaf}-cert"),
                    key_pem: format!("{leaf}-key"),
                });
            }
            let mut secrets = Secrets::default();
            components::ensure_secrets(&p, &mut secrets).unwrap();
            let plan =
                build(&p, &opts(0), &certs, &secrets).unwrap_or_else(|e| panic!("{name}: {e}"));
            for c in &plan.components {
                for f in &c.files {
                    files.insert(f.path.clone(), f.content.clone());
                }
            }
            for obj in &plan.bootstrap {
                let kind = obj.collection.rsplit('/').next().unwrap();
                files.insert(
                    format!("kcp object {kind}/{}", obj.name),
                    obj.body.to_string(),
                );
            }
            for store in plan.fga.iter().flat_map(|f| &f.stores) {
                let at = format!("openfga store {}", store.name);
                files.insert(format!("{at}: model"), store.model.to_string());
                files.insert(
                    format!("{at}: tuples"),
                    serde_yaml::to_string(&store.tuples).unwrap(),
                );
            }
        }
        for template in crate::render::template_names() {
            let (_, path) = rendered_at
                .iter()
                .find(|(t, _)| *t == template)
                .unwrap_or_else(|| panic!("template {template}: add it to this test's table"));
            let content = files
                .get(*path)
                .unwrap_or_else(|| panic!("no embedded profile renders {template}"));
            serde_yaml::from_str::<serde_yaml::Value>(content)
                .unwrap_or_else(|e| panic!("{template} renders invalid YAML: {e}\n{content}"));
        }
    }

    #[test]
    fn dependency_order() {
        let p = profile::parse(
            "t",
            "kcp: {}\ncontainers:\n  a:\n    image: busybox\n    dependsOn: [b]\n  b:\n    image: busybox\n    dependsOn: [kcp]\n",
        )
        .unwrap();
        let plan = build(&p, &opts(0), &certs(), &Secrets::default()).unwrap();
        let order: Vec<_> = plan
            .components
            .iter()
            .map(|c| c.component.as_str())
            .collect();
        assert_eq!(order, ["kcp", "b", "a"]);
    }
}
