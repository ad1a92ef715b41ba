//! Podman tier: kcpenv against Podman's Docker-compatible API (`podman system service`,
//! started by scripts/podman-engine.sh) through DOCKER_HOST, with the busybox test
//! image: up, idempotent up, status, logs, stop/start, image bundle save, down --purge.

mod common;

use common::{Env, stderr, stdout};

#[test]
fn lifecycle_on_podman() {
    let sock = common::require_podman();
    // SAFETY: this binary's only test, set before anything else runs; kcpenv and the
    // docker CLI the helpers use both follow DOCKER_HOST to Podman.
    unsafe { std::env::set_var("DOCKER_HOST", format!("unix://{sock}")) };

    let env = Env::new("podman-main");
    let profile = env.profile(
        "p.yaml",
        &common::httpd_profile(common::TEST_IMAGE, 18280, "hello from podman"),
    );
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::process::Command::new("curl")
        .args(["-fsS", "http://127.0.0.1:18280/index.html"])
        .output()
        .unwrap();
    assert_eq!(stdout(&page), "hello from podman");
    let status = env.kcpenv(&["status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));
    assert!(stdout(&status).contains(&sock), "{}", stdout(&status));

    let ids = env.containers();
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert!(
        stdout(&out).contains("already up to date"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.containers(), ids);

    let out = env.kcpenv(&["logs", "web"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    env.kcpenv(&["stop"]).assert().success();
    assert_eq!(
        env.kcpenv(&["status"]).output().unwrap().status.code(),
        Some(9)
    );
    env.kcpenv(&["start"]).assert().success();
    assert_eq!(env.containers(), ids, "the same containers, started again");

    let out = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_nothing_left();
}
