//! Docker tier: the real binary against a real engine, with the small busybox test image
//! standing in for components. Covers the lifecycle (create, idempotency, change, down)
//! and every fault a user can cause, each with its message, exit code, and nothing left.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Env, TEST_IMAGE, docker, stderr, stdout};

/// A web server (ready when it serves its page) and a sidecar that depends on it.
fn web_profile(port: u16, greeting: &str) -> String {
    format!(
        r#"
description: lifecycle test
holder: {{ image: {TEST_IMAGE}, shell: /busybox/sh }}
containers:
  web:
    image: {TEST_IMAGE}
    command: ["/busybox/httpd", "-f", "-p", "{{{{ ports.http }}}}", "-h", "/www"]
    ports: {{ http: {port} }}
    files:
      - path: /www/index.html
        content: "{greeting} from {{{{ env }}}}"
    volumes: [{{ name: data, path: /data }}]
    readiness: {{ http: {{ port: http, path: /index.html }} }}
  side:
    image: {TEST_IMAGE}
    command: ["/busybox/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    dependsOn: [web]
"#
    )
}

/// A profile with the test image as holder and `containers` (YAML under `containers:`).
fn with_holder(containers: &str) -> String {
    format!("holder: {{ image: {TEST_IMAGE}, shell: /busybox/sh }}\ncontainers:\n{containers}")
}

fn http_get(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn up_is_idempotent_changes_recreate_alone_and_down_removes_everything() {
    let env = Env::new("lc-main");
    let profile = env.profile("p.yaml", &web_profile(18110, "hello"));

    let out = env
        .kcpenv(&["up", "-p", &profile, "-o", "plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("is ready"), "{}", stdout(&out));
    assert!(http_get(18110).contains("hello from lc-main"));
    let first = env.containers();
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "kcpenv-lc-main-holder",
            "kcpenv-lc-main-side",
            "kcpenv-lc-main-web"
        ]
    );
    assert_eq!(env.volumes(), ["kcpenv-lc-main-web-data"]);

    // Labels say what each object is.
    let labels = docker(&[
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        "kcpenv-lc-main-web",
    ]);
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["dev.kcpenv.env"], "lc-main");
    assert_eq!(labels["dev.kcpenv.component"], "web");
    assert_eq!(labels["dev.kcpenv.profile"], "p");
    assert_eq!(labels["dev.kcpenv.config-hash"].as_str().unwrap().len(), 16);
    // Ports bind loopback only.
    let ports = docker(&["port", "kcpenv-lc-main-holder"]);
    assert_eq!(ports.trim(), "18110/tcp -> 127.0.0.1:18110");

    // Second up: nothing recreated.
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("already up to date"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.containers(), first);

    let status = env.kcpenv(&["status", "-o", "json"]).output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["ready"], true);
    assert_eq!(doc["components"].as_array().unwrap().len(), 3);

    // A changed component is recreated alone.
    let profile = env.profile("p.yaml", &web_profile(18110, "changed"));
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = env.containers();
    assert_eq!(after[0], first[0], "holder kept");
    assert_eq!(after[1], first[1], "side kept");
    assert_ne!(after[2].1, first[2].1, "web recreated");
    assert!(http_get(18110).contains("changed from lc-main"));

    // A stopped component makes status exit 9; up starts it again (same container).
    docker(&["stop", "-t", "0", "kcpenv-lc-main-side"]);
    let status = env.kcpenv(&["status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(9), "{}", stdout(&status));
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(env.containers(), after);

    // logs reaches the component's output.
    let logs = env
        .kcpenv(&["logs", "web", "--tail", "5"])
        .output()
        .unwrap();
    assert_eq!(logs.status.code(), Some(0), "{}", stderr(&logs));
    let logs = env.kcpenv(&["logs", "nope"]).output().unwrap();
    assert_eq!(logs.status.code(), Some(2));
    assert!(
        stderr(&logs).contains("unknown component \"nope\""),
        "{}",
        stderr(&logs)
    );

    // down removes the containers but keeps the data volumes and the state directory:
    // the next up finds the data again.
    docker(&[
        "exec",
        "kcpenv-lc-main-web",
        "/busybox/sh",
        "-c",
        "echo kept > /data/marker",
    ]);
    let out = env.kcpenv(&["down"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(env.containers(), vec![]);
    assert_eq!(env.volumes(), ["kcpenv-lc-main-web-data"]);
    assert!(env.state_dir().exists(), "state kept without --purge");
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        docker(&["exec", "kcpenv-lc-main-web", "cat", "/data/marker"]).trim(),
        "kept"
    );

    let out = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_nothing_left();
    assert!(!env.state_dir().exists());
    let out = env.kcpenv(&["down"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("does not exist"), "{}", stdout(&out));
    let status = env.kcpenv(&["status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(10));
}

#[test]
fn port_offset_shifts_published_ports() {
    let env = Env::new("lc-offset");
    let profile = env.profile("p.yaml", &web_profile(18120, "hi"));
    let out = env
        .kcpenv(&["up", "-p", &profile, "--port-offset", "7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(http_get(18127).contains("hi from lc-offset"));
    assert!(
        stdout(&out).contains("http://localhost:18127"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn taken_port_fails_before_anything_is_created() {
    let env = Env::new("lc-port");
    let _squatter = std::net::TcpListener::bind("127.0.0.1:18130").unwrap();
    let profile = env.profile("p.yaml", &web_profile(18130, "x"));
    // A given offset is kept: the clash is an error (without one, a new environment
    // would move to a free offset: tests/ops.rs).
    let out = env
        .kcpenv(&["up", "-p", &profile, "--port-offset", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("127.0.0.1:18130 (web http) is already in use"),
        "{err}"
    );
    assert!(err.contains("--port-offset"), "{err}");
    env.assert_nothing_left();
}

#[test]
fn crashing_component_is_named_with_its_log_and_rolled_back() {
    let env = Env::new("lc-crash");
    let profile = env.profile(
        "p.yaml",
        &with_holder(&format!(
            r#"
  boom:
    image: {TEST_IMAGE}
    command: ["/busybox/sh", "-c", "echo boom-marker-line; exit 3"]
    ports: {{ http: 18140 }}
    volumes: [{{ name: data, path: /data }}]
    readiness: {{ tcp: {{ port: http }} }}
"#
        )),
    );
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("component boom exited with code 3"), "{err}");
    assert!(err.contains("boom-marker-line"), "log tail shown: {err}");
    env.assert_nothing_left();
    let failures: Vec<_> = std::fs::read_dir(env.state_dir().join("failures"))
        .unwrap()
        .collect();
    assert_eq!(failures.len(), 1);
    let dir = failures[0].as_ref().unwrap().path();
    assert!(
        std::fs::read_to_string(dir.join("log.txt"))
            .unwrap()
            .contains("boom-marker-line")
    );
    assert!(
        std::fs::read_to_string(dir.join("inspect.json"))
            .unwrap()
            .contains("kcpenv-lc-crash-boom")
    );
}

#[test]
fn keep_on_failure_keeps_the_containers() {
    let env = Env::new("lc-keep");
    let profile = env.profile(
        "p.yaml",
        &with_holder(&format!(
            r#"
  boom:
    image: {TEST_IMAGE}
    command: ["/busybox/sh", "-c", "exit 1"]
    # A probe that never passes: without one, a component counts as ready once it
    # runs, and this one could be seen running before it exits.
    ports: {{ http: 18146 }}
    readiness: {{ tcp: {{ port: http }} }}
"#
        )),
    );
    let out = env
        .kcpenv(&["up", "-p", &profile, "--keep-on-failure"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(env.containers().len(), 2);
    let out = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    env.assert_nothing_left();
}

#[test]
fn never_ready_component_times_out() {
    let env = Env::new("lc-slow");
    let profile = env.profile(
        "p.yaml",
        &with_holder(&format!(
            r#"
  mute:
    image: {TEST_IMAGE}
    command: ["/busybox/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    ports: {{ http: 18150 }}
    readiness: {{ http: {{ port: http }} }}
"#
        )),
    );
    let start = Instant::now();
    let out = env
        .kcpenv(&["up", "-p", &profile, "--wait-timeout", "2s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(
        stderr(&out).contains("component mute was not ready within the wait timeout"),
        "{}",
        stderr(&out)
    );
    env.assert_nothing_left();
}

#[test]
fn missing_image_is_named() {
    let env = Env::new("lc-image");
    let profile = env.profile("p.yaml", &web_profile(18160, "x"));
    let out = env
        .kcpenv(&[
            "up",
            "-p",
            &profile,
            "--image",
            "web=kcpenv.local/does-not-exist:nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("image kcpenv.local/does-not-exist:nope is not present"),
        "{}",
        stderr(&out)
    );
    env.assert_nothing_left();
}

#[test]
fn unreachable_engine_says_what_was_tried() {
    let env = Env::new("lc-nodocker");
    let profile = env.profile("p.yaml", &web_profile(18170, "x"));
    let out = env
        .kcpenv(&["up", "-p", &profile])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot reach the Docker engine"), "{err}");
    assert!(
        err.contains("unix:///nonexistent/docker.sock (DOCKER_HOST)"),
        "{err}"
    );
}

/// A component that takes ~3 s to become ready, to catch `up` in the middle.
fn slow_profile(env: &Env, port: u16) -> String {
    env.profile(
        "slow.yaml",
        &with_holder(&format!(
            r#"
  slow:
    image: {TEST_IMAGE}
    command: ["/busybox/sh", "-c", "sleep 3; exec /busybox/httpd -f -p {{{{ ports.http }}}} -h /"]
    ports: {{ http: {port} }}
    volumes: [{{ name: data, path: /data }}]
    readiness: {{ tcp: {{ port: http }} }}
"#
        )),
    )
}

#[test]
fn sigint_mid_up_exits_130_and_removes_what_it_created() {
    let env = Env::new("lc-sigint");
    let profile = slow_profile(&env, 18180);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kcpenv"))
        .env("KCPENV_HOME", env.home.path())
        .args(["up", "-p", &profile, "--name", &env.name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.containers().len() < 2 {
        assert!(Instant::now() < deadline, "up never created its containers");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    env.assert_nothing_left();
}

#[test]
fn concurrent_up_waits_for_the_lock_or_fails_clearly() {
    let env = Env::new("lc-lock");
    let profile = slow_profile(&env, 18190);
    let first = std::process::Command::new(assert_cmd::cargo::cargo_bin("kcpenv"))
        .env("KCPENV_HOME", env.home.path())
        .args(["up", "-p", &profile, "--name", &env.name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.containers().is_empty() {
        assert!(Instant::now() < deadline, "first up never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = env
        .kcpenv(&["up", "-p", &profile, "--lock-timeout", "500ms"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(8), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another kcpenv command is working on environment \"lc-lock\"")
    );
    // Without a short timeout the second one waits, then finds everything up to date.
    let third = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert!(
        stderr(&third).contains("waiting for it to finish"),
        "{}",
        stderr(&third)
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        stdout(&third).contains("already up to date"),
        "{}",
        stdout(&third)
    );
}

/// `init` runs to completion before the container is created (here it prepares the
/// volume the server then serves); a failing init fails `up` naming it, and is removed.
#[test]
fn init_runs_first_and_a_failing_init_fails_up() {
    let env = Env::new("lc-init");
    let web = |init: &str| {
        with_holder(&format!(
            r#"  web:
    image: {TEST_IMAGE}
    entrypoint: ["/busybox/sh", "-c"]
    init: ["{init}"]
    command: ["exec /busybox/httpd -f -p {{{{ ports.http }}}} -h /www"]
    ports: {{ http: 18200 }}
    volumes: [{{ name: www, path: /www }}]
    readiness: {{ http: {{ port: http, path: /index.html }} }}
"#
        ))
    };
    let profile = env.profile("p.yaml", &web("echo prepared by init > /www/index.html"));
    let out = env
        .kcpenv(&["up", "-p", &profile, "-o", "plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("web: init: echo prepared"),
        "{}",
        stderr(&out)
    );
    assert!(http_get(18200).contains("prepared by init"));
    let names: Vec<String> = env.containers().into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| n.ends_with("-init")), "{names:?}");
    env.kcpenv(&["down", "--purge"]).assert().success();

    let profile = env.profile("p.yaml", &web("echo migration failed >&2; exit 3"));
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("exited with code 3"), "{err}");
    assert!(
        err.contains("migration failed"),
        "the init's log tail: {err}"
    );
    assert_eq!(env.containers(), vec![], "rolled back");
}
