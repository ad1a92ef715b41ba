//! End-to-end tier for the `oidc` profile through a real browser: kubectl runs the
//! environment's own `kcpenv-<env>-oidc` context (kubelogin, authorization-code flow),
//! headless Chromium completes the login on Dex's page, and kcp then answers as the Dex
//! user. Needs what scripts/browser-deps.sh installs (Chromium, chromedriver, selenium);
//! anything missing fails the test with that command, nothing is skipped.
//!
//! kubelogin is not told anything from outside the kubeconfig: it opens the URL with the
//! first of xdg-open / x-www-browser / www-browser on PATH, and the test puts a stub
//! `xdg-open` first that records the URL for tests/browser/login.py to drive.

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use common::e2e::{e2e_bin, require_e2e};
use common::{Env, stderr, stdout};

const NAME: &str = "e2e-browser";
const OFFSET: &str = "1200";
const ADMIN: &str = "admin@kcpenv.local";

fn venv_python() -> PathBuf {
    std::env::var_os("KCPENV_BROWSER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/kcpenv-e2e/browser-venv")
        })
        .join("bin/python")
}

fn login_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/login.py")
}

/// Fails (never skips) with the command that provides what is missing.
fn require_browser() {
    const FIX: &str = "run `bash scripts/browser-deps.sh`";
    for tool in ["chromium", "chromedriver"] {
        let ok = StdCommand::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "{tool} is missing (or does not run): {FIX}");
    }
    let ok = StdCommand::new(venv_python())
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "python selenium is missing from {}: {FIX}",
        venv_python().display()
    );
}

/// A child process killed when dropped (a failed assertion must not leave kubectl waiting).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// PATH with the stub browser opener first, then the e2e tools (kubectl and its plugins).
fn path_with(stub_dir: &Path) -> String {
    format!(
        "{}:{}:{}",
        stub_dir.display(),
        e2e_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn kubectl_cmd(kubeconfig: &Path, path: &str, args: &[&str]) -> StdCommand {
    let mut c = StdCommand::new(e2e_bin().join("kubectl"));
    c.env("KUBECONFIG", kubeconfig)
        .env("PATH", path)
        .env_remove("BROWSER")
        .args(args)
        .stdin(Stdio::null());
    c
}

fn password_of(env: &Env, email: &str) -> String {
    let out = env
        .kcpenv(&["users", "-o", "json", "--show-passwords"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .and_then(|u| u["password"].as_str())
        .unwrap_or_else(|| panic!("no password for {email} in {list}"))
        .to_owned()
}

#[test]
fn oidc_login_through_a_real_browser() {
    require_e2e(&["kcp", "dex"]);
    require_browser();
    let started = Instant::now();
    let env = Env::new(NAME);
    common::e2e::up(&env, "oidc", OFFSET, &[]);
    eprintln!("up: {:?}", started.elapsed());

    let out = env.kcpenv(&["kubeconfig", "--path"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kubeconfig = PathBuf::from(stdout(&out).trim());
    let context = format!("kcpenv-{NAME}-oidc");
    let cache = env.state_dir().join("oidc-cache");
    let cached = || std::fs::read_dir(&cache).map_or(0, |d| d.count());
    assert_eq!(cached(), 0, "a fresh environment has no cached token");

    // The browser opener kubelogin will find first: it only records the URL.
    let stub = tempfile::tempdir().unwrap();
    let url_file = stub.path().join("url");
    let opener = stub.path().join("xdg-open");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" > '{0}.tmp' && mv '{0}.tmp' '{0}'\n",
            url_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = path_with(stub.path());

    // kubectl waits in the exec plugin while kubelogin serves its redirect URI.
    let mut kubectl = Reaped(
        kubectl_cmd(
            &kubeconfig,
            &path,
            &["--context", &context, "get", "workspaces"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        if let Ok(s) = std::fs::read_to_string(&url_file) {
            break s.trim().to_owned();
        }
        if let Some(status) = kubectl.0.try_wait().unwrap() {
            let mut err = String::new();
            kubectl
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("kubectl ended ({status}) before kubelogin opened a browser: {err}");
        }
        assert!(
            Instant::now() < deadline,
            "kubelogin did not open a browser within 60s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("kubelogin opens {url}");
    assert!(url.starts_with("http://localhost:"), "{url}");

    // Chromium logs in on Dex's page; Dex redirects back to kubelogin.
    let login = StdCommand::new(venv_python())
        .arg(login_script())
        .args([&url, ADMIN, &password_of(&env, ADMIN)])
        .output()
        .unwrap();
    eprint!("{}", stderr(&login));
    assert!(login.status.success(), "browser login failed (see above)");

    // kubelogin got the code, exchanged it, and kubectl's request went through.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = kubectl.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl still waiting 60s after the browser login"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let (mut out, mut err) = (String::new(), String::new());
    kubectl
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    kubectl
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success(),
        "kubectl get workspaces failed: {out}{err}"
    );
    eprintln!("kubectl get workspaces:\n{out}{err}");
    assert!(
        cached() > 0,
        "kubelogin cached the token in {}",
        cache.display()
    );

    // From the cache now (no browser again): kcp sees the Dex admin, who may act as one.
    // (kubectl puts no flags before a plugin name: the oidc context's own kubeconfig.)
    std::fs::remove_file(&url_file).unwrap();
    let out = env
        .kcpenv(&["kubeconfig", "--path", "--context", "oidc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let oidc_kubeconfig = PathBuf::from(stdout(&out).trim());
    let run = |args: &[&str]| {
        let out = kubectl_cmd(&oidc_kubeconfig, &path, args).output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    };
    let me: serde_json::Value =
        serde_json::from_str(&run(&["auth", "whoami", "-o", "json"])).unwrap();
    assert_eq!(me["status"]["userInfo"]["username"], ADMIN, "{me}");
    assert!(
        me["status"]["userInfo"]["groups"]
            .to_string()
            .contains("\"oidc:kcpenv-admins\""),
        "{me}"
    );
    run(&["ws", "create", "browser-e2e"]);
    let names = run(&["get", "workspaces", "-o", "name"]);
    assert!(names.contains("browser-e2e"), "{names}");
    assert!(!url_file.exists(), "the cached token needs no browser");

    let out = env.kcpenv(&["down", "--purge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_nothing_left();
    eprintln!("total: {:?}", started.elapsed());
}
