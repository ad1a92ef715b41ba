//! End-to-end tier for the `oidc` profile: real kcp and Dex built from their Go modules,
//! real kubelogin (password grant) behind real kubectl. Checks what kcp itself concludes
//! about a Dex user: identity, groups (prefixed), and what RBAC lets them do.

mod common;

use std::path::{Path, PathBuf};

use common::e2e::{MIRROR, kubectl, kubectl_ok, require_e2e};
use common::{Env, stderr, stdout};

const OFFSET: &str = "1100";

fn up(env: &Env) {
    common::e2e::up(env, "oidc", OFFSET, &[]);
}

/// A kubeconfig that logs in as `email` with kubelogin's password grant.
fn user_kubeconfig(env: &Env, email: &str) -> PathBuf {
    let out = env
        .kcpenv(&["kubeconfig", "--user", email, "--non-interactive", "--path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    PathBuf::from(stdout(&out).trim())
}

fn whoami(kubeconfig: &Path) -> serde_json::Value {
    let out = kubectl_ok(kubeconfig, &["auth", "whoami", "-o", "json"]);
    serde_json::from_str(&out).unwrap()
}

#[test]
fn oidc_profile_end_to_end() {
    require_e2e(&["kcp", "dex"]);
    let env = Env::new("e2e-oidc");
    up(&env);

    // Without kubelogin on PATH, up says how to install it (and still succeeds).
    let noop = |path: &str| {
        env.kcpenv(&["up", "--profile", "oidc", "--port-offset", OFFSET])
            .env("KCPENV_IMAGE_MIRROR", MIRROR)
            .env("PATH", path)
            .output()
            .unwrap()
    };
    let out = noop("/usr/bin:/bin");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kubectl krew install oidc-login"),
        "{}",
        stderr(&out)
    );
    let with_bin = format!("{}:/usr/bin:/bin", common::e2e::e2e_bin().display());
    let out = noop(&with_bin);
    assert!(
        !stderr(&out).contains("kubelogin is not installed"),
        "{}",
        stderr(&out)
    );

    // kcp sees the Dex user by email, with the groups prefixed.
    let admin = user_kubeconfig(&env, "admin@kcpenv.local");
    let me = whoami(&admin);
    assert_eq!(
        me["status"]["userInfo"]["username"], "admin@kcpenv.local",
        "{me}"
    );
    let groups = me["status"]["userInfo"]["groups"].to_string();
    assert!(groups.contains("\"oidc:kcpenv-admins\""), "{groups}");

    // The admin group is bound to cluster-admin in root: the admin creates a workspace.
    kubectl_ok(&admin, &["ws", "create", "oidc-e2e"]);
    kubectl_ok(&admin, &["get", "workspaces", "oidc-e2e"]);

    // alice is a user without rights.
    let alice = user_kubeconfig(&env, "alice@example.com");
    let me = whoami(&alice);
    assert_eq!(me["status"]["userInfo"]["username"], "alice@example.com");
    assert!(
        !me["status"]["userInfo"]["groups"]
            .to_string()
            .contains("kcpenv-admins")
    );
    let denied = kubectl(&alice, &["create", "namespace", "alice-was-here"]);
    assert!(!denied.status.success());
    assert!(stderr(&denied).contains("Forbidden"), "{}", stderr(&denied));

    // `kcpenv token`: an ID token kcp accepts on its own (no client certificate around).
    let out = env
        .kcpenv(&["token", "--user", "alice@example.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();
    let bare = kubectl(
        Path::new("/dev/null"),
        &[
            "--server",
            &format!("https://localhost:{}/clusters/root", 6443 + 1100),
            "--certificate-authority",
            env.state_dir().join("pki/ca.crt").to_str().unwrap(),
            "--token",
            &token,
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(stdout(&bare), "alice@example.com", "{}", stderr(&bare));
    // A wrong password: non-zero, with Dex's reason.
    let out = env
        .kcpenv(&[
            "token",
            "--user",
            "alice@example.com",
            "--password",
            "wrong",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("login as alice@example.com failed"),
        "{}",
        stderr(&out)
    );

    // users add: Dex alone is recreated, the new user logs in at once.
    let id = |c: &str| {
        common::docker(&["inspect", "--format", "{{.Id}}", c])
            .trim()
            .to_owned()
    };
    let (kcp_before, dex_before) = (id("kcpenv-e2e-oidc-kcp"), id("kcpenv-e2e-oidc-dex"));
    let out = env
        .kcpenv(&[
            "users",
            "add",
            "carol@example.com",
            "--group",
            "devs",
            "--password",
            "carol-pw",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(id("kcpenv-e2e-oidc-kcp"), kcp_before, "kcp not recreated");
    assert_ne!(id("kcpenv-e2e-oidc-dex"), dex_before, "dex recreated");
    let carol = user_kubeconfig(&env, "carol@example.com");
    let me = whoami(&carol);
    assert_eq!(me["status"]["userInfo"]["username"], "carol@example.com");
    assert!(
        me["status"]["userInfo"]["groups"]
            .to_string()
            .contains("\"oidc:devs\""),
        "{me}"
    );
    let list = env
        .kcpenv(&["users", "-o", "json", "--show-passwords"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let carol_entry = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "carol@example.com")
        .cloned();
    assert_eq!(carol_entry.unwrap()["password"], "carol-pw");
    for bad in [
        &["users", "add", "carol@example.com"][..],
        &["users", "add", "not-an-email"],
    ] {
        let out = env.kcpenv(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    let out = env
        .kcpenv(&["users", "remove", "carol@example.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env
        .kcpenv(&[
            "token",
            "--user",
            "carol@example.com",
            "--password",
            "carol-pw",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(11),
        "removed user cannot log in: {}",
        stderr(&out)
    );

    // status shows the issuer and the users.
    let status = env.kcpenv(&["status", "-o", "json"]).output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["oidc"]["issuer"],
        format!("https://localhost:{}/dex", 5556 + 1100)
    );
    assert!(
        status["oidc"]["users"]
            .to_string()
            .contains("admin@kcpenv.local"),
        "{status}"
    );

    // Unknown user: a usage error naming the users there are.
    let out = env
        .kcpenv(&[
            "kubeconfig",
            "--user",
            "mallory@example.com",
            "--non-interactive",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("alice@example.com"),
        "{}",
        stderr(&out)
    );

    // The kubeconfig's own oidc context uses kubelogin with the environment's CA.
    let kc = std::fs::read_to_string(env.state_dir().join("kubeconfig")).unwrap();
    assert!(kc.contains("name: kcpenv-e2e-oidc-oidc"), "{kc}");
    assert!(kc.contains("interactiveMode: IfAvailable"), "{kc}");

    // down/up keeps users, passwords and the client secret: the same login still works.
    let secrets = std::fs::read(env.state_dir().join("secrets.yaml")).unwrap();
    let out = env.kcpenv(&["down"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    up(&env);
    assert_eq!(
        std::fs::read(env.state_dir().join("secrets.yaml")).unwrap(),
        secrets
    );
    assert_eq!(
        whoami(&admin)["status"]["userInfo"]["username"],
        "admin@kcpenv.local"
    );

    let out = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_nothing_left();
}
