//! Components: each module turns its part of the profile into container specs, the
//! certificates it needs and its outputs. The reconciler only sees `ContainerSpec`s, so
//! adding a component touches this module and the profile, never the reconciler.

pub mod dex;
pub mod generic;
pub mod kcp;
pub mod openfga;
pub mod syncagent;

use std::collections::BTreeMap;

use crate::error::Result;
use crate::pki::LeafSpec;
use crate::plan::{
    Certs, ContainerSpec, FgaPlan, ImageChoice, KubeObject, KubeconfigSpec, NamedKubeconfig,
    PortBinding, ServedWait, ServiceSide,
};
use crate::profile::Profile;
use crate::secrets::Secrets;

/// What every component planner gets.
pub struct Context<'a> {
    pub env: &'a str,
    pub offset: u16,
    pub images: ImageChoice<'a>,
    pub certs: &'a Certs,
    pub secrets: &'a Secrets,
}

/// A component's contribution: its container and the ports the holder publishes for it.
pub type Planned = (ContainerSpec, Vec<PortBinding>);

pub struct PlannedComponents {
    pub containers: Vec<Planned>,
    pub kubeconfig: Option<KubeconfigSpec>,
    /// kcp objects to create once kcp is ready.
    pub bootstrap: Vec<KubeObject>,
    pub fga: Option<FgaPlan>,
    pub kubeconfigs: Vec<NamedKubeconfig>,
    pub waits: Vec<ServedWait>,
    pub service: Option<ServiceSide>,
    /// A network the holder joins (see `service_cluster`).
    pub holder_network: Option<String>,
}

/// Component names of a profile, built-ins first (holder included: `--image holder=…`).
pub fn names(profile: &Profile) -> Vec<String> {
    let mut out = vec![crate::names::HOLDER.to_owned()];
    if profile.kcp.is_some() {
        out.push("kcp".into());
    }
    if profile.dex.is_some() {
        out.push(dex::NAME.into());
    }
    if profile.openfga.is_some() {
        out.push(openfga::NAME.into());
    }
    if profile.syncagent.is_some() {
        out.push(syncagent::NAME.into());
    }
    out.extend(profile.containers.keys().cloned());
    out
}

/// The certificates the profile's components need, by file name in `pki/`.
pub fn cert_requests(profile: &Profile) -> BTreeMap<String, LeafSpec> {
    let mut out = BTreeMap::new();
    if profile.kcp.is_some() {
        out.extend(kcp::cert_requests());
    }
    if profile.dex.is_some() {
        out.extend(dex::cert_requests());
    }
    if profile.syncagent.is_some() {
        out.extend(syncagent::cert_requests());
    }
    out
}

/// Fills `secrets` with what the profile needs (kept when already there).
pub fn ensure_secrets(profile: &Profile, secrets: &mut Secrets) -> Result<()> {
    if let Some(dex) = &profile.dex {
        secrets.ensure_client_secret();
        for u in &dex.users {
            secrets.ensure_user(&u.email, u.password.as_deref())?;
        }
    }
    Ok(())
}

pub fn plan(
    profile: &Profile,
    ctx: &Context,
    service_cluster: Option<&crate::service_cluster::External>,
) -> Result<PlannedComponents> {
    let mut containers = vec![];
    let mut kubeconfig = None;
    let mut bootstrap = vec![];
    let kcp_port = match &profile.kcp {
        Some(spec) => {
            let (planned, kc, objects) = kcp::plan(spec, profile.dex.as_ref(), ctx)?;
            bootstrap.extend(objects);
            let port = planned.1[0].port;
            containers.push(planned);
            kubeconfig = Some(kc);
            Some(port)
        }
        None => None,
    };
    if let Some(spec) = &profile.dex {
        containers.push(dex::plan(spec, ctx)?);
    }
    let mut fga = None;
    if let Some(spec) = &profile.openfga {
        let (planned, plan) = openfga::plan(spec, ctx)?;
        containers.push(planned);
        fga = Some(plan);
        if profile.kcp.is_some() {
            bootstrap.push(KubeObject::workspace("root", openfga::ORGS_STORE));
        }
    }
    let mut kubeconfigs = vec![];
    let mut waits = vec![];
    let mut service = None;
    let mut holder_network = None;
    if let (Some(spec), Some(kc)) = (&profile.syncagent, &kubeconfig) {
        let mode = spec
            .service_cluster
            .parse()
            .map_err(|message| crate::error::Error::Usage {
                message,
                hint: "--service-cluster kcp-workspace or kubeconfig:PATH[#CONTEXT]".into(),
            })?;
        let agent = syncagent::plan(spec, &mode, service_cluster, &kc.server, ctx)?;
        containers.push(agent.container);
        bootstrap.extend(agent.bootstrap);
        kubeconfigs = agent.kubeconfigs;
        waits = agent.waits;
        holder_network = agent.holder_network;
        service = agent.service;
    }
    for (name, decl) in &profile.containers {
        containers.push(generic::plan(name, decl, ctx, kcp_port)?);
    }
    Ok(PlannedComponents {
        containers,
        kubeconfig,
        bootstrap,
        fga,
        kubeconfigs,
        waits,
        service,
        holder_network,
    })
}
