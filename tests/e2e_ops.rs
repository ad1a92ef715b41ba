//! End-to-end tier for the operations commands on real kcp and Dex: `stop`/`start`
//! keeps a workspace created before; two environments run at once and both
//! kubeconfigs work; `env` exports what a script needs; `export logs` has each
//! component's log and no secret of the environment's secrets file.

mod common;

use std::path::{Path, PathBuf};

use common::e2e::{kubectl, kubectl_ok, require_e2e};
use common::{Env, stderr, stdout};

fn kubeconfig(env: &Env) -> PathBuf {
    let out = env.kcpenv(&["kubeconfig", "--path"]).output().unwrap();
    PathBuf::from(stdout(&out).trim())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn stop_start_two_environments_env_and_export() {
    require_e2e(&["kcp", "dex"]);
    let a = Env::new("e2e-ops-a");
    let b = Env::new("e2e-ops-b");
    // Two at once: brought up in parallel, each on its own ports.
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| common::e2e::up(&a, "oidc", "1700", &[]));
        let hb = s.spawn(|| common::e2e::up(&b, "kcp", "1800", &[]));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert!(
        stdout(&ra).contains("https://localhost:8143"),
        "{}",
        stdout(&ra)
    );
    assert!(
        stdout(&rb).contains("https://localhost:8243"),
        "{}",
        stdout(&rb)
    );
    let (ka, kb) = (kubeconfig(&a), kubeconfig(&b));
    kubectl_ok(&ka, &["ws", "create", "kept"]);
    kubectl_ok(&kb, &["ws", "create", "only-in-b"]);
    assert!(
        !kubectl(&ka, &["get", "workspace", "only-in-b"])
            .status
            .success()
    );
    kubectl_ok(&kb, &["get", "workspace", "only-in-b"]);

    // `list` shows both (each test environment has a home of its own: ask each).
    for (env, profile) in [(&a, "oidc"), (&b, "kcp")] {
        let out = assert_cmd::Command::cargo_bin("kcpenv")
            .unwrap()
            .env("KCPENV_HOME", env.home.path())
            .args(["list", "-o", "json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let row = v
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == env.name.as_str())
            .unwrap_or_else(|| panic!("{} not listed: {v}", env.name))
            .clone();
        assert_eq!(row["profile"], profile);
        assert_eq!(row["state"], "running");
        // The other environment's containers are listed too (state dir elsewhere).
        let other = if env.name == a.name { &b.name } else { &a.name };
        assert!(
            v.as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == other.as_str()),
            "{v}"
        );
    }

    // `env`: the exports a script needs, usable by a shell.
    let out = a.kcpenv(&["env"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let exports = stdout(&out);
    assert!(
        exports.contains("export KCPENV_OIDC_ISSUER='https://localhost:7256/dex'"),
        "{exports}"
    );
    let script = format!(
        "{exports}\n{} get workspace kept -o name",
        common::e2e::e2e_bin().join("kubectl").display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("workspace.tenancy.kcp.io/kept"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    // stop / start keeps the workspace (kcp's data and the same containers).
    let before = a.containers();
    let out = a.kcpenv(&["stop"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !kubectl(&ka, &["get", "workspaces"]).status.success(),
        "stopped"
    );
    let out = a.kcpenv(&["start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(a.containers(), before);
    kubectl_ok(&ka, &["get", "workspace", "kept"]);
    // b was untouched.
    kubectl_ok(&kb, &["get", "workspace", "only-in-b"]);

    // export logs: each component's log, no secret.
    let dir = a.home.path().join("diag");
    let out = a
        .kcpenv(&["export", "logs", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for c in ["holder", "kcp", "dex"] {
        assert!(dir.join(c).join("log.txt").is_file(), "{c} log");
        assert!(dir.join(c).join("inspect.json").is_file(), "{c} inspect");
    }
    let kcp_log = std::fs::read_to_string(dir.join("kcp/log.txt")).unwrap();
    assert!(kcp_log.lines().count() > 10, "kcp's log has its lines");
    assert!(dir.join("config/dex/etc/dex/config.yaml").is_file());
    assert!(dir.join("summary.json").is_file());
    let secrets: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(a.state_dir().join("secrets.yaml")).unwrap())
            .unwrap();
    let mut needles = vec![secrets["oidcClientSecret"].as_str().unwrap().to_owned()];
    for (_, u) in secrets["users"].as_mapping().unwrap() {
        needles.push(u["password"].as_str().unwrap().to_owned());
        needles.push(u["hash"].as_str().unwrap().to_owned());
    }
    assert!(needles.len() >= 7, "{needles:?}");
    for f in files(&dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for n in &needles {
            assert!(
                !text.contains(n.as_str()),
                "{} contains a secret",
                f.display()
            );
        }
        assert!(
            !text.contains("PRIVATE KEY-----\n"),
            "{} contains a private key",
            f.display()
        );
    }
    let dex_config = std::fs::read_to_string(dir.join("config/dex/etc/dex/config.yaml")).unwrap();
    assert!(dex_config.contains("<redacted>"), "{dex_config}");

    for env in [&a, &b] {
        let out = env.kcpenv(&["down", "--purge"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        env.assert_nothing_left();
    }
}
