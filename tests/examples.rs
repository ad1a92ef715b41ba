//! The workshop bootstrap in examples/ runs as written, against the real programs, with
//! the kcpenv binary under test first on PATH.

mod common;

use std::process::Command;

use common::e2e::{MIRROR, e2e_bin, require_e2e};
use common::{Env, stderr, stdout};

#[test]
fn workshop_script_runs_the_first_exercise() {
    require_e2e(&["kcp", "dex", "openfga", "syncagent"]);
    let env = Env::new("e2e-workshop");
    let kcpenv = assert_cmd::cargo::cargo_bin("kcpenv");
    let path = format!(
        "{}:{}:{}",
        kcpenv.parent().unwrap().display(),
        e2e_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/workshop.sh"))
        .env("PATH", path)
        .env("KCPENV_HOME", env.home.path())
        .env("KCPENV_NAME", &env.name)
        .env("KCPENV_IMAGE_MIRROR", MIRROR)
        .env("WORKSHOP_PORT_OFFSET", "1600")
        .output()
        .unwrap();
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "workshop.sh failed:\n{o}\n{e}");
    assert!(o.contains("hello-workshop"), "{o}");
    assert!(
        o.contains("granted: user:alice@example.com list_core_configmaps"),
        "{o}"
    );
    assert!(o.contains("allowed: user:alice@example.com"), "{o}");
    let down = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(down.status.code(), Some(0), "{}", stderr(&down));
    env.assert_nothing_left();
}
