//! Kubeconfigs: the environment's standalone file, and merging its entries into a
//! user's kubeconfig. Merging works on the YAML tree, not on a typed model, so every
//! field kcpenv does not know about (extensions, exec plugins, proxy-url …) in the
//! user's other entries survives exactly.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use crate::error::{Error, Result};
use crate::plan::{KubeconfigSpec, OidcSpec};
use crate::state;

/// The names the environment's entries take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryNames {
    pub clusters: Vec<String>,
    pub users: Vec<String>,
    pub contexts: Vec<String>,
}

pub fn root_context(env: &str) -> String {
    format!("kcpenv-{env}")
}

/// Short context names (`root`, `base`) → full ones; full names pass through.
pub fn resolve_context(env: &str, name: &str, doc: &Value) -> Result<String> {
    let full = match name {
        "root" => root_context(env),
        "base" => format!("kcpenv-{env}-base"),
        "oidc" => format!("kcpenv-{env}-oidc"),
        other => other.to_owned(),
    };
    let contexts = entry_names(doc).contexts;
    if contexts.contains(&full) {
        Ok(full)
    } else {
        Err(Error::Usage {
            message: format!("the kubeconfig of {env:?} has no context {name:?}"),
            hint: format!("contexts: root, base, or one of {}", contexts.join(", ")),
        })
    }
}

/// The kubelogin exec user for OIDC login: the browser flow, or with `login = (user,
/// password)` the password grant (an empty password makes kubelogin prompt for it).
///
/// Files come from the environment's state directory `state_root`: the CA for Dex, and a
/// token cache of the environment's own, so tokens from a purged environment's Dex
/// (other signing keys) are never offered to a new one.
pub fn oidc_user(oidc: &OidcSpec, state_root: &Path, login: Option<(&str, &str)>) -> Value {
    let mut args = vec![
        "oidc-login".to_string(),
        "get-token".into(),
        format!("--oidc-issuer-url={}", oidc.issuer),
        format!("--oidc-client-id={}", oidc.client_id),
        format!("--oidc-client-secret={}", oidc.client_secret),
        "--oidc-extra-scope=email".into(),
        "--oidc-extra-scope=groups".into(),
        format!(
            "--certificate-authority={}",
            state_root.join("pki/ca.crt").display()
        ),
        format!(
            "--token-cache-dir={}",
            state_root.join("oidc-cache").display()
        ),
    ];
    let mut prompts = true;
    if let Some((user, password)) = login {
        args.extend(["--grant-type=password".into(), format!("--username={user}")]);
        if !password.is_empty() {
            args.push(format!("--password={password}"));
            prompts = false;
        }
    }
    yaml(serde_json::json!({
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "kubectl",
            "args": args,
            // Required with v1; IfAvailable lets kubelogin prompt when a terminal is there.
            "interactiveMode": if prompts { "IfAvailable" } else { "Never" },
            "provideClusterInfo": false,
        }
    }))
}

/// The standalone kubeconfig: admin (client certificate) at `/clusters/root` and at
/// the base URL, and with Dex an OIDC context (kubelogin) at `/clusters/root`.
/// Certificates are embedded so the file works on its own; kubelogin reads the CA from
/// the state directory `state_root`.
pub fn generate(env: &str, spec: &KubeconfigSpec, state_root: Option<&Path>) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let root = root_context(env);
    let base = format!("{root}-base");
    let admin = format!("{root}-admin");
    let cluster = |name: &str, server: String| {
        yaml(serde_json::json!({
            "name": name,
            "cluster": { "server": server, "certificate-authority-data": b64(&spec.ca_pem) },
        }))
    };
    let context = |name: &str, cluster: &str, user: &str| {
        yaml(serde_json::json!({ "name": name, "context": { "cluster": cluster, "user": user } }))
    };
    let mut doc = Mapping::new();
    doc.insert("apiVersion".into(), "v1".into());
    doc.insert("kind".into(), "Config".into());
    doc.insert(
        "clusters".into(),
        Value::Sequence(vec![
            cluster(&root, format!("{}/clusters/root", spec.server)),
            cluster(&base, spec.server.clone()),
        ]),
    );
    let mut users = vec![yaml(serde_json::json!({
        "name": admin,
        "user": {
            "client-certificate-data": b64(&spec.admin.cert_pem),
            "client-key-data": b64(&spec.admin.key_pem),
        },
    }))];
    let mut contexts = vec![context(&root, &root, &admin), context(&base, &base, &admin)];
    if let (Some(oidc), Some(state_dir)) = (&spec.oidc, state_root) {
        let name = format!("{root}-oidc");
        let mut user = Mapping::new();
        user.insert("name".into(), name.clone().into());
        user.insert("user".into(), oidc_user(oidc, state_dir, None));
        users.push(Value::Mapping(user));
        contexts.push(context(&name, &root, &name));
    }
    doc.insert("users".into(), Value::Sequence(users));
    doc.insert("contexts".into(), Value::Sequence(contexts));
    doc.insert("current-context".into(), root.clone().into());
    doc.insert("preferences".into(), Value::Mapping(Mapping::new()));
    Value::Mapping(doc)
}

/// A one-context kubeconfig: `server` with a client certificate, everything embedded.
pub fn single(name: &str, server: &str, ca_pem: &str, client: &crate::pki::CertPair) -> Value {
    crate::service_cluster::Access {
        server: server.to_owned(),
        ca_pem: Some(ca_pem.to_owned()),
        insecure: false,
        tls_server_name: None,
        auth: crate::service_cluster::Auth::ClientCert {
            cert_pem: client.cert_pem.clone(),
            key_pem: client.key_pem.clone(),
        },
    }
    .kubeconfig(name)
}

fn yaml(j: serde_json::Value) -> Value {
    serde_yaml::to_value(j).expect("JSON is YAML")
}

pub fn entry_names(doc: &Value) -> EntryNames {
    let names = |key: &str| -> Vec<String> {
        doc.get(key)
            .and_then(Value::as_sequence)
            .map(|s| {
                s.iter()
                    .filter_map(|e| e.get("name")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    EntryNames {
        clusters: names("clusters"),
        users: names("users"),
        contexts: names("contexts"),
    }
}

/// Adds (or replaces) user `name` and a context of the same name at `/clusters/root`.
pub fn add_user_context(doc: &mut Value, env: &str, name: &str, user: Value) {
    let mut entry = Mapping::new();
    entry.insert("name".into(), name.into());
    entry.insert("user".into(), user);
    let mut ours = Mapping::new();
    ours.insert("users".into(), Value::Sequence(vec![Value::Mapping(entry)]));
    ours.insert(
        "contexts".into(),
        Value::Sequence(vec![yaml(serde_json::json!({
            "name": name,
            "context": { "cluster": root_context(env), "user": name },
        }))]),
    );
    merge(doc, &Value::Mapping(ours), Some(name));
}

pub fn set_current_context(doc: &mut Value, context: &str) {
    if let Some(m) = doc.as_mapping_mut() {
        m.insert("current-context".into(), context.into());
    }
}

/// Merges `ours` into `target`: entries with the same names are replaced, all others kept
/// as they are; `current-context` changes only when `switch_to` is given.
pub fn merge(target: &mut Value, ours: &Value, switch_to: Option<&str>) {
    if !target.is_mapping() {
        *target = Value::Mapping(Mapping::new());
    }
    let m = target.as_mapping_mut().expect("mapping");
    m.entry("apiVersion".into()).or_insert("v1".into());
    m.entry("kind".into()).or_insert("Config".into());
    for key in ["clusters", "users", "contexts"] {
        let incoming: Vec<Value> = ours
            .get(key)
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        let incoming_names: Vec<&str> = incoming
            .iter()
            .filter_map(|e| e.get("name")?.as_str())
            .collect();
        let list = m
            .entry(key.into())
            .or_insert_with(|| Value::Sequence(vec![]));
        if !list.is_sequence() {
            *list = Value::Sequence(vec![]);
        }
        let seq = list.as_sequence_mut().expect("sequence");
        seq.retain(|e| {
            !e.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| incoming_names.contains(&n))
        });
        seq.extend(incoming.iter().cloned());
    }
    if let Some(ctx) = switch_to {
        m.insert("current-context".into(), ctx.into());
    }
}

/// Removes the named entries; clears `current-context` if it was one of them.
pub fn unmerge(target: &mut Value, names: &EntryNames) {
    let Some(m) = target.as_mapping_mut() else {
        return;
    };
    for (key, list) in [
        ("clusters", &names.clusters),
        ("users", &names.users),
        ("contexts", &names.contexts),
    ] {
        if let Some(seq) = m.get_mut(key).and_then(Value::as_sequence_mut) {
            seq.retain(|e| {
                !e.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| list.iter().any(|x| x == n))
            });
        }
    }
    let current = m
        .get("current-context")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if current.is_some_and(|c| names.contexts.contains(&c)) {
        m.insert("current-context".into(), "".into());
    }
}

/// The file kubectl would write new entries to: `$KUBECONFIG`'s first existing file (or
/// its last entry when none exists), else `~/.kube/config`.
pub fn default_merge_target() -> Result<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if let Some(p) = paths.iter().find(|p| p.exists()).or(paths.last()) {
            return Ok(p.clone());
        }
    }
    dirs::home_dir()
        .map(|h| h.join(".kube").join("config"))
        .ok_or_else(|| Error::Internal("cannot tell the home directory; pass --kubeconfig".into()))
}

pub fn read(path: &Path) -> Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(Value::Mapping(Mapping::new())),
        Ok(text) => serde_yaml::from_str(&text).map_err(|e| Error::Usage {
            message: format!("{} is not a valid kubeconfig: {e}", path.display()),
            hint: "fix or move that file, or pick another with --kubeconfig FILE".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Mapping(Mapping::new())),
        Err(e) => Err(Error::io(format!("reading {}", path.display()))(e)),
    }
}

/// Writes atomically, keeping the file's mode (0600 for a new file).
pub fn write(path: &Path, doc: &Value) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let text = serde_yaml::to_string(doc).expect("kubeconfig serialises");
    state::write_file(path, text.as_bytes(), mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CertPair;

    fn ours() -> Value {
        generate(
            "dev",
            &KubeconfigSpec {
                server: "https://localhost:6443".into(),
                ca_pem: "CA".into(),
                admin: CertPair {
                    cert_pem: "CERT".into(),
                    key_pem: "KEY".into(),
                },
                oidc: None,
            },
            None,
        )
    }

    #[test]
    fn generated_kubeconfig() {
        insta::assert_yaml_snapshot!(ours());
    }

    #[test]
    fn oidc_context_uses_kubelogin() {
        let spec = KubeconfigSpec {
            server: "https://localhost:6443".into(),
            ca_pem: "CA".into(),
            admin: CertPair {
                cert_pem: "C".into(),
                key_pem: "K".into(),
            },
            oidc: Some(OidcSpec {
                issuer: "https://localhost:5556/dex".into(),
                client_id: "kcp-kubelogin".into(),
                client_secret: "s3".into(),
            }),
        };
        let doc = generate("dev", &spec, Some(Path::new("/state")));
        insta::assert_yaml_snapshot!(doc["users"][1]);
        assert_eq!(doc["contexts"][2]["name"], "kcpenv-dev-oidc");
        assert_eq!(doc["contexts"][2]["context"]["cluster"], "kcpenv-dev");
        let scripted = oidc_user(
            spec.oidc.as_ref().unwrap(),
            Path::new("/ca"),
            Some(("a@b.c", "pw")),
        );
        assert_eq!(scripted["exec"]["interactiveMode"], "Never");
        let args: Vec<&str> = scripted["exec"]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert!(
            args.contains(&"--grant-type=password") && args.contains(&"--username=a@b.c"),
            "{args:?}"
        );
    }

    #[test]
    fn merge_keeps_other_entries_and_fields() {
        let user_file = r#"
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example:443
    proxy-url: socks5://localhost:1080
    extensions:
    - name: x
      extension: {a: 1}
- name: kcpenv-dev
  cluster: {server: https://stale}
users:
- name: prod-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
      args: [eks, get-token]
contexts:
- name: prod
  context: {cluster: prod, user: prod-user, namespace: web}
current-context: prod
preferences: {colors: true}
"#;
        let mut doc: Value = serde_yaml::from_str(user_file).unwrap();
        let before = doc.clone();
        merge(&mut doc, &ours(), None);
        assert_eq!(doc["current-context"], "prod", "no switch without --switch");
        for key in ["clusters", "users", "contexts"] {
            for e in before[key].as_sequence().unwrap() {
                if e["name"] != "kcpenv-dev" {
                    assert!(
                        doc[key].as_sequence().unwrap().contains(e),
                        "{key}: lost {e:?}"
                    );
                }
            }
        }
        let clusters = doc["clusters"].as_sequence().unwrap();
        assert_eq!(
            clusters
                .iter()
                .filter(|c| c["name"] == "kcpenv-dev")
                .count(),
            1
        );
        assert_eq!(
            clusters.iter().find(|c| c["name"] == "kcpenv-dev").unwrap()["cluster"]["server"],
            "https://localhost:6443/clusters/root"
        );
        assert_eq!(doc["preferences"], before["preferences"]);

        // Merging twice changes nothing more.
        let once = doc.clone();
        merge(&mut doc, &ours(), None);
        assert_eq!(doc, once);

        merge(&mut doc, &ours(), Some("kcpenv-dev"));
        assert_eq!(doc["current-context"], "kcpenv-dev");

        unmerge(&mut doc, &entry_names(&ours()));
        assert_eq!(doc["current-context"], "");
        for key in ["clusters", "users", "contexts"] {
            let left: Vec<_> = before[key]
                .as_sequence()
                .unwrap()
                .iter()
                .filter(|e| e["name"] != "kcpenv-dev")
                .cloned()
                .collect();
            assert_eq!(doc[key].as_sequence().unwrap(), &left, "{key}");
        }
    }

    #[test]
    fn merge_into_empty() {
        let mut doc = Value::Null;
        merge(&mut doc, &ours(), Some("kcpenv-dev"));
        assert_eq!(entry_names(&doc), entry_names(&ours()));
        assert_eq!(doc["kind"], "Config");
    }

    #[test]
    fn short_context_names() {
        let o = ours();
        assert_eq!(resolve_context("dev", "root", &o).unwrap(), "kcpenv-dev");
        assert_eq!(
            resolve_context("dev", "base", &o).unwrap(),
            "kcpenv-dev-base"
        );
        assert!(resolve_context("dev", "nope", &o).is_err());
    }
}
