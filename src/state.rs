//! The environment's state directory and its files.
//!
//! Layout (`$KCPENV_HOME/<env>/`, default `<data dir>/kcpenv/<env>/`):
//! `pki/` (0700; keys 0600), `config/<component>/…` (files given to containers, as
//! rendered), `kubeconfig` (0600), `env.json` (the resolved environment of the last
//! successful `up`), `failures/` (logs saved when a component failed). Locks live beside
//! the directory (`<env>.lock`) so `down --purge` can delete the directory while holding one.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const HOME_ENV: &str = "KCPENV_HOME";

/// The directory holding every environment's state.
pub fn home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os(HOME_ENV).filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    dirs::data_dir()
        .map(|d| d.join("kcpenv"))
        .ok_or_else(|| Error::Internal(format!("cannot tell the data directory; set {HOME_ENV}")))
}

#[derive(Debug, Clone)]
pub struct StateDir {
    pub root: PathBuf,
    pub env: String,
}

impl StateDir {
    pub fn for_env(env: &str) -> Result<StateDir> {
        Ok(StateDir {
            root: home()?.join(env),
            env: env.to_owned(),
        })
    }
    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }
    pub fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }
    pub fn config(&self, component: &str) -> PathBuf {
        self.root.join("config").join(component)
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }
    pub fn users(&self) -> PathBuf {
        self.root.join("users.yaml")
    }
    pub fn read_user_changes(&self) -> Result<UserChanges> {
        match fs::read_to_string(self.users()) {
            Ok(t) => serde_yaml::from_str(&t).map_err(|e| {
                Error::Internal(format!("{} is damaged: {e}", self.users().display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserChanges::default()),
            Err(e) => Err(Error::io(format!("reading {}", self.users().display()))(e)),
        }
    }
    pub fn write_user_changes(&self, c: &UserChanges) -> Result<()> {
        write_file(
            &self.users(),
            serde_yaml::to_string(c).expect("serialises").as_bytes(),
            0o600,
        )
    }
    pub fn secrets(&self) -> PathBuf {
        self.root.join("secrets.yaml")
    }
    /// `<state>/kubeconfigs/<name>.kubeconfig`.
    pub fn named_kubeconfig(&self, name: &str) -> PathBuf {
        self.root
            .join("kubeconfigs")
            .join(format!("{name}.kubeconfig"))
    }
    pub fn env_json(&self) -> PathBuf {
        self.root.join("env.json")
    }
    pub fn failures(&self) -> PathBuf {
        self.root.join("failures")
    }
    pub fn merged_json(&self) -> PathBuf {
        self.root.join("merged.json")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.with_file_name(format!("{}.lock", self.env))
    }
    pub fn create(&self) -> Result<()> {
        create_private_dir(&self.root)
    }

    pub fn read_env(&self) -> Result<Option<EnvRecord>> {
        match fs::read(self.env_json()) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                Error::Internal(format!(
                    "{} is damaged ({e}); `kcpenv up` rewrites it",
                    self.env_json().display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", self.env_json().display()))(
                e,
            )),
        }
    }

    pub fn write_env(&self, rec: &EnvRecord) -> Result<()> {
        let json = serde_json::to_vec_pretty(rec).expect("EnvRecord serialises");
        write_file(&self.env_json(), &json, 0o600)
    }
}

/// What `status`, `logs` and `kubeconfig` need to know about an environment without
/// re-reading its profile: written by `up` after it succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvRecord {
    pub env: String,
    pub profile: String,
    pub port_offset: u16,
    pub components: Vec<ComponentRecord>,
    /// With Dex: the issuer and client kubelogin uses (the secret is in secrets.yaml).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcRecord>,
    /// With Dex: the users Dex knows (profile's plus `users add`, minus `users remove`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<crate::profile::UserDecl>,
    /// Kubeconfigs besides the admin one: name → what it is for
    /// (`<state>/kubeconfigs/<name>.kubeconfig`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kubeconfigs: BTreeMap<String, String>,
    /// With api-syncagent: its export, slice and workspaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syncagent: Option<SyncAgentRecord>,
    /// With OpenFGA: where its APIs are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openfga: Option<FgaRecord>,
    /// How `up` was called, so commands such as `users add` can reconcile again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<UpRecord>,
}

impl EnvRecord {
    /// kcp's URL on the host, when the environment runs kcp.
    pub fn kcp_url(&self) -> Option<&str> {
        self.components
            .iter()
            .find(|c| c.name == crate::components::kcp::NAME)
            .and_then(|c| c.urls.first())
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpRecord {
    /// An embedded profile's name, or the absolute path of the profile file.
    pub profile: String,
    pub port_offset: u16,
    pub images: Vec<String>,
    pub mirror: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_cluster: Option<String>,
}

/// Users changed with `kcpenv users add/remove`, applied on top of the profile's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<crate::profile::UserDecl>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

impl UserChanges {
    pub fn apply(
        &self,
        profile_users: &[crate::profile::UserDecl],
    ) -> Vec<crate::profile::UserDecl> {
        let mut out: Vec<_> = profile_users
            .iter()
            .filter(|u| {
                !self
                    .removed
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&u.email))
            })
            .filter(|u| {
                !self
                    .added
                    .iter()
                    .any(|a| a.email.eq_ignore_ascii_case(&u.email))
            })
            .cloned()
            .collect();
        out.extend(self.added.iter().cloned());
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncAgentRecord {
    pub service_cluster: String,
    pub service_workspace: Option<String>,
    pub provider_workspace: String,
    pub api_export: String,
    /// The APIExportEndpointSlice (kcp names it after the export).
    pub endpoint_slice: String,
    pub consumer_workspace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FgaRecord {
    /// OpenFGA's HTTP API on the host.
    pub api_url: String,
    pub playground_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OidcRecord {
    pub issuer: String,
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentRecord {
    pub name: String,
    pub image: String,
    /// User-facing URLs (published ports).
    pub urls: Vec<String>,
    pub readiness: Option<crate::plan::Probe>,
}

pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(Error::io(format!(
        "setting permissions of {}",
        dir.display()
    )))
}

/// Writes `bytes` to `path` atomically (temp file + rename) with exactly `mode`,
/// so a reader never sees a half-written kubeconfig or key.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let doing = || format!("writing {}", path.display());
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(Error::io(doing()))?;
    }
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(Error::io(doing()))?;
    // `mode` at open is filtered by the umask; set it exactly.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(Error::io(doing()))?;
    f.write_all(bytes).map_err(Error::io(doing()))?;
    f.sync_all().map_err(Error::io(doing()))?;
    fs::rename(&tmp, path).map_err(Error::io(doing()))
}

/// An exclusive lock on one environment, held for the life of the value.
pub struct EnvLock {
    _file: File,
}

impl EnvLock {
    /// Waits up to `timeout` for the lock; `on_wait` is called once if it has to wait.
    pub fn acquire(state: &StateDir, timeout: Duration, on_wait: impl FnOnce()) -> Result<EnvLock> {
        let path = state.lock_path();
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(Error::io(format!("creating {}", parent.display())))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io(format!("opening {}", path.display())))?;
        let start = Instant::now();
        let mut on_wait = Some(on_wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(EnvLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) => {
                    if let Some(f) = on_wait.take() {
                        f();
                    }
                    if start.elapsed() >= timeout {
                        return Err(Error::Locked {
                            env: state.env.clone(),
                            waited: humantime::format_duration(Duration::from_secs(
                                start.elapsed().as_secs(),
                            ))
                            .to_string(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io(format!("locking {}", path.display()))(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_file_sets_exact_mode_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/secret");
        write_file(&p, b"one", 0o600).unwrap();
        write_file(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(p.parent().unwrap()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn second_lock_waits_then_fails() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir {
            root: d.path().join("e"),
            env: "e".into(),
        };
        let held = EnvLock::acquire(&s, Duration::ZERO, || {}).unwrap();
        let mut waited = false;
        let e = EnvLock::acquire(&s, Duration::from_millis(200), || waited = true)
            .err()
            .unwrap();
        assert!(waited);
        assert!(matches!(e, Error::Locked { .. }));
        drop(held);
        EnvLock::acquire(&s, Duration::ZERO, || {}).unwrap();
    }
}
