//! End-to-end on Podman: real kcp and api-syncagent run by kcpenv through Podman's
//! Docker-compatible API (scripts/podman-engine.sh), syncing to an existing cluster that
//! also runs under Podman, kind-style on its own network (`kubeconfig:PATH`). Covers
//! what differs from Docker there: Podman's container listing (no `publish` filter),
//! its network names, and kcp's and the agent's images under Podman.

mod common;

use common::e2e::{KindLike, crontab_round_trip, kubeconfig, kubeconfigs, require_e2e};
use common::{Env, docker, stderr};

#[test]
fn existing_cluster_on_podman() {
    require_e2e(&["kcp", "syncagent"]);
    let sock = common::require_podman();
    // Podman keeps its own images: copy the ones built for Docker (while DOCKER_HOST
    // still names Docker).
    for key in ["kcp", "syncagent"] {
        let image = common::e2e::pinned_image(key);
        let present = std::process::Command::new("podman")
            .args(["image", "exists", &image])
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("docker save {image} | podman load")])
                .output()
                .unwrap();
            assert!(out.status.success(), "copying {image}: {}", stderr(&out));
        }
    }
    // SAFETY: this binary's only test, set before any thread of its own starts; kcpenv
    // and the docker CLI the helpers use both follow DOCKER_HOST to Podman.
    unsafe { std::env::set_var("DOCKER_HOST", format!("unix://{sock}")) };

    let cluster = KindLike::start("kcpenv-e2e-podman-kindlike", 19843);
    let env = Env::new("e2e-podman");
    let source = format!("kubeconfig:{}#root", cluster.kubeconfig.display());
    common::e2e::up(&env, "syncagent", "2600", &["--service-cluster", &source]);
    // (Podman reports the network mode as "bridge" for any network: ask for the networks.)
    let networks = docker(&[
        "inspect",
        "-f",
        "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
        &format!("kcpenv-{}-holder", env.name),
    ]);
    assert_eq!(networks.trim(), cluster.name);
    let status = env.kcpenv(&["status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert!(
        common::stdout(&status).contains(&sock),
        "{}",
        common::stdout(&status)
    );

    let list = kubeconfigs(&env);
    crontab_round_trip(
        &kubeconfig(&list, "consumer"),
        &kubeconfig(&list, "service-cluster"),
        "nightly",
    );

    let out = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_nothing_left();
}
