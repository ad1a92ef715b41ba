//! Profiles: the user-facing description of an environment. Embedded profiles live in
//! `profiles/*.yaml` (compiled into the binary); `--profile ./file.yaml` reads a user's.
//! Parsing is strict (unknown keys are errors, with line and column) and `validate`
//! checks everything the YAML schema cannot, so a typo never reaches a container.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use include_dir::{Dir, include_dir};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::images;
use crate::names;

static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/profiles");

/// Names that generic containers may not take: built-in components and the holder.
pub const RESERVED_COMPONENTS: &[&str] = &["holder", "kcp", "dex", "openfga", "syncagent"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    /// Set from the embedded file name or the user's file stem when absent.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub holder: HolderSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kcp: Option<KcpSpec>,
    /// Dex as kcp's OIDC provider (needs `kcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dex: Option<DexSpec>,
    /// OpenFGA, with the `orgs` store Platform Mesh's authorization webhook reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openfga: Option<OpenFgaSpec>,
    /// kcp's api-syncagent with a service cluster (needs `kcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syncagent: Option<SyncAgentSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub containers: BTreeMap<String, ContainerDecl>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DexSpec {
    #[serde(default = "DexSpec::default_image")]
    pub image: String,
    /// Dex's HTTPS port; the issuer is `https://localhost:<port>/dex`.
    #[serde(default = "DexSpec::default_port")]
    pub port: u16,
    /// Internal port of Dex's telemetry listener (never published).
    #[serde(default = "DexSpec::default_telemetry_port")]
    pub telemetry_port: u16,
    /// `sqlite` keeps sessions and keys across Dex restarts; `memory` does not.
    #[serde(default)]
    pub storage: DexStorage,
    #[serde(default = "DexSpec::default_client_id")]
    pub client_id: String,
    /// Prefix kcp puts on every group from Dex, so no Dex user can claim a system group.
    #[serde(default = "DexSpec::default_groups_prefix")]
    pub groups_prefix: String,
    /// Dex group (without prefix) bound to cluster-admin in `root`.
    #[serde(default = "DexSpec::default_admin_group")]
    pub admin_group: String,
    #[serde(default = "DexSpec::default_users")]
    pub users: Vec<UserDecl>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DexStorage {
    #[default]
    Sqlite,
    Memory,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserDecl {
    pub email: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// A fixed password; without one, a random password is generated per environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl DexSpec {
    fn default_image() -> String {
        "dex".into()
    }
    fn default_port() -> u16 {
        5556
    }
    fn default_telemetry_port() -> u16 {
        5558
    }
    fn default_client_id() -> String {
        "kcp-kubelogin".into()
    }
    fn default_groups_prefix() -> String {
        "oidc:".into()
    }
    fn default_admin_group() -> String {
        "kcpenv-admins".into()
    }
    fn default_users() -> Vec<UserDecl> {
        let user = |email: &str, groups: &[&str]| UserDecl {
            email: email.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            password: None,
        };
        vec![
            user("admin@kcpenv.local", &["kcpenv-admins"]),
            user("alice@example.com", &[]),
            user("bob@example.com", &[]),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenFgaSpec {
    #[serde(default = "OpenFgaSpec::default_image")]
    pub image: String,
    /// HTTP API, published on 127.0.0.1.
    #[serde(default = "OpenFgaSpec::default_http_port")]
    pub http_port: u16,
    /// gRPC API (plaintext, no authentication, as the webhook needs); never published.
    #[serde(default = "OpenFgaSpec::default_grpc_port")]
    pub grpc_port: u16,
    /// Prometheus metrics, inside the namespace only.
    #[serde(default = "OpenFgaSpec::default_metrics_port")]
    pub metrics_port: u16,
    /// The Playground web UI, published on 127.0.0.1; `playground: false` turns it off.
    #[serde(default = "OpenFgaSpec::default_playground_port")]
    pub playground_port: u16,
    #[serde(default = "OpenFgaSpec::default_true")]
    pub playground: bool,
    /// `memory` (default) loses every store on restart; `sqlite` keeps them on the
    /// environment's volume (migrated before OpenFGA starts).
    #[serde(default)]
    pub datastore: FgaDatastore,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FgaDatastore {
    #[default]
    Memory,
    Sqlite,
}

impl OpenFgaSpec {
    fn default_image() -> String {
        "openfga".into()
    }
    fn default_http_port() -> u16 {
        8080
    }
    fn default_grpc_port() -> u16 {
        8081
    }
    fn default_metrics_port() -> u16 {
        2112
    }
    fn default_playground_port() -> u16 {
        3000
    }
    fn default_true() -> bool {
        true
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncAgentSpec {
    #[serde(default = "SyncAgentSpec::default_image")]
    pub image: String,
    /// Where the agent syncs to: `kcp-workspace` (a workspace of the same kcp, no
    /// nodes), or `kubeconfig:PATH[#CONTEXT]` (an existing cluster: kind, a real one).
    /// `up --service-cluster` overrides.
    #[serde(default = "SyncAgentSpec::default_service_cluster")]
    pub service_cluster: String,
    /// With `kcp-workspace`: the workspace that plays the service cluster.
    #[serde(default = "SyncAgentSpec::default_service_workspace")]
    pub service_workspace: String,
    /// Workspace of the APIExport and its endpoint slice (created with its parents).
    #[serde(default = "SyncAgentSpec::default_provider_workspace")]
    pub provider_workspace: String,
    /// The APIExport (and endpoint slice) name.
    #[serde(default = "SyncAgentSpec::default_api_export")]
    pub api_export: String,
    /// Workspace bound to the export; empty for none.
    #[serde(default = "SyncAgentSpec::default_consumer_workspace")]
    pub consumer_workspace: String,
    /// The agent's namespace on the service cluster (state secrets, lease).
    #[serde(default = "SyncAgentSpec::default_namespace")]
    pub namespace: String,
    /// Health endpoint (/readyz), published on 127.0.0.1 for the readiness probe.
    #[serde(default = "SyncAgentSpec::default_health_port")]
    pub health_port: u16,
    /// Metrics, inside the namespace only.
    #[serde(default = "SyncAgentSpec::default_metrics_port")]
    pub metrics_port: u16,
    /// Publish an example CRD (CronTab, example.kcpenv.dev) from the service cluster.
    #[serde(default = "SyncAgentSpec::default_example")]
    pub example: bool,
    /// Permission claims put on the export besides the agent's own (which it adds
    /// itself and keeps alongside), accepted by the consumer's binding: `RESOURCE` for
    /// the core group or `RESOURCE.GROUP`. The default lets a multicluster-runtime
    /// controller on the export's slice (kcp's multicluster-provider examples) see
    /// ConfigMaps in every bound workspace.
    #[serde(default = "SyncAgentSpec::default_permission_claims")]
    pub permission_claims: Vec<String>,
}

impl SyncAgentSpec {
    fn default_image() -> String {
        "syncagent".into()
    }
    pub fn default_service_cluster() -> String {
        "kcp-workspace".into()
    }
    fn default_service_workspace() -> String {
        "root:service-cluster".into()
    }
    fn default_provider_workspace() -> String {
        "root:providers:example".into()
    }
    fn default_api_export() -> String {
        "example.kcpenv.dev".into()
    }
    fn default_consumer_workspace() -> String {
        "root:consumer".into()
    }
    fn default_namespace() -> String {
        "kcpenv-syncagent".into()
    }
    fn default_health_port() -> u16 {
        8086
    }
    fn default_metrics_port() -> u16 {
        8085
    }
    fn default_example() -> bool {
        true
    }
    fn default_permission_claims() -> Vec<String> {
        vec!["configmaps".into()]
    }
}

/// `RESOURCE` or `RESOURCE.GROUP` → (group, resource).
pub fn parse_claim(claim: &str) -> std::result::Result<(String, String), String> {
    let (resource, group) = claim.split_once('.').unwrap_or((claim, ""));
    names::check_component_name(resource)
        .map_err(|e| format!("permission claim {claim:?}: {e}"))?;
    if group
        .split('.')
        .any(|l| !group.is_empty() && names::check_component_name(l).is_err())
    {
        return Err(format!(
            "permission claim {claim:?}: {group:?} is not an API group"
        ));
    }
    Ok((group.to_owned(), resource.to_owned()))
}

/// Where api-syncagent syncs objects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCluster {
    /// A workspace of the environment's own kcp.
    KcpWorkspace,
    /// An existing cluster, reached through this kubeconfig (its current context, or
    /// the one named after `#`).
    Kubeconfig {
        /// As written: `kubeconfig:PATH[#CONTEXT]`.
        source: String,
        path: std::path::PathBuf,
        context: Option<String>,
    },
}

impl std::str::FromStr for ServiceCluster {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.split_once(':') {
            None if s == "kcp-workspace" => Ok(ServiceCluster::KcpWorkspace),
            Some(("kubeconfig", rest)) if !rest.trim_end_matches('#').is_empty() => {
                let (path, context) = crate::service_cluster::parse_source(rest);
                Ok(ServiceCluster::Kubeconfig {
                    source: s.to_owned(),
                    path,
                    context,
                })
            }
            _ => Err(format!(
                "service cluster {s:?}: use kcp-workspace or kubeconfig:PATH[#CONTEXT]"
            )),
        }
    }
}

/// A workspace path such as `root:providers:example`.
pub fn check_workspace_path(path: &str) -> std::result::Result<(), String> {
    let mut parts = path.split(':');
    if parts.next() != Some("root") {
        return Err(format!("workspace {path:?} must start with root:"));
    }
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        return Err(format!("workspace {path:?}: name a workspace below root"));
    }
    for p in rest {
        names::check_component_name(p).map_err(|e| format!("workspace {path:?}: {e}"))?;
    }
    Ok(())
}

/// The container that owns the shared network namespace and publishes the ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HolderSpec {
    /// A key of images.yaml or an image reference. The image needs a POSIX shell at `shell`.
    pub image: String,
    /// The shell that runs the holder's wait loop.
    pub shell: String,
}

impl Default for HolderSpec {
    fn default() -> Self {
        // kcp's image is present anyway and ships busybox (distroless :debug base).
        HolderSpec {
            image: "kcp".into(),
            shell: "/busybox/sh".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KcpSpec {
    #[serde(default = "KcpSpec::default_image")]
    pub image: String,
    /// kcp's secure port, inside the namespace and on the host (before --port-offset).
    #[serde(default = "KcpSpec::default_port")]
    pub port: u16,
    /// Extra `kcp start` flags, appended after kcpenv's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<String>,
}

impl KcpSpec {
    fn default_image() -> String {
        "kcp".into()
    }
    fn default_port() -> u16 {
        6443
    }
}

impl Default for KcpSpec {
    fn default() -> Self {
        KcpSpec {
            image: Self::default_image(),
            port: Self::default_port(),
            extra_args: vec![],
        }
    }
}

/// A generic container a profile adds to the environment (a database, a test server).
/// String fields are minijinja templates; see `components::generic` for the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerDecl {
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// A command run to completion (same image, volumes, files and entrypoint) before
    /// the container is created, e.g. a schema migration; `up` fails if it exits non-zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ports published on 127.0.0.1 (name → port; the same number inside and out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u16>,
    /// Ports used only inside the shared namespace (shifted by --port-offset, never published).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub internal_ports: BTreeMap<String, u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileDecl>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeDecl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<ReadinessDecl>,
    /// Components that must be ready before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Seconds between SIGTERM and SIGKILL when the container is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileDecl {
    /// Absolute path inside the container.
    pub path: String,
    pub content: String,
    /// Octal permission bits, e.g. 0644 (YAML reads a leading 0 as octal only in strings: write "0600").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeDecl {
    /// Short name; the Docker volume is `kcpenv-<env>-<component>-<name>`.
    pub name: String,
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadinessDecl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbeDecl>,
    /// Like http, over TLS verified with the environment's CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<HttpProbeDecl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpProbeDecl>,
    /// A command run inside the container; ready when it exits 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpProbeDecl {
    /// A name from `ports`.
    pub port: String,
    #[serde(default = "HttpProbeDecl::default_path")]
    pub path: String,
}

impl HttpProbeDecl {
    fn default_path() -> String {
        "/".into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpProbeDecl {
    pub port: String,
}

/// Names of the profiles compiled into the binary, sorted.
pub fn embedded_names() -> Vec<String> {
    let mut names: Vec<String> = EMBEDDED
        .files()
        .filter_map(|f| {
            let p = f.path();
            (p.extension()? == "yaml").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// Loads a profile by embedded name or file path, and validates it.
pub fn load(name_or_path: &str) -> Result<Profile> {
    let (origin, text, default_name) = source(name_or_path)?;
    let mut profile = parse(&origin, &text)?;
    if profile.name.is_empty() {
        profile.name = default_name;
    }
    validate(&profile, &origin)?;
    Ok(profile)
}

fn source(name_or_path: &str) -> Result<(String, String, String)> {
    if let Some(file) = EMBEDDED.get_file(format!("{name_or_path}.yaml")) {
        let text = file.contents_utf8().expect("embedded profiles are UTF-8");
        return Ok((
            format!("{name_or_path:?} (embedded)"),
            text.to_owned(),
            name_or_path.to_owned(),
        ));
    }
    let path = Path::new(name_or_path);
    let looks_like_path = name_or_path.contains('/')
        || name_or_path.ends_with(".yaml")
        || name_or_path.ends_with(".yml");
    if looks_like_path || path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| Error::ProfileInvalid {
            origin: path.display().to_string(),
            message: format!("cannot read the file: {e}"),
            location: None,
        })?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("custom")
            .to_owned();
        return Ok((path.display().to_string(), text, stem));
    }
    Err(Error::UnknownProfile {
        name: name_or_path.to_owned(),
        available: embedded_names(),
    })
}

/// Strict YAML parse; errors carry serde_yaml's line and column.
pub fn parse(origin: &str, text: &str) -> Result<Profile> {
    serde_yaml::from_str::<Profile>(text).map_err(|e| {
        let location = e.location().map(|l| (l.line(), l.column()));
        let mut message = e.to_string();
        // serde_yaml repeats the location at the end; ours is in the error's prefix.
        if let Some((l, c)) = location {
            let suffix = format!(" at line {l} column {c}");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
        Error::ProfileInvalid {
            origin: origin.to_owned(),
            location,
            message,
        }
    })
}

/// Checks what the schema cannot: references between fields, port clashes in the shared
/// namespace, names Docker will accept, image reference syntax.
pub fn validate(p: &Profile, origin: &str) -> Result<()> {
    let err = |message: String| Error::ProfileInvalid {
        origin: origin.to_owned(),
        message,
        location: None,
    };
    images::check_image_field(&p.holder.image).map_err(|e| err(format!("holder.image: {e}")))?;
    if !p.holder.shell.starts_with('/') {
        return Err(err("holder.shell: must be an absolute path".into()));
    }

    // Every port lives in one network namespace, so two components cannot share one.
    let mut used: BTreeMap<u16, String> = BTreeMap::new();
    let mut claim = |port: u16, owner: String| -> Result<()> {
        if port == 0 {
            return Err(err(format!("{owner}: port 0 is not allowed")));
        }
        if let Some(prev) = used.insert(port, owner.clone()) {
            return Err(err(format!(
                "{owner}: port {port} is already used by {prev} (all components share one network namespace)"
            )));
        }
        Ok(())
    };

    let mut components: BTreeSet<&str> = BTreeSet::new();
    if let Some(kcp) = &p.kcp {
        components.insert("kcp");
        images::check_image_field(&kcp.image).map_err(|e| err(format!("kcp.image: {e}")))?;
        claim(kcp.port, "kcp.port".into())?;
        // kcp's embedded etcd listens on these inside the namespace.
        claim(2379, "kcp embedded etcd (client)".into())?;
        claim(2380, "kcp embedded etcd (peer)".into())?;
    }

    if let Some(dex) = &p.dex {
        if p.kcp.is_none() {
            return Err(err("dex: needs kcp (Dex is kcp's OIDC provider)".into()));
        }
        components.insert("dex");
        images::check_image_field(&dex.image).map_err(|e| err(format!("dex.image: {e}")))?;
        claim(dex.port, "dex.port".into())?;
        claim(dex.telemetry_port, "dex.telemetryPort".into())?;
        if dex.client_id.is_empty() {
            return Err(err("dex.clientId: empty".into()));
        }
        let mut seen = BTreeSet::new();
        for u in &dex.users {
            check_email(&u.email).map_err(|e| err(format!("dex.users: {e}")))?;
            if !seen.insert(u.email.to_lowercase()) {
                return Err(err(format!("dex.users: {:?} is listed twice", u.email)));
            }
        }
    }

    if let Some(fga) = &p.openfga {
        components.insert("openfga");
        images::check_image_field(&fga.image).map_err(|e| err(format!("openfga.image: {e}")))?;
        claim(fga.http_port, "openfga.httpPort".into())?;
        claim(fga.grpc_port, "openfga.grpcPort".into())?;
        claim(fga.metrics_port, "openfga.metricsPort".into())?;
        if fga.playground {
            claim(fga.playground_port, "openfga.playgroundPort".into())?;
        }
    }

    if let Some(sa) = &p.syncagent {
        if p.kcp.is_none() {
            return Err(err("syncagent: needs kcp".into()));
        }
        components.insert("syncagent");
        images::check_image_field(&sa.image).map_err(|e| err(format!("syncagent.image: {e}")))?;
        // Only the form: `up` reads and checks a kubeconfig:PATH (it may not exist yet
        // when the profile is written).
        sa.service_cluster
            .parse::<ServiceCluster>()
            .map_err(|e| err(format!("syncagent.serviceCluster: {e}")))?;
        let mut workspaces = vec![
            ("serviceWorkspace", &sa.service_workspace),
            ("providerWorkspace", &sa.provider_workspace),
        ];
        if !sa.consumer_workspace.is_empty() {
            workspaces.push(("consumerWorkspace", &sa.consumer_workspace));
        }
        for (field, ws) in &workspaces {
            check_workspace_path(ws).map_err(|e| err(format!("syncagent.{field}: {e}")))?;
        }
        let distinct: BTreeSet<&&String> = workspaces.iter().map(|(_, w)| w).collect();
        if distinct.len() != workspaces.len() {
            return Err(err(
                "syncagent: service, provider and consumer workspaces must differ".into(),
            ));
        }
        let dns_subdomain = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.split('.').all(|l| names::check_component_name(l).is_ok())
        };
        if !dns_subdomain(&sa.api_export) {
            return Err(err(format!(
                "syncagent.apiExport: {:?} is not a DNS subdomain (lowercase letters, digits, '-' and '.')",
                sa.api_export
            )));
        }
        names::check_component_name(&sa.namespace)
            .map_err(|e| err(format!("syncagent.namespace: {e}")))?;
        for c in &sa.permission_claims {
            parse_claim(c).map_err(|e| err(format!("syncagent.permissionClaims: {e}")))?;
        }
        claim(sa.health_port, "syncagent.healthPort".into())?;
        claim(sa.metrics_port, "syncagent.metricsPort".into())?;
    }

    for (name, c) in &p.containers {
        let at = format!("containers.{name}");
        names::check_component_name(name).map_err(|e| err(format!("{at}: {e}")))?;
        if RESERVED_COMPONENTS.contains(&name.as_str()) {
            return Err(err(format!(
                "{at}: {name:?} is a built-in component name; choose another"
            )));
        }
        components.insert(name);
        images::check_image_field(&c.image).map_err(|e| err(format!("{at}.image: {e}")))?;
        for (pname, port) in &c.ports {
            names::check_component_name(pname)
                .map_err(|e| err(format!("{at}.ports.{pname}: {e}")))?;
            claim(*port, format!("{at}.ports.{pname}"))?;
        }
        for (pname, port) in &c.internal_ports {
            if c.ports.contains_key(pname) {
                return Err(err(format!(
                    "{at}.internalPorts.{pname}: also declared in ports"
                )));
            }
            claim(*port, format!("{at}.internalPorts.{pname}"))?;
        }
        for f in &c.files {
            if !f.path.starts_with('/') {
                return Err(err(format!(
                    "{at}.files: path {:?} must be absolute",
                    f.path
                )));
            }
            if let Some(m) = &f.mode {
                parse_mode(m).map_err(|e| err(format!("{at}.files {:?}: {e}", f.path)))?;
            }
        }
        let mut vols = BTreeSet::new();
        for v in &c.volumes {
            names::check_component_name(&v.name)
                .map_err(|e| err(format!("{at}.volumes {:?}: {e}", v.name)))?;
            if !vols.insert(&v.name) {
                return Err(err(format!("{at}.volumes: {:?} declared twice", v.name)));
            }
            if !v.path.starts_with('/') {
                return Err(err(format!(
                    "{at}.volumes {:?}: path must be absolute",
                    v.name
                )));
            }
        }
        if let Some(r) = &c.readiness {
            let kinds = [
                r.http.is_some(),
                r.https.is_some(),
                r.tcp.is_some(),
                r.exec.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if kinds != 1 {
                return Err(err(format!(
                    "{at}.readiness: give exactly one of http, https, tcp, exec (found {kinds})"
                )));
            }
            let port = r
                .http
                .as_ref()
                .or(r.https.as_ref())
                .map(|h| &h.port)
                .or(r.tcp.as_ref().map(|t| &t.port));
            if let Some(port) = port
                && !c.ports.contains_key(port)
            {
                return Err(err(format!(
                    "{at}.readiness: port {port:?} is not one of the published ports ({}); probes run from the host",
                    c.ports.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            if let Some(cmd) = &r.exec
                && cmd.is_empty()
            {
                return Err(err(format!("{at}.readiness.exec: empty command")));
            }
        }
    }

    for (name, c) in &p.containers {
        for d in &c.depends_on {
            if !components.contains(d.as_str()) {
                return Err(err(format!(
                    "containers.{name}.dependsOn: unknown component {d:?}"
                )));
            }
        }
    }
    if let Some(cycle) = find_cycle(p) {
        return Err(err(format!(
            "dependsOn has a cycle: {}",
            cycle.join(" -> ")
        )));
    }
    Ok(())
}

/// A plausible email address (Dex logs users in by email; kcp uses it as the username).
pub fn check_email(email: &str) -> std::result::Result<(), String> {
    let ok = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "\"<>,;:()[]".contains(c))
    });
    if ok {
        Ok(())
    } else {
        Err(format!("{email:?} is not an email address"))
    }
}

/// Parses an octal mode string such as "0600" or "644".
pub fn parse_mode(s: &str) -> std::result::Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("mode {s:?} is not an octal permission such as \"0644\""))
}

fn find_cycle(p: &Profile) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        p: &Profile,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_owned());
        if let Some(c) = p.containers.get(n) {
            for d in &c.depends_on {
                if let Some(cycle) = visit(d, p, stack, done) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    p.containers
        .keys()
        .find_map(|n| visit(n, p, &mut Vec::new(), &mut done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<Profile> {
        let p = parse("test", yaml)?;
        validate(&p, "test")?;
        Ok(p)
    }

    fn message(r: Result<Profile>) -> String {
        match r {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn every_embedded_profile_loads() {
        let names = embedded_names();
        assert!(names.contains(&"kcp".to_string()), "{names:?}");
        for n in names {
            let p = load(&n).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(p.name, n);
        }
    }

    #[test]
    fn defaults_are_applied() {
        let p = check("kcp: {}\n").unwrap();
        assert_eq!(p.kcp.unwrap().port, 6443);
        assert_eq!(p.holder.image, "kcp");
    }

    #[test]
    fn unknown_key_is_reported_with_location() {
        let e = check("kcp:\n  port: 6443\n  prot: 1\n").unwrap_err();
        match &e {
            Error::ProfileInvalid {
                location, message, ..
            } => {
                assert_eq!(*location, Some((3, 3)), "{message}");
                assert!(message.contains("unknown field `prot`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("line 3, column 3"), "{e}");
    }

    #[test]
    fn malformed_yaml_is_reported_with_location() {
        let e = check("kcp:\n  port: [6443\n").unwrap_err();
        assert!(
            matches!(
                e,
                Error::ProfileInvalid {
                    location: Some(_),
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn port_clash_in_shared_namespace() {
        let m = message(check(
            "kcp: {}\ncontainers:\n  web:\n    image: busybox\n    ports: { http: 6443 }\n",
        ));
        assert!(m.contains("port 6443 is already used by kcp.port"), "{m}");
    }

    #[test]
    fn etcd_ports_are_reserved_when_kcp_runs() {
        let m = message(check(
            "kcp: {}\ncontainers:\n  web:\n    image: busybox\n    internalPorts: { x: 2379 }\n",
        ));
        assert!(m.contains("embedded etcd"), "{m}");
    }

    #[test]
    fn unknown_dependency_and_cycle() {
        let m = message(check(
            "containers:\n  a:\n    image: busybox\n    dependsOn: [nope]\n",
        ));
        assert!(m.contains("unknown component \"nope\""), "{m}");
        let m = message(check(
            "containers:\n  a:\n    image: busybox\n    dependsOn: [b]\n  b:\n    image: busybox\n    dependsOn: [a]\n",
        ));
        assert!(m.contains("cycle: a -> b -> a"), "{m}");
    }

    #[test]
    fn readiness_needs_exactly_one_published_probe() {
        let m = message(check(
            "containers:\n  a:\n    image: busybox\n    readiness: {}\n",
        ));
        assert!(m.contains("exactly one"), "{m}");
        let m = message(check(
            "containers:\n  a:\n    image: busybox\n    internalPorts: { x: 80 }\n    readiness: { tcp: { port: x } }\n",
        ));
        assert!(m.contains("not one of the published ports"), "{m}");
    }

    #[test]
    fn reserved_and_invalid_names() {
        assert!(message(check("containers:\n  kcp:\n    image: busybox\n")).contains("built-in"));
        assert!(
            message(check("containers:\n  Web:\n    image: busybox\n")).contains("containers.Web")
        );
    }

    #[test]
    fn bad_image_and_mode() {
        assert!(
            message(check("containers:\n  a:\n    image: 'Bad Image'\n"))
                .contains("containers.a.image")
        );
        let m = message(check(
            "containers:\n  a:\n    image: busybox\n    files: [{ path: /x, content: '', mode: '0999' }]\n",
        ));
        assert!(m.contains("octal"), "{m}");
    }

    #[test]
    fn unknown_profile_lists_embedded_ones() {
        match load("no-such-profile") {
            Err(Error::UnknownProfile { available, .. }) => {
                assert!(available.contains(&"kcp".into()))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dex_needs_kcp_and_valid_unique_users() {
        assert!(message(check("dex: {}\n")).contains("needs kcp"));
        let p = check("kcp: {}\ndex: {}\n").unwrap();
        let dex = p.dex.unwrap();
        assert_eq!(dex.users.len(), 3);
        assert_eq!(dex.users[0].groups, ["kcpenv-admins"]);
        assert_eq!(dex.storage, DexStorage::Sqlite);
        let m = message(check("kcp: {}\ndex:\n  users: [{ email: not-an-email }]\n"));
        assert!(m.contains("not an email"), "{m}");
        let m = message(check(
            "kcp: {}\ndex:\n  users: [{ email: a@b.c }, { email: A@b.c }]\n",
        ));
        assert!(m.contains("listed twice"), "{m}");
        let m = message(check("kcp: {}\ndex: { port: 6443 }\n"));
        assert!(m.contains("already used by kcp.port"), "{m}");
    }

    #[test]
    fn mode_parsing() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("755"), Ok(0o755));
        assert!(parse_mode("rw").is_err());
    }
}
