//! The Docker Engine API runtime (bollard).
//!
//! Connection order follows the docker CLI: `DOCKER_HOST`; else the current context
//! (`DOCKER_CONTEXT`, or `currentContext` in `$DOCKER_CONFIG/config.json`, resolved through
//! `contexts/meta/<sha256(name)>/meta.json`); else the default socket, then the sockets
//! Docker Desktop and rootless Docker use. The API version is negotiated, because
//! Debian's Engine 20.10 speaks 1.41 while bollard defaults to a newer one.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ImportImageOptionsBuilder, InspectContainerOptions,
    ListContainersOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder, StartContainerOptions,
    UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{
    ContainerState, EngineInfo, Liveness, LogChunk, LogStream, Observed, ObservedVolume,
    PullProgress, Runtime, translate,
};
use crate::error::{Error, Result, docker_message};
use crate::names;
use crate::plan::{ContainerSpec, VolumeSpec, hex};

/// Long enough for big image pulls and log follows; connection failures are caught by the
/// ping at connect time, with its own short timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);
const PING_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct DockerRuntime {
    docker: Docker,
    pub endpoint: String,
    /// Held (shared) by every create under way; `settle` takes it exclusively.
    creating: Arc<tokio::sync::RwLock<()>>,
}

impl DockerRuntime {
    pub async fn connect() -> Result<DockerRuntime> {
        let mut attempts = vec![];
        for (source, host) in candidates() {
            match try_connect(&host).await {
                Ok(docker) => {
                    return Ok(DockerRuntime {
                        docker,
                        endpoint: host,
                        creating: Default::default(),
                    });
                }
                Err(e) => attempts.push(format!("  tried {host} ({source}): {e}")),
            }
            if source == "DOCKER_HOST" || source.starts_with("context") {
                // An explicit choice: do not silently fall back to another engine.
                break;
            }
        }
        Err(Error::DockerUnreachable {
            attempts: attempts.join("\n"),
        })
    }
}

async fn try_connect(host: &str) -> std::result::Result<Docker, String> {
    let docker = if let Some(path) = host.strip_prefix("unix://") {
        if !std::path::Path::new(path).exists() {
            return Err("no such socket".into());
        }
        Docker::connect_with_unix(host, PING_TIMEOUT.as_secs(), bollard::API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, PING_TIMEOUT.as_secs(), bollard::API_DEFAULT_VERSION)
    } else {
        return Err("unsupported scheme (kcpenv speaks unix:// and tcp://)".into());
    }
    .map_err(|e| docker_message(&e))?;
    let docker = tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| format!("no answer within {}s", PING_TIMEOUT.as_secs()))?
        .map_err(|e| docker_message(&e))?;
    Ok(docker.with_timeout(REQUEST_TIMEOUT))
}

/// Where to look for the engine, in order, with where each candidate came from.
fn candidates() -> Vec<(String, String)> {
    candidates_from(&|k| std::env::var(k).ok(), dirs::home_dir())
}

fn candidates_from(
    var: &dyn Fn(&str) -> Option<String>,
    home: Option<PathBuf>,
) -> Vec<(String, String)> {
    let var = |k: &str| var(k).filter(|v| !v.is_empty());
    if let Some(h) = var("DOCKER_HOST") {
        return vec![("DOCKER_HOST".into(), h)];
    }
    let config_dir = var("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".docker")));
    let context = var("DOCKER_CONTEXT").or_else(|| {
        let cfg = std::fs::read(config_dir.as_ref()?.join("config.json")).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&cfg).ok()?;
        v.get("currentContext")?.as_str().map(str::to_owned)
    });
    if let (Some(ctx), Some(dir)) = (context.filter(|c| c != "default"), &config_dir) {
        let meta = dir
            .join("contexts/meta")
            .join(hex(&Sha256::digest(ctx.as_bytes())))
            .join("meta.json");
        let host = std::fs::read(&meta).ok().and_then(|b| {
            let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
            v.pointer("/Endpoints/docker/Host")?
                .as_str()
                .map(str::to_owned)
        });
        return vec![(
            format!("context {ctx:?}"),
            host.unwrap_or_else(|| {
                format!(
                    "unix://<context {ctx:?} has no readable {}>",
                    meta.display()
                )
            }),
        )];
    }
    let mut out = vec![(
        "default socket".to_string(),
        "unix:///var/run/docker.sock".to_string(),
    )];
    if let Some(home) = &home {
        out.push((
            "Docker Desktop socket".into(),
            format!("unix://{}", home.join(".docker/run/docker.sock").display()),
        ));
    }
    if let Some(rt) = var("XDG_RUNTIME_DIR") {
        out.push((
            "rootless socket".into(),
            format!("unix://{}", PathBuf::from(rt).join("docker.sock").display()),
        ));
    }
    out
}

fn env_filter(env: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{}={env}", names::LABEL_ENV)],
    )])
}

/// A container's name as listed (`/name` → `name`).
fn first_name(names: Option<Vec<String>>) -> String {
    names
        .and_then(|n| n.into_iter().next())
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned()
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl DockerRuntime {
    async fn list_filtered(&self, filters: &HashMap<String, Vec<String>>) -> Result<Vec<Observed>> {
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(Error::docker("listing containers"))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
                Observed {
                    id: c.id.unwrap_or_default(),
                    env: label(names::LABEL_ENV),
                    version: label(names::LABEL_VERSION),
                    name: first_name(c.names),
                    component: label(names::LABEL_COMPONENT),
                    config_hash: label(names::LABEL_CONFIG_HASH),
                    run: label(names::LABEL_RUN),
                    image: c.image.unwrap_or_default(),
                    state: c
                        .state
                        .map_or(ContainerState::Other("unknown".into()), |s| state_of(&s)),
                }
            })
            .collect())
    }
}

impl DockerRuntime {
    /// Runs a create to its end even when the caller stops waiting (Ctrl-C, a failure
    /// elsewhere in `up`): the engine finishes a request it received anyway, and
    /// `settle` lets rollback wait for it instead of missing what it makes.
    async fn uncancelled<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let guard = self.creating.clone().read_owned().await;
        tokio::spawn(async move {
            let _guard = guard;
            work.await
        })
        .await
        .map_err(|e| Error::Internal(format!("a create task failed: {e}")))?
    }

    async fn create_volume_now(&self, spec: &VolumeSpec, labels: &[(&str, &str)]) -> Result<()> {
        let req = VolumeCreateRequest {
            name: Some(spec.name.clone()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        };
        self.docker
            .create_volume(req)
            .await
            .map_err(Error::docker(format!("creating volume {}", spec.name)))?;
        Ok(())
    }

    async fn create_container_now(&self, spec: &ContainerSpec, run: &str) -> Result<String> {
        let holder = names::container_name(
            spec.labels
                .get(names::LABEL_ENV)
                .map(String::as_str)
                .unwrap_or_default(),
            names::HOLDER,
        );
        let (opts, body) = translate::create_request(spec, run, &holder);
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(Error::docker(format!("creating container {}", spec.name)))?;
        if !spec.files.is_empty() {
            let archive =
                translate::files_archive(spec).map_err(Error::io("packing container files"))?;
            let opts = UploadToContainerOptionsBuilder::default().path("/").build();
            self.docker
                .upload_to_container(&created.id, Some(opts), bollard::body_full(archive.into()))
                .await
                .map_err(Error::docker(format!("copying files into {}", spec.name)))?;
        }
        Ok(created.id)
    }
}

impl Runtime for DockerRuntime {
    async fn list_containers(&self, env: &str) -> Result<Vec<Observed>> {
        self.list_filtered(&env_filter(env)).await
    }

    async fn list_all_containers(&self) -> Result<Vec<Observed>> {
        self.list_filtered(&HashMap::from([(
            "label".to_string(),
            vec![names::LABEL_ENV.to_string()],
        )]))
        .await
    }

    async fn stop_container(&self, id: &str) -> Result<()> {
        // No `t`: the engine uses the container's own StopTimeout (translate sets it).
        match self
            .docker
            .stop_container(id, None::<bollard::query_parameters::StopContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 304: already stopped.
            Err(BollardError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(Error::docker(format!("stopping container {}", short(id)))(
                e,
            )),
        }
    }

    async fn inspect_image_json(&self, image: &str) -> Result<Option<serde_json::Value>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(Some(serde_json::to_value(i).unwrap_or_default())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(Error::docker(format!("inspecting image {image}"))(e)),
        }
    }

    async fn save_images(&self, images: &[String], path: &std::path::Path) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let names: Vec<&str> = images.iter().map(String::as_str).collect();
        let partial = path.with_extension("partial");
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(Error::io(format!("creating {}", partial.display())))?;
        let mut stream = self.docker.export_images(&names);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(Error::docker("saving images"))?;
            file.write_all(&chunk)
                .await
                .map_err(Error::io(format!("writing {}", partial.display())))?;
        }
        file.flush()
            .await
            .map_err(Error::io(format!("writing {}", partial.display())))?;
        std::fs::rename(&partial, path).map_err(Error::io(format!("writing {}", path.display())))
    }

    async fn load_images(&self, path: &std::path::Path) -> Result<Vec<String>> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(Error::io(format!("reading {}", path.display())))?;
        let opts = ImportImageOptionsBuilder::default().quiet(true).build();
        let mut stream = self
            .docker
            .import_image(opts, bollard::body_full(bytes.into()), None);
        let mut lines = vec![];
        while let Some(item) = stream.next().await {
            let info = item.map_err(Error::docker(format!("loading {}", path.display())))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(Error::Docker {
                    doing: format!("loading {}", path.display()),
                    message: e,
                });
            }
            if let Some(s) = info.stream {
                lines.extend(
                    s.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        Ok(lines)
    }

    async fn engine_info(&self) -> Result<EngineInfo> {
        let v = self
            .docker
            .version()
            .await
            .map_err(Error::docker("asking the engine's version"))?;
        Ok(EngineInfo {
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        })
    }

    async fn port_publisher(&self, port: u16) -> Result<Option<crate::service_cluster::Publisher>> {
        // Every running container, matched here: Podman's API refuses the `publish` filter.
        let list = self
            .docker
            .list_containers(None::<bollard::query_parameters::ListContainersOptions>)
            .await
            .map_err(Error::docker("listing containers"))?;
        let on_loopback = |ip: &str| matches!(ip, "" | "127.0.0.1" | "0.0.0.0" | "::" | "::1");
        Ok(list.into_iter().find_map(|c| {
            let inner = c.ports.unwrap_or_default().into_iter().find(|p| {
                p.public_port == Some(port)
                    && p.typ != Some(bollard::models::PortSummaryTypeEnum::UDP)
                    && on_loopback(p.ip.as_deref().unwrap_or_default())
            })?;
            let mut networks: Vec<(String, String)> = c
                .network_settings
                .and_then(|n| n.networks)
                .unwrap_or_default()
                .into_iter()
                .map(|(name, e)| (name, e.ip_address.unwrap_or_default()))
                .collect();
            networks.sort();
            Some(crate::service_cluster::Publisher {
                container: first_name(c.names),
                port: inner.private_port,
                networks,
            })
        }))
    }

    async fn list_volumes(&self, env: &str) -> Result<Vec<ObservedVolume>> {
        let opts = ListVolumesOptionsBuilder::default()
            .filters(&env_filter(env))
            .build();
        let resp = self
            .docker
            .list_volumes(Some(opts))
            .await
            .map_err(Error::docker("listing volumes"))?;
        Ok(resp
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| ObservedVolume {
                run: v.labels.get(names::LABEL_RUN).cloned().unwrap_or_default(),
                name: v.name,
            })
            .collect())
    }

    async fn image_exists(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(Error::docker(format!("inspecting image {image}"))(e)),
        }
    }

    async fn pull_image(
        &self,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<()> {
        let opts = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut stream = self.docker.create_image(Some(opts), None, None);
        // Per-layer byte counts, summed for one progress figure.
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| Error::ImageUnavailable {
                image: image.to_owned(),
                reason: docker_message(&e),
            })?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(Error::ImageUnavailable {
                    image: image.to_owned(),
                    reason: err,
                });
            }
            if let (Some(id), Some(d)) = (info.id, info.progress_detail)
                && let (Some(cur), Some(tot)) = (d.current, d.total)
            {
                layers.insert(id, (cur.max(0) as u64, tot.max(0) as u64));
                let (current, total) = layers.values().fold((0, 0), |a, l| (a.0 + l.0, a.1 + l.1));
                progress(PullProgress {
                    image: image.to_owned(),
                    current,
                    total,
                });
            }
        }
        Ok(())
    }

    async fn create_volume(&self, spec: &VolumeSpec, labels: &[(&str, &str)]) -> Result<()> {
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (this, spec) = (self.clone(), spec.clone());
        self.uncancelled(async move {
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            this.create_volume_now(&spec, &labels).await
        })
        .await
    }

    async fn create_container(&self, spec: &ContainerSpec, run: &str) -> Result<String> {
        let (this, spec, run) = (self.clone(), spec.clone(), run.to_owned());
        self.uncancelled(async move { this.create_container_now(&spec, &run).await })
            .await
    }

    async fn settle(&self) {
        let _all_done = self.creating.write().await;
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(Error::docker(format!("starting container {}", short(id))))
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // "removal already in progress": another remover got there first.
            Err(BollardError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(Error::docker(format!("removing container {}", short(id)))(
                e,
            )),
        }
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
        match self.docker.remove_volume(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(Error::docker(format!("removing volume {name}"))(e)),
        }
    }

    async fn liveness(&self, id: &str) -> Result<Liveness> {
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(Error::docker(format!("inspecting container {}", short(id))))?;
        let s = c.state.unwrap_or_default();
        Ok(Liveness {
            state: s
                .status
                .map_or(ContainerState::Other("unknown".into()), |s| state_of(&s)),
            exit_code: s.exit_code,
            oom_killed: s.oom_killed.unwrap_or(false),
        })
    }

    async fn inspect_json(&self, id: &str) -> Result<serde_json::Value> {
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(Error::docker(format!("inspecting container {}", short(id))))?;
        Ok(serde_json::to_value(c).unwrap_or_default())
    }

    fn logs(&self, id: &str, tail: Option<u64>, follow: bool) -> LogStream {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .tail(&tail.map_or_else(|| "all".to_string(), |n| n.to_string()))
            .build();
        let id = id.to_owned();
        Box::pin(self.docker.logs(&id, Some(opts)).filter_map(move |item| {
            let id = id.clone();
            async move {
                match item {
                    Ok(bollard::container::LogOutput::StdErr { message }) => {
                        Some(Ok(LogChunk::Stderr(message.to_vec())))
                    }
                    Ok(bollard::container::LogOutput::StdOut { message })
                    | Ok(bollard::container::LogOutput::Console { message }) => {
                        Some(Ok(LogChunk::Stdout(message.to_vec())))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(Error::docker(format!(
                        "reading logs of {}",
                        short(&id)
                    ))(e))),
                }
            }
        }))
    }

    async fn exec(&self, id: &str, command: &[String]) -> Result<i64> {
        let doing = || format!("running {:?} in {}", command.join(" "), short(id));
        let created = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(command.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(Error::docker(doing()))?;
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(Error::docker(doing()))?
        {
            while output.next().await.is_some() {}
        }
        let inspect = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(Error::docker(doing()))?;
        Ok(inspect.exit_code.unwrap_or(-1))
    }
}

/// Both of the engine's state enums (list and inspect) name their variants like Docker's
/// state strings, upper-cased.
fn state_of(s: &impl std::fmt::Debug) -> ContainerState {
    ContainerState::parse(&format!("{s:?}").to_lowercase())
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn docker_host_wins_alone() {
        let c = candidates_from(
            &vars(&[("DOCKER_HOST", "tcp://10.0.0.1:2375".into())]),
            None,
        );
        assert_eq!(
            c,
            vec![("DOCKER_HOST".to_string(), "tcp://10.0.0.1:2375".to_string())]
        );
    }

    #[test]
    fn current_context_is_resolved_through_its_meta_file() {
        let home = tempfile::tempdir().unwrap();
        let docker = home.path().join(".docker");
        let meta = docker
            .join("contexts/meta")
            .join(hex(&Sha256::digest(b"colima")));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"colima","Endpoints":{"docker":{"Host":"unix:///home/u/.colima/docker.sock"}}}"#,
        )
        .unwrap();
        std::fs::write(docker.join("config.json"), r#"{"currentContext":"colima"}"#).unwrap();
        let c = candidates_from(&vars(&[]), Some(home.path().to_owned()));
        assert_eq!(
            c,
            vec![(
                "context \"colima\"".to_string(),
                "unix:///home/u/.colima/docker.sock".to_string()
            )]
        );
        // DOCKER_CONTEXT=default falls back to the sockets.
        let c = candidates_from(
            &vars(&[("DOCKER_CONTEXT", "default".into())]),
            Some(home.path().to_owned()),
        );
        assert_eq!(c[0].1, "unix:///var/run/docker.sock");
    }

    #[test]
    fn default_sockets_in_order() {
        let c = candidates_from(
            &vars(&[("XDG_RUNTIME_DIR", "/run/user/1000".into())]),
            Some(PathBuf::from("/home/u")),
        );
        let hosts: Vec<_> = c.iter().map(|(_, h)| h.as_str()).collect();
        assert_eq!(
            hosts,
            [
                "unix:///var/run/docker.sock",
                "unix:///home/u/.docker/run/docker.sock",
                "unix:///run/user/1000/docker.sock"
            ]
        );
    }
}
