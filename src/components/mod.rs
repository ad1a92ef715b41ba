//! Components: each module turns its part of the profile into container specs, the
//! certificates it needs and its outputs. The reconciler only sees `ContainerSpec`s, so
//! adding a component touches this module and the profile, never the reconciler.

pub mod generic;
pub mod kcp;

use std::collections::BTreeMap;

use crate::error::Result;
use crate::pki::LeafSpec;
use crate::plan::{Certs, ContainerSpec, ImageChoice, KubeconfigSpec, PortBinding};
use crate::profile::Profile;

/// What every component planner gets.
pub struct Context<'a> {
    pub env: &'a str,
    pub offset: u16,
    pub images: ImageChoice<'a>,
    pub certs: &'a Certs,
}

/// A component's contribution: its container and the ports the holder publishes for it.
pub type Planned = (ContainerSpec, Vec<PortBinding>);

pub struct PlannedComponents {
    pub containers: Vec<Planned>,
    pub kubeconfig: Option<KubeconfigSpec>,
}

/// Component names of a profile, built-ins first (holder included: `--image holder=…`).
pub fn names(profile: &Profile) -> Vec<String> {
    let mut out = vec![crate::names::HOLDER.to_owned()];
    if profile.kcp.is_some() {
        out.push("kcp".into());
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
    out
}

pub fn plan(profile: &Profile, ctx: &Context) -> Result<PlannedComponents> {
    let mut containers = vec![];
    let mut kubeconfig = None;
    let kcp_port = match &profile.kcp {
        Some(spec) => {
            let (planned, kc) = kcp::plan(spec, ctx)?;
            let port = planned.1[0].port;
            containers.push(planned);
            kubeconfig = Some(kc);
            Some(port)
        }
        None => None,
    };
    for (name, decl) in &profile.containers {
        containers.push(generic::plan(name, decl, ctx, kcp_port)?);
    }
    Ok(PlannedComponents {
        containers,
        kubeconfig,
    })
}
