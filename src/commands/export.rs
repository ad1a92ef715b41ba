//! `kcpenv export logs DIR`: what a workshop helper asks for, in one directory — every
//! component's log and `docker inspect` output, the configs kcpenv rendered, the
//! environment record, earlier failure diagnostics, kcpenv's and the engine's version.
//! Secrets never leave: every value of secrets.yaml, every private key (PEM and the
//! base64 form kubeconfigs embed) and environment variables with secret-looking names
//! are replaced by `<redacted>` in everything written.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::cli::{ExportArgs, ExportCommand};
use crate::error::{Error, Result};
use crate::runtime::docker::DockerRuntime;
use crate::runtime::{LogChunk, Runtime};
use crate::secrets::Secrets;
use crate::state::{self, StateDir};

use super::env_name;

const REDACTED: &str = "<redacted>";

pub async fn run(args: ExportArgs) -> Result<i32> {
    let dir = match args.command {
        ExportCommand::Logs { dir } => dir,
        ExportCommand::Compose {
            profile,
            port_offset,
            file,
            files_dir,
        } => return compose(&args.env, profile, port_offset, file, files_dir),
    };
    let env = env_name(&args.env)?;
    let state = StateDir::for_env(&env)?;
    let rt = DockerRuntime::connect().await?;
    let containers = rt.list_containers(&env).await?;
    if containers.is_empty() && !state.exists() {
        return Err(Error::EnvNotFound { env });
    }
    let redactor = Redactor::for_env(&state)?;
    let write = |rel: PathBuf, text: &str| {
        state::write_file(&dir.join(rel), redactor.redact(text).as_bytes(), 0o600)
    };
    state::create_private_dir(&dir)?;

    let mut components = vec![];
    for c in &containers {
        let mut log = Vec::new();
        let mut stream = rt.logs(&c.id, None, false);
        while let Some(chunk) = stream.next().await {
            match chunk? {
                LogChunk::Stdout(b) | LogChunk::Stderr(b) => log.extend_from_slice(&b),
            }
        }
        write(
            Path::new(&c.component).join("log.txt"),
            &String::from_utf8_lossy(&log),
        )?;
        let mut inspect = rt.inspect_json(&c.id).await?;
        redact_env_vars(&mut inspect);
        write(
            Path::new(&c.component).join("inspect.json"),
            &serde_json::to_string_pretty(&inspect).expect("JSON serialises"),
        )?;
        components.push(json!({ "component": c.component, "container": c.name, "state": c.state.to_string(), "image": c.image }));
    }
    // The rendered configs, env.json and earlier failures, from the state directory.
    for sub in ["config", "failures"] {
        for file in files_under(&state.root.join(sub)) {
            let rel = file.strip_prefix(&state.root).expect("under the state dir");
            let text =
                String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
            write(rel.to_path_buf(), &text)?;
        }
    }
    if let Ok(text) = std::fs::read_to_string(state.env_json()) {
        write("env.json".into(), &text)?;
    }
    let engine = rt.engine_info().await.ok();
    let summary = json!({
        "env": env,
        "kcpenv_version": env!("CARGO_PKG_VERSION"),
        "engine": engine.map(|e| json!({ "endpoint": rt.endpoint, "version": e.version, "api_version": e.api_version, "os": e.os, "arch": e.arch })),
        "components": components,
    });
    write(
        "summary.json".into(),
        &serde_json::to_string_pretty(&summary).expect("JSON serialises"),
    )?;
    println!("{}", dir.display());
    Ok(0)
}

/// `export compose`: the plan `up` would make, as a compose file.
fn compose(
    env: &crate::cli::EnvArgs,
    profile: Option<String>,
    port_offset: Option<u16>,
    file: Option<PathBuf>,
    files_dir: Option<PathBuf>,
) -> Result<i32> {
    let env = env_name(env)?;
    let state = StateDir::for_env(&env)?;
    let up = state.read_env().ok().flatten().and_then(|r| r.up);
    let name = profile
        .or(up.as_ref().map(|u| u.profile.clone()))
        .unwrap_or_else(|| "kcp".into());
    let mut p = crate::profile::load(&name)?;
    if let Some(dex) = &mut p.dex {
        dex.users = state.read_user_changes()?.apply(&dex.users);
    }
    state.create()?;
    let (certs, secrets) = super::up::materials(&state, &p)?;
    let opts = crate::plan::Options {
        env: env.clone(),
        port_offset: port_offset
            .or(up.as_ref().map(|u| u.port_offset))
            .unwrap_or(0),
        image_overrides: crate::images::parse_overrides(
            &up.as_ref().map(|u| u.images.clone()).unwrap_or_default(),
        )?,
        mirror: std::env::var(crate::images::MIRROR_ENV)
            .ok()
            .filter(|m| !m.is_empty())
            .or(up.and_then(|u| u.mirror)),
        // Compose cannot run the agent (no bootstrap): a placeholder does.
        service_cluster: None,
    };
    let plan = crate::plan::build(&p, &opts, &certs, &secrets)?;
    let files = match files_dir {
        None => crate::compose::Files::Configs,
        Some(dir) => {
            let dir = std::path::absolute(&dir).map_err(Error::io("resolving --files-dir"))?;
            write_files(&plan, &dir)?;
            crate::compose::Files::Directory(dir)
        }
    };
    let text = crate::compose::render(&plan, &files);
    match file {
        Some(f) => {
            state::write_file(&f, text.as_bytes(), 0o600)?;
            println!("{}", f.display());
        }
        None => print!("{text}"),
    }
    Ok(0)
}

/// The containers' files under `dir`, with their modes, and their owners when we may.
fn write_files(plan: &crate::plan::Plan, dir: &Path) -> Result<()> {
    for c in plan.all_containers() {
        for f in &c.files {
            let path = crate::compose::file_path(dir, &c.component, &f.path);
            state::write_file(&path, f.content.as_bytes(), f.mode)?;
            // Only root may give a file away; others get files owned by themselves.
            let _ = std::os::unix::fs::chown(&path, Some(f.uid as u32), Some(f.gid as u32));
        }
    }
    Ok(())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Environment variables whose names look secret get their values redacted.
fn redact_env_vars(inspect: &mut Value) {
    if let Some(vars) = inspect
        .pointer_mut("/Config/Env")
        .and_then(Value::as_array_mut)
    {
        for v in vars.iter_mut() {
            if let Some((k, _)) = v.as_str().and_then(|s| s.split_once('=')) {
                let upper = k.to_uppercase();
                if ["PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL"]
                    .iter()
                    .any(|w| upper.contains(w))
                {
                    *v = Value::from(format!("{k}={REDACTED}"));
                }
            }
        }
    }
}

struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    fn for_env(state: &StateDir) -> Result<Redactor> {
        use base64::Engine;
        let mut secrets = vec![];
        let s = Secrets::load(&state.secrets())?;
        secrets.push(s.oidc_client_secret.clone());
        for u in s.users.values() {
            secrets.push(u.password.clone());
            secrets.push(u.hash.clone());
        }
        for key in files_under(&state.pki())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "key"))
        {
            if let Ok(pem) = std::fs::read_to_string(&key) {
                secrets.push(base64::engine::general_purpose::STANDARD.encode(pem.as_bytes()));
                secrets.push(pem.trim().to_owned());
            }
        }
        secrets.retain(|s| s.len() >= 6);
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Ok(Redactor { secrets })
    }

    fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.as_str(), REDACTED);
        }
        redact_pem_keys(&out)
    }
}

/// Any PEM private key block (ours or not), in case one reached a log.
fn redact_pem_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let header_end = rest[start..].find("-----\n").map(|i| start + i);
        let is_key = header_end.is_some_and(|h| rest[start..h].ends_with("PRIVATE KEY"));
        match (is_key, rest[start..].find("-----END ")) {
            (true, Some(end)) => {
                let end = start + end;
                let close = rest[end + 9..]
                    .find("-----")
                    .map_or(rest.len(), |i| end + 9 + i + 5);
                out.push_str(&rest[..start]);
                out.push_str(REDACTED);
                rest = &rest[close..];
            }
            _ => {
                out.push_str(&rest[..start + 11]);
                rest = &rest[start + 11..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_private_keys_are_redacted_certificates_kept() {
        let text = "a\n-----BEGIN PRIVATE KEY-----\nMIIabc\n-----END PRIVATE KEY-----\nb\n-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----\n";
        let out = redact_pem_keys(text);
        assert!(!out.contains("MIIabc"), "{out}");
        assert!(out.contains("MIIcert"), "{out}");
        assert!(out.starts_with("a\n<redacted>\nb\n"), "{out}");
    }

    #[test]
    fn secret_env_vars_are_redacted() {
        let mut v =
            json!({ "Config": { "Env": ["PATH=/bin", "DB_PASSWORD=hunter2", "API_TOKEN=t"] } });
        redact_env_vars(&mut v);
        assert_eq!(
            v["Config"]["Env"],
            json!([
                "PATH=/bin",
                "DB_PASSWORD=<redacted>",
                "API_TOKEN=<redacted>"
            ])
        );
    }
}
