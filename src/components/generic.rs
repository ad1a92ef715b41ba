//! Generic containers declared in a profile (`containers:`): a database, a test server.
//! Their string fields are minijinja templates rendered with the environment's facts:
//! `env` (name), `component`, `ports` (this container's shifted ports by name) and, when
//! the profile runs kcp, `kcp.url` and `kcp.port`.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::names;
use crate::plan::{ContainerSpec, FileSpec, Network, PortBinding, Probe, VolumeMount, shift};
use crate::profile::{self, ContainerDecl};
use crate::render;

use super::{Context, Planned};

pub fn plan(
    name: &str,
    decl: &ContainerDecl,
    ctx: &Context,
    kcp_port: Option<u16>,
) -> Result<Planned> {
    let at = |what: &str| format!("containers.{name}.{what}");
    let mut ports = BTreeMap::new();
    for (pname, port) in decl.ports.iter().chain(&decl.internal_ports) {
        ports.insert(
            pname.clone(),
            shift(*port, ctx.offset, &at(&format!("ports.{pname}")))?,
        );
    }
    let vars = serde_json::json!({
        "env": ctx.env,
        "component": name,
        "ports": ports,
        "kcp": kcp_port.map(|p| serde_json::json!({ "port": p, "url": format!("https://localhost:{p}") })),
    });
    let r = |what: String, s: &str| render::string(&what, s, &vars);
    let list = |what: &str, l: &Option<Vec<String>>| -> Result<Option<Vec<String>>> {
        l.as_ref()
            .map(|v| {
                v.iter()
                    .enumerate()
                    .map(|(i, s)| r(format!("{}[{i}]", at(what)), s))
                    .collect()
            })
            .transpose()
    };
    let uid = decl
        .user
        .as_deref()
        .and_then(|u| u.split(':').next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let gid = decl
        .user
        .as_deref()
        .and_then(|u| u.split(':').nth(1)?.parse::<u64>().ok())
        .unwrap_or(uid);
    let files = decl
        .files
        .iter()
        .map(|f| {
            Ok(FileSpec {
                path: f.path.clone(),
                content: r(at(&format!("files[{}]", f.path)), &f.content)?,
                mode: f
                    .mode
                    .as_deref()
                    .map(profile::parse_mode)
                    .transpose()
                    .map_err(|e| {
                        crate::error::Error::Internal(format!(
                            "validated mode failed to parse: {e}"
                        ))
                    })?
                    .unwrap_or(0o644),
                uid,
                gid,
                secret: false,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let env = decl
        .env
        .iter()
        .map(|(k, v)| Ok((k.clone(), r(at(&format!("env.{k}")), v)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let readiness = match &decl.readiness {
        None => None,
        Some(p) => Some(if let Some(h) = &p.http {
            Probe::Http {
                port: ports[&h.port],
                path: h.path.clone(),
            }
        } else if let Some(h) = &p.https {
            Probe::Https {
                port: ports[&h.port],
                path: h.path.clone(),
            }
        } else if let Some(t) = &p.tcp {
            Probe::Tcp {
                port: ports[&t.port],
            }
        } else {
            Probe::Exec {
                command: list("readiness.exec", &p.exec)?.unwrap_or_default(),
            }
        }),
    };
    let publish: Vec<PortBinding> = decl
        .ports
        .keys()
        .map(|pname| PortBinding::loopback(ports[pname], name, pname))
        .collect();
    let urls = publish
        .iter()
        .map(|p| {
            format!(
                "{}://localhost:{}",
                if p.name == "https" { "https" } else { "http" },
                p.port
            )
        })
        .collect();
    let container = ContainerSpec {
        component: name.to_owned(),
        name: names::container_name(ctx.env, name),
        image: ctx.images.resolve(name, &decl.image),
        entrypoint: list("entrypoint", &decl.entrypoint)?,
        command: list("command", &decl.command)?,
        env,
        user: decl.user.clone(),
        network: Network::JoinHolder,
        volumes: decl
            .volumes
            .iter()
            .map(|v| VolumeMount {
                volume: names::volume_name(ctx.env, name, &v.name),
                path: v.path.clone(),
            })
            .collect(),
        files,
        init: list("init", &decl.init)?,
        readiness,
        depends_on: decl.depends_on.clone(),
        stop_timeout: decl.stop_timeout.unwrap_or(10),
        urls,
        labels: BTreeMap::new(),
    };
    Ok((container, publish))
}
