//! A docker-compose file equivalent to a plan (pure): the same images, commands,
//! volumes, files (inline `configs` with owner and mode), published ports on the holder,
//! the shared network namespace (`network_mode: service:holder`), one-shot init services,
//! start order by health. Health checks run inside each container, so they use the
//! image's own tools: busybox `nc`/`wget` for kcp, Dex and the sync agent (port checks
//! where kcpenv probes HTTPS, see `healthcheck`), `grpc_health_probe` for OpenFGA, a
//! shell's `wget`/`nc` for generic containers.
//!
//! Not in it: what kcpenv does through the APIs once a component is ready (kcp objects,
//! OpenFGA stores and models, discovery waits) — compose has no such step.

use serde_json::{Value, json};

use crate::names;
use crate::plan::{ContainerSpec, Network, Plan, Probe};

/// Where the containers' files go: inline `configs` (one self-contained file), or bind
/// mounts of files kcpenv writes under a directory (for engines that cannot copy configs
/// with an owner, such as Docker Engine 20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Files {
    Configs,
    Directory(std::path::PathBuf),
}

pub fn render(plan: &Plan, files: &Files) -> String {
    let doc = document(plan, files);
    let mut out = format!(
        "# docker compose file equivalent to kcpenv environment {:?} (profile {}), written by\n\
         # `kcpenv export compose`. Run: docker compose -f FILE -p NAME up --wait\n\
         # Holds the environment's keys: keep it private (it is written 0600).\n\
         # Not included: kcpenv's bootstrap after readiness (kcp objects, OpenFGA stores).\n",
        plan.env, plan.profile
    );
    out.push_str(&serde_yaml::to_string(&doc).expect("compose document serialises"));
    out
}

pub fn document(plan: &Plan, files: &Files) -> Value {
    let mut services = serde_json::Map::new();
    let mut configs = serde_json::Map::new();
    let mut volumes = serde_json::Map::new();
    for c in plan.all_containers() {
        for v in &c.volumes {
            volumes.insert(v.volume.clone(), json!({}));
        }
        if let Some(init) = &c.init {
            let mut one = c.clone();
            one.component = format!("{}-init", c.component);
            one.command = Some(init.clone());
            one.init = None;
            one.readiness = None;
            let svc = service(&one, files, &mut configs);
            services.insert(one.component.clone(), svc);
        }
        services.insert(c.component.clone(), service(c, files, &mut configs));
    }
    let mut doc = json!({
        "name": format!("kcpenv-{}-compose", plan.env),
        "services": services,
        "volumes": volumes,
        "configs": configs,
    });
    // The holder on an existing network (an existing service cluster's): not compose's.
    if let Network::Holder {
        network: Some(n), ..
    } = &plan.holder.network
    {
        doc["networks"] = json!({ n.clone(): { "external": true } });
    }
    doc
}

fn service(
    c: &ContainerSpec,
    files: &Files,
    configs: &mut serde_json::Map<String, Value>,
) -> Value {
    let mut s = serde_json::Map::new();
    s.insert("image".into(), json!(c.image));
    if let Some(e) = &c.entrypoint {
        s.insert("entrypoint".into(), json!(e));
    }
    if let Some(cmd) = &c.command {
        s.insert("command".into(), json!(cmd));
    }
    if !c.env.is_empty() {
        s.insert("environment".into(), json!(c.env));
    }
    match (&c.user, c.files.first()) {
        (Some(u), _) => {
            s.insert("user".into(), json!(u));
        }
        // The image's own user, numerically: compose copies configs into the container
        // with their owner, and the engine resolves a named user (`dex:dex`) through
        // the host's database, where it need not exist.
        (None, Some(f)) => {
            s.insert("user".into(), json!(format!("{}:{}", f.uid, f.gid)));
        }
        (None, None) => {}
    }
    match &c.network {
        Network::Holder { publish, network } => {
            let ports: Vec<String> = publish
                .iter()
                .map(|p| format!("{}:{}:{}", p.host_ip, p.port, p.port))
                .collect();
            s.insert("ports".into(), json!(ports));
            if let Some(n) = network {
                s.insert("networks".into(), json!([n]));
            }
        }
        Network::JoinHolder => {
            s.insert(
                "network_mode".into(),
                json!(format!("service:{}", names::HOLDER)),
            );
        }
    }
    let mut depends = serde_json::Map::new();
    if c.component != names::HOLDER {
        depends.insert(
            names::HOLDER.into(),
            json!({ "condition": "service_started" }),
        );
    }
    for d in &c.depends_on {
        depends.insert(d.clone(), json!({ "condition": "service_healthy" }));
    }
    if c.init.is_some() {
        depends.insert(
            format!("{}-init", c.component),
            json!({ "condition": "service_completed_successfully" }),
        );
    }
    if !depends.is_empty() {
        s.insert("depends_on".into(), Value::Object(depends));
    }
    let mut vols: Vec<String> = c
        .volumes
        .iter()
        .map(|v| format!("{}:{}", v.volume, v.path))
        .collect();
    if let Files::Directory(dir) = files {
        for f in &c.files {
            vols.push(format!(
                "{}:{}:ro",
                file_path(dir, &c.component, &f.path).display(),
                f.path
            ));
        }
    }
    if !vols.is_empty() {
        s.insert("volumes".into(), json!(vols));
    }
    if !c.files.is_empty() && *files == Files::Configs {
        let mut refs = vec![];
        for f in &c.files {
            let name = config_name(&c.component, &f.path);
            configs.insert(name.clone(), json!({ "content": f.content }));
            refs.push(json!({
                "source": name, "target": f.path,
                "uid": f.uid.to_string(), "gid": f.gid.to_string(), "mode": f.mode,
            }));
        }
        s.insert("configs".into(), json!(refs));
    }
    if let Some(h) = healthcheck(c) {
        s.insert(
            "healthcheck".into(),
            json!({ "test": h, "interval": "1s", "timeout": "3s", "retries": 300, "start_period": "0s" }),
        );
    }
    s.insert(
        "stop_grace_period".into(),
        json!(format!("{}s", c.stop_timeout)),
    );
    if c.component.ends_with("-init") {
        s.insert("restart".into(), json!("no"));
    }
    Value::Object(s)
}

/// Where `Files::Directory` keeps a container's file.
pub fn file_path(dir: &std::path::Path, component: &str, path: &str) -> std::path::PathBuf {
    dir.join(component).join(path.trim_start_matches('/'))
}

/// A config's name: the component and the file's path, as compose allows.
fn config_name(component: &str, path: &str) -> String {
    let mut name = format!("{component}{path}");
    name = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name
}

/// The probe, run inside the container with the image's own tools.
fn healthcheck(c: &ContainerSpec) -> Option<Vec<String>> {
    let probe = c.readiness.as_ref()?;
    let cmd = |v: &[&str]| {
        std::iter::once("CMD")
            .chain(v.iter().copied())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let url = |scheme: &str, port: &u16, path: &str| format!("{scheme}://localhost:{port}{path}");
    Some(match (c.component.as_str(), probe) {
        ("openfga", _) => {
            let grpc = c
                .command
                .iter()
                .flatten()
                .find_map(|a| a.strip_prefix("--grpc-addr="))
                .unwrap_or("127.0.0.1:8081");
            cmd(&["/usr/local/bin/grpc_health_probe", &format!("-addr={grpc}")])
        }
        // kcp and the sync agent: distroless :debug images with busybox under /busybox;
        // Dex: Alpine's busybox. Busybox's TLS client shares no cipher suite with these
        // Go servers, so an HTTPS probe becomes a port check: compose then reports kcp
        // healthy before /readyz answers (`scripts/bench.sh` waits for /readyz too).
        // (Debian's busybox nc has no -z: connect with stdin closed instead.)
        ("kcp" | "syncagent", Probe::Https { port, .. } | Probe::Tcp { port }) => cmd(&[
            "/busybox/sh",
            "-c",
            &format!("/busybox/nc -w 1 127.0.0.1 {port} </dev/null"),
        ]),
        ("kcp" | "syncagent", Probe::Http { port, path }) => cmd(&[
            "/busybox/wget",
            "-q",
            "-O",
            "/dev/null",
            &url("http", port, path),
        ]),
        ("dex", Probe::Https { port, .. } | Probe::Tcp { port }) => cmd(&[
            "/bin/sh",
            "-c",
            &format!("nc -w 1 127.0.0.1 {port} </dev/null"),
        ]),
        (_, Probe::Exec { command }) => {
            let mut v = vec!["CMD".to_owned()];
            v.extend(command.iter().cloned());
            v
        }
        (_, Probe::Http { port, path }) => vec![
            "CMD-SHELL".into(),
            format!("wget -q -O /dev/null {}", url("http", port, path)),
        ],
        (_, Probe::Https { port, path }) => vec![
            "CMD-SHELL".into(),
            format!(
                "wget -q -O /dev/null --no-check-certificate {}",
                url("https", port, path)
            ),
        ],
        (_, Probe::Tcp { port }) => vec![
            "CMD-SHELL".into(),
            format!("nc -w 1 127.0.0.1 {port} </dev/null"),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{self, Certs, Options};
    use crate::profile;
    use crate::secrets::Secrets;

    fn plan_of(name: &str) -> Plan {
        let opts = Options {
            env: "dev".into(),
            ..Default::default()
        };
        plan::preview(&profile::load(name).unwrap(), &opts).unwrap()
    }

    #[test]
    fn every_embedded_profile_becomes_a_compose_file() {
        for name in profile::embedded_names() {
            let plan = plan_of(&name);
            let doc = document(&plan, &Files::Configs);
            let services = doc["services"].as_object().unwrap();
            for c in plan.all_containers() {
                let s = &services[&c.component];
                assert_eq!(s["image"], c.image.as_str(), "{name}/{}", c.component);
                if c.component != "holder" {
                    assert_eq!(s["network_mode"], "service:holder");
                    assert!(s.get("healthcheck").is_some() == c.readiness.is_some());
                }
            }
            let yaml = render(&plan, &Files::Configs);
            let back: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
            assert!(back["services"]["holder"]["ports"].is_sequence(), "{name}");
        }
    }

    #[test]
    fn files_become_configs_with_owner_and_mode() {
        let plan = plan_of("oidc");
        let doc = document(&plan, &Files::Configs);
        let dex = &doc["services"]["dex"];
        let key = dex["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["target"] == "/etc/dex/tls/tls.key")
            .unwrap();
        assert_eq!(key["mode"], 0o600);
        assert_eq!(key["uid"], "1001");
        assert!(doc["configs"][key["source"].as_str().unwrap()]["content"].is_string());
        assert_eq!(doc["services"]["dex"]["healthcheck"]["test"][0], "CMD");
    }

    #[test]
    fn a_files_directory_becomes_read_only_binds() {
        let plan = plan_of("kcp");
        let doc = document(&plan, &Files::Directory("/x".into()));
        let vols = doc["services"]["kcp"]["volumes"].to_string();
        assert!(
            vols.contains("/x/kcp/etc/kcpenv/tls/serving.key:/etc/kcpenv/tls/serving.key:ro"),
            "{vols}"
        );
        assert!(doc["services"]["kcp"].get("configs").is_none());
    }

    #[test]
    fn init_becomes_a_one_shot_service_the_component_waits_for() {
        let p = profile::parse(
            "t",
            "holder: { image: busybox, shell: /bin/sh }\nopenfga: { datastore: sqlite }\n",
        )
        .unwrap();
        let opts = Options {
            env: "dev".into(),
            ..Default::default()
        };
        let plan = plan::build(&p, &opts, &Certs::default(), &Secrets::default()).unwrap();
        let doc = document(&plan, &Files::Configs);
        assert_eq!(doc["services"]["openfga-init"]["command"][0], "migrate");
        assert_eq!(
            doc["services"]["openfga"]["depends_on"]["openfga-init"]["condition"],
            "service_completed_successfully"
        );
    }
}
