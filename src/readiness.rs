//! Readiness probes, run from the host against the ports the holder publishes on
//! 127.0.0.1 (or inside the container for `exec`). Waiting polls every 100 ms and checks
//! the container is still alive, so a crash is reported at once rather than at the timeout.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::plan::Probe;
use crate::runtime::{ContainerState, Runtime};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Prober {
    http: reqwest::Client,
    https: reqwest::Client,
}

impl Prober {
    /// `ca_pem` is the environment's CA: https probes trust it and nothing else.
    pub fn new(ca_pem: &str) -> Result<Prober> {
        let build = |b: reqwest::ClientBuilder| {
            b.timeout(PROBE_TIMEOUT)
                .no_proxy()
                .build()
                .map_err(|e| Error::Internal(format!("building the probe client: {e}")))
        };
        let mut https = reqwest::Client::builder().tls_built_in_root_certs(false);
        if !ca_pem.is_empty() {
            let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())
                .map_err(|e| Error::Internal(format!("reading the environment CA: {e}")))?;
            https = https.add_root_certificate(ca);
        }
        Ok(Prober {
            http: build(reqwest::Client::builder())?,
            https: build(https)?,
        })
    }

    /// One probe; `Err` says why it is not ready yet.
    pub async fn check<R: Runtime>(
        &self,
        rt: &R,
        container: &str,
        probe: &Probe,
    ) -> std::result::Result<(), String> {
        match probe {
            Probe::Http { port, path } => {
                get(&self.http, &format!("http://127.0.0.1:{port}{path}")).await
            }
            // `localhost` is in the serving certificate; reqwest tries 127.0.0.1 when ::1 refuses.
            Probe::Https { port, path } => {
                get(&self.https, &format!("https://localhost:{port}{path}")).await
            }
            Probe::Tcp { port } => tcp(*port).await,
            Probe::Exec { command } => match rt.exec(container, command).await {
                Ok(0) => Ok(()),
                Ok(code) => Err(format!("{:?} exited with {code}", command.join(" "))),
                Err(e) => Err(e.to_string()),
            },
        }
    }

    /// Polls until ready, the container stops, or `deadline`. `Err` carries the reason
    /// (the caller adds the log tail).
    pub async fn wait<R: Runtime>(
        &self,
        rt: &R,
        container: &str,
        probe: Option<&Probe>,
        deadline: Instant,
    ) -> std::result::Result<(), String> {
        // Every 100 ms: readiness is noticed within ~0.1 s of the program's own; each
        // poll is one inspect and one local request.
        let delay = Duration::from_millis(100);
        loop {
            // Liveness on every poll (one cheap inspect): a crash is reported at once.
            let live = rt.liveness(container).await.map_err(|e| e.to_string())?;
            let last = match live.state {
                ContainerState::Running => match probe {
                    // No probe: running is ready.
                    None => return Ok(()),
                    Some(p) => match self.check(rt, container, p).await {
                        Ok(()) => return Ok(()),
                        Err(why) => why,
                    },
                },
                ContainerState::Exited | ContainerState::Dead => {
                    return Err(match (live.oom_killed, live.exit_code) {
                        (true, _) => {
                            "was killed for using too much memory (OOM) before it was ready".into()
                        }
                        (_, Some(code)) => format!("exited with code {code} before it was ready"),
                        _ => "stopped before it was ready".into(),
                    });
                }
                other => format!("container is {other}"),
            };
            if Instant::now() + delay >= deadline {
                return Err(format!(
                    "was not ready within the wait timeout (last probe: {last})"
                ));
            }
            tokio::time::sleep(delay).await;
        }
    }
}

async fn get(client: &reqwest::Client, url: &str) -> std::result::Result<(), String> {
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("GET {url}: HTTP {}", r.status())),
        Err(e) => Err(format!("GET {url}: {}", error_chain(&e))),
    }
}

/// A connection through Docker's userland proxy succeeds even when nothing listens
/// behind it; the proxy then closes at once. A real listener keeps the connection open,
/// so "no EOF within 100 ms" counts as ready (the proxy's close arrives within a few
/// milliseconds on the same host; this wait is most of `status`'s time with a TCP probe).
async fn tcp(port: u16) -> std::result::Result<(), String> {
    let mut s = tokio::time::timeout(
        PROBE_TIMEOUT,
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .map_err(|_| format!("connect to port {port} timed out"))?
    .map_err(|e| format!("connect to port {port}: {e}"))?;
    let mut buf = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
        Err(_) | Ok(Ok(1..)) => Ok(()),
        Ok(Ok(_)) => Err(format!("port {port} closed the connection")),
        Ok(Err(e)) => Err(format!("port {port}: {e}")),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
