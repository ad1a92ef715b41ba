//! Docker tier for the operations commands, with the small busybox test image: image
//! bundles (save → remove → load → up), a new environment moving out of the way of a
//! taken port, `doctor`, `list`, `stop`/`start`, and `completions`.

mod common;

use std::process::Command as StdCommand;

use common::{Env, TEST_IMAGE, docker, stderr, stdout};

/// kcpenv with the environment's home but no --name (commands about no one environment).
fn global(env: &Env, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("kcpenv")
        .unwrap()
        .env("KCPENV_HOME", env.home.path())
        .env_remove("KCPENV_IMAGE_MIRROR")
        .args(args)
        .output()
        .unwrap()
}

fn web(image: &str, port: u16) -> String {
    common::httpd_profile(image, port, "hi")
}

#[test]
fn bundle_save_remove_load_then_up_needs_no_pull() {
    let env = Env::new("ops-bundle");
    // A tag of its own, so removing it does not disturb other tests.
    let image = "kcpenv.local/busybox:bundle-test";
    docker(&["tag", TEST_IMAGE, image]);
    let profile = env.profile("p.yaml", &web(image, 18220));
    let bundle = env.home.path().join("bundle.tar");

    let out = global(&env, &["images", "list", "-p", &profile, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list[0]["image"], image);
    assert_eq!(list[0]["present"], true);
    assert_eq!(list[0]["components"], serde_json::json!(["holder", "web"]));

    let out = global(
        &env,
        &[
            "images",
            "save",
            "-p",
            &profile,
            "-o",
            bundle.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("saved 1 image(s)"),
        "{}",
        stdout(&out)
    );

    docker(&["rmi", image]);
    let out = global(&env, &["images", "list", "-p", &profile]);
    assert!(stdout(&out).contains("MISSING"), "{}", stdout(&out));
    // Without the image, up names it (no registry here, so nothing could be pulled).
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    env.assert_nothing_left();

    let out = global(
        &env,
        &["images", "load", bundle.to_str().unwrap(), "-p", &profile],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("every image of profile"),
        "{}",
        stdout(&out)
    );
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("pull"), "{}", stderr(&out));

    // A bundle that lacks an image of another profile says which.
    let other = env.profile(
        "other.yaml",
        &web("kcpenv.local/busybox:not-in-bundle", 18221),
    );
    let out = global(
        &env,
        &["images", "load", bundle.to_str().unwrap(), "-p", &other],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kcpenv.local/busybox:not-in-bundle (holder, web)"),
        "{}",
        stderr(&out)
    );
    // A file that is not an image archive.
    let junk = env.home.path().join("junk.tar");
    std::fs::write(&junk, "not a tar").unwrap();
    let out = global(&env, &["images", "load", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not an image archive"),
        "{}",
        stderr(&out)
    );

    env.kcpenv(&["down", "--purge"]).assert().success();
    let _ = StdCommand::new("docker").args(["rmi", image]).output();
}

#[test]
fn new_environment_moves_off_a_taken_port_and_keeps_its_offset() {
    let env = Env::new("ops-offset");
    let _squatter = std::net::TcpListener::bind("127.0.0.1:18230").unwrap();
    let profile = env.profile("p.yaml", &web(TEST_IMAGE, 18230));
    let out = env
        .kcpenv(&["up", "-p", &profile, "-o", "plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("using --port-offset 100"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("http://localhost:18330"),
        "{}",
        stdout(&out)
    );
    // The next up (no flag) keeps the environment's offset.
    let out = env.kcpenv(&["up", "-p", &profile]).output().unwrap();
    assert!(
        stdout(&out).contains("already up to date"),
        "{}",
        stdout(&out)
    );
    // Fixed by the user: the clash is an error naming the port.
    let out = env
        .kcpenv(&["up", "-p", &profile, "--port-offset", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("127.0.0.1:18230"), "{}", stderr(&out));
    env.kcpenv(&["down", "--purge"]).assert().success();
}

#[test]
fn doctor_reports_a_taken_port_and_a_missing_image() {
    let env = Env::new("ops-doctor");
    let _squatter = std::net::TcpListener::bind("127.0.0.1:18240").unwrap();
    let profile = env.profile(
        "p.yaml",
        &format!(
            "{}  side:\n    image: kcpenv.local/busybox:missing\n",
            web(TEST_IMAGE, 18240)
        ),
    );
    let out = env.kcpenv(&["doctor", "-p", &profile]).output().unwrap();
    assert_eq!(out.status.code(), Some(13), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL port       127.0.0.1:18240 (web http) is already in use"),
        "{text}"
    );
    assert!(
        text.contains("FAIL image      kcpenv.local/busybox:missing (side) is missing"),
        "{text}"
    );
    assert!(text.contains("ok   docker"), "{text}");
    assert!(text.contains("fix: "), "{text}");
    // Nothing blocking: exit 0.
    let fine = env.profile("fine.yaml", &web(TEST_IMAGE, 18241));
    let out = env
        .kcpenv(&["doctor", "-p", &fine, "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ok"], true);
}

#[test]
fn stop_start_and_list() {
    let env = Env::new("ops-stop");
    let profile = env.profile("p.yaml", &web(TEST_IMAGE, 18250));
    env.kcpenv(&["up", "-p", &profile]).assert().success();
    let before = env.containers();

    let list = |env: &Env| -> serde_json::Value {
        let out = global(env, &["list", "-o", "json"]);
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let row = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "ops-stop")
            .cloned()
            .unwrap()
    };
    assert_eq!(row(&list(&env))["state"], "running");

    let out = env.kcpenv(&["stop"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(row(&list(&env))["state"], "stopped");
    assert_eq!(
        env.kcpenv(&["status"]).output().unwrap().status.code(),
        Some(9)
    );

    // A port taken while stopped: start says which.
    let squatter = std::net::TcpListener::bind("127.0.0.1:18250").unwrap();
    let out = env.kcpenv(&["start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    drop(squatter);

    let out = env.kcpenv(&["start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        env.containers(),
        before,
        "the same containers, started again"
    );
    assert_eq!(
        env.kcpenv(&["status"]).output().unwrap().status.code(),
        Some(0)
    );

    env.kcpenv(&["down"]).assert().success();
    let out = env.kcpenv(&["start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("was taken down"), "{}", stderr(&out));
    assert_eq!(row(&list(&env))["state"], "down");
    env.kcpenv(&["down", "--purge"]).assert().success();
    let out = env.kcpenv(&["start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_kcpenv()"),
        ("zsh", "#compdef kcpenv"),
        ("fish", "complete -c kcpenv"),
    ] {
        let out = assert_cmd::Command::cargo_bin("kcpenv")
            .unwrap()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stdout(&out).contains(marker),
            "{shell}: {}",
            &stdout(&out)[..200.min(stdout(&out).len())]
        );
        assert!(
            stdout(&out).contains("grant"),
            "{shell} completes subcommands"
        );
    }
}
