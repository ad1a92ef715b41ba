//! End-to-end tier for the `oidc-fga` profile: real kcp, Dex and OpenFGA built from
//! their Go modules. Checks the `orgs` store kcpenv bootstraps, that `grant`, `revoke`
//! and `can` write and ask exactly the tuples rebac-authz-webhook v0.8.15 checks for
//! root:orgs (validated against what kcp serves), that a second `up` writes nothing,
//! and that the sqlite datastore keeps grants across down/up. The grant-extended model
//! passes the real OpenFGA CLI. (The webhook itself is not buildable here; see README.)

mod common;

use std::process::Output;

use common::e2e::{MIRROR, fga_bin, require_e2e};
use common::{Env, stderr, stdout};

const OFFSET: &str = "1300";
const SQLITE_OFFSET: &str = "1400";

fn run(env: &Env, args: &[&str]) -> Output {
    env.kcpenv(args).output().unwrap()
}

fn ok(env: &Env, args: &[&str]) -> String {
    let out = run(env, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "kcpenv {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn can(env: &Env, user: &str, verb: &str, resource: &str) -> i32 {
    run(env, &["can", user, "--verb", verb, "--resource", resource])
        .status
        .code()
        .unwrap()
}

/// The store's model count and tuples, straight from OpenFGA's API.
fn store_contents(env: &Env) -> (usize, String) {
    let status: serde_json::Value =
        serde_json::from_str(&ok(env, &["status", "-o", "json"])).unwrap();
    let api = status["openfga"]["api_url"].as_str().unwrap().to_owned();
    let store = status["openfga"]["stores"]["orgs"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = std::process::Command::new("curl")
        .args([
            "-fsS",
            &format!("{api}/stores/{store}/authorization-models"),
        ])
        .output()
        .expect("curl is needed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let count = v["authorization_models"].as_array().unwrap().len();
    (count, ok(env, &["fga", "tuples"]))
}

#[test]
fn grants_are_the_tuples_the_webhook_checks() {
    require_e2e(&["kcp", "dex", "openfga"]);
    let fga = fga_bin();
    let env = Env::new("e2e-fga");
    common::e2e::up(&env, "oidc-fga", OFFSET, &[]);

    // up bootstrapped the store, its model and base tuples, and root:orgs.
    let status = ok(&env, &["status"]);
    assert!(
        status.contains("openfga: API http://localhost:9380"),
        "{status}"
    );
    assert!(
        status.contains("playground http://localhost:4300/playground"),
        "{status}"
    );
    let tuples = ok(&env, &["fga", "tuples"]);
    assert!(
        tuples.contains("role:authenticated#assignee member tenancy_kcp_io_workspace:orgs"),
        "{tuples}"
    );

    // The Playground is served on the host, pointed at the published HTTP API.
    let page = std::process::Command::new("curl")
        .args(["-fsS", "http://localhost:4300/playground"])
        .output()
        .unwrap();
    assert!(
        stdout(&page).contains("fga_api_host=127.0.0.1%3a9380"),
        "{}",
        stdout(&page)
    );

    let alice = "alice@example.com";
    assert_eq!(
        can(&env, alice, "list", "configmaps"),
        12,
        "denied before a grant"
    );
    let out = ok(
        &env,
        &["grant", alice, "--verb", "list", "--resource", "configmaps"],
    );
    assert!(
        out.contains("user:alice@example.com list_core_configmaps tenancy_kcp_io_workspace:orgs"),
        "{out}"
    );
    assert_eq!(
        can(&env, alice, "list", "configmaps"),
        0,
        "allowed after the grant"
    );
    assert_eq!(can(&env, "bob@example.com", "list", "configmaps"), 12);
    // A get on a named object is the same question in root:orgs (the orgs handler
    // ignores names), with its own relation.
    assert_eq!(can(&env, alice, "get", "configmaps"), 12);
    ok(
        &env,
        &["grant", alice, "--verb", "get", "--resource", "configmaps"],
    );
    assert_eq!(can(&env, alice, "get", "configmaps"), 0);
    // An API group, named as the webhook names it.
    let out = ok(
        &env,
        &[
            "grant",
            alice,
            "--verb",
            "get",
            "--resource",
            "workspaces",
            "--group",
            "tenancy.kcp.io",
            "-o",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["relation"], "get_tenancy_kcp_io_workspaces");

    // The model grant extended passes the real OpenFGA CLI, with an allow/deny table.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.json"), ok(&env, &["fga", "model"])).unwrap();
    std::fs::write(
        dir.path().join("store.fga.yaml"),
        "model_file: model.json\ntuples:\n  - {user: 'user:alice@example.com', relation: list_core_configmaps, object: 'tenancy_kcp_io_workspace:orgs'}\ntests:\n  - name: grants\n    check:\n      - user: user:alice@example.com\n        object: tenancy_kcp_io_workspace:orgs\n        assertions: {list_core_configmaps: true, get_core_configmaps: false, member: false}\n      - user: user:bob@example.com\n        object: tenancy_kcp_io_workspace:orgs\n        assertions: {list_core_configmaps: false}\n",
    )
    .unwrap();
    for args in [
        vec!["model", "validate", "--file", "model.json"],
        vec!["model", "test", "--tests", "store.fga.yaml"],
    ] {
        let out = std::process::Command::new(&fga)
            .current_dir(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "fga {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }

    // revoke: denied again.
    ok(
        &env,
        &[
            "revoke",
            alice,
            "--verb",
            "list",
            "--resource",
            "configmaps",
        ],
    );
    assert_eq!(
        can(&env, alice, "list", "configmaps"),
        12,
        "denied after revoke"
    );
    assert_eq!(
        can(&env, alice, "get", "configmaps"),
        0,
        "the other grant stays"
    );

    // Bad input: a resource, verb, group or workspace kcp does not serve; an OpenFGA
    // error in words (a relation the model lacks). Each: exit code, then the message.
    let grant = |rest: &[&'static str]| [&["grant", alice][..], rest].concat();
    for (args, code, says) in [
        (
            grant(&["--verb", "list", "--resource", "configmap"]),
            2,
            "did you mean: configmaps?",
        ),
        (
            grant(&["--verb", "frob", "--resource", "configmaps"]),
            2,
            "configmaps supports: create, delete",
        ),
        (
            grant(&[
                "--verb",
                "get",
                "--resource",
                "widgets",
                "--group",
                "example.com",
            ]),
            2,
            "API group \"example.com\"",
        ),
        (
            grant(&[
                "--verb",
                "get",
                "--resource",
                "configmaps",
                "--workspace",
                "root:nope",
            ]),
            2,
            "kcpenv maps grants in root:orgs only",
        ),
        (
            vec![
                "fga",
                "write",
                "user:x",
                "no_such_relation",
                "tenancy_kcp_io_workspace:orgs",
            ],
            2,
            "OpenFGA error while writing tuples",
        ),
        // A user Dex does not know: warned, written anyway.
        (
            vec![
                "grant",
                "zed@example.com",
                "--verb",
                "list",
                "--resource",
                "secrets",
            ],
            0,
            "is not a Dex user",
        ),
    ] {
        let out = run(&env, &args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }

    // fga write/delete round trip.
    ok(
        &env,
        &[
            "fga",
            "write",
            "user:carol@example.com",
            "assignee",
            "role:authenticated",
        ],
    );
    assert!(
        ok(&env, &["fga", "tuples"]).contains("user:carol@example.com assignee role:authenticated")
    );
    ok(
        &env,
        &[
            "fga",
            "delete",
            "user:carol@example.com",
            "assignee",
            "role:authenticated",
        ],
    );
    assert!(!ok(&env, &["fga", "tuples"]).contains("carol"));

    // A second up writes no model and no tuple.
    let before = store_contents(&env);
    let out = common::e2e::up(&env, "oidc-fga", OFFSET, &[]);
    assert!(
        stdout(&out).contains("already up to date"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("wrote"), "{}", stderr(&out));
    assert_eq!(store_contents(&env), before);

    ok(&env, &["down", "--purge"]);
    env.assert_nothing_left();
}

#[test]
fn sqlite_datastore_keeps_tuples_across_down_and_up() {
    require_e2e(&["openfga"]);
    let env = Env::new("e2e-fga-sqlite");
    let profile = env.profile(
        "fga-sqlite.yaml",
        "holder:\n  image: kcp\n  shell: /busybox/sh\nopenfga:\n  datastore: sqlite\n  playground: false\n",
    );
    let up = || {
        let out = env
            .kcpenv(&["up", "--profile", &profile, "--port-offset", SQLITE_OFFSET])
            .env("KCPENV_IMAGE_MIRROR", MIRROR)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "up: {}", stderr(&out));
        out
    };
    let out = up();
    assert!(stderr(&out).contains("init: migrate"), "{}", stderr(&out));
    ok(
        &env,
        &[
            "fga",
            "write",
            "user:alice@example.com",
            "assignee",
            "role:authenticated",
        ],
    );
    let before = store_contents(&env);

    ok(&env, &["down"]);
    assert_eq!(env.containers(), vec![], "down removes the containers");
    let out = up();
    assert!(
        !stderr(&out).contains("created OpenFGA store"),
        "{}",
        stderr(&out)
    );
    let after = store_contents(&env);
    assert_eq!(after, before, "same models and tuples after down/up");
    assert!(
        after
            .1
            .contains("user:alice@example.com assignee role:authenticated")
    );

    ok(&env, &["down", "--purge"]);
    env.assert_nothing_left();
}
