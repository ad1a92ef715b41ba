//! `kcpenv token --user EMAIL`: a fresh ID token from Dex's password grant, for scripts
//! (`kubectl --token "$(kcpenv token --user alice@example.com)"`). Talks to Dex only.

use crate::cli::TokenArgs;
use crate::error::{Error, Result};
use crate::secrets::Secrets;
use crate::state::StateDir;

use super::{env_name, require_oidc};

pub async fn run(args: TokenArgs) -> Result<i32> {
    let env = env_name(&args.env)?;
    let state = StateDir::for_env(&env)?;
    let (record, oidc) = require_oidc(&env, &state)?;
    let secrets = Secrets::load(&state.secrets())?;
    let password = match (&args.password, secrets.users.get(&args.user)) {
        (Some(p), _) => p.clone(),
        (None, Some(u)) => u.password.clone(),
        (None, None) => return Err(super::users::unknown_user(&env, &args.user, &record)),
    };
    let ca = std::fs::read(state.pki().join("ca.crt"))
        .map_err(Error::io("reading the environment CA"))?;
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&ca)
                .map_err(|e| Error::Internal(format!("reading the CA: {e}")))?,
        )
        .no_proxy()
        .build()
        .map_err(|e| Error::Internal(format!("building the HTTP client: {e}")))?;
    let url = format!("{}/token", oidc.issuer);
    let resp = client
        .post(&url)
        .basic_auth(&oidc.client_id, Some(&secrets.oidc_client_secret))
        .form(&[
            ("grant_type", "password"),
            ("username", args.user.as_str()),
            ("password", password.as_str()),
            ("scope", "openid email groups"),
        ])
        .send()
        .await
        .map_err(|e| Error::Usage {
            message: format!("cannot reach Dex at {url}: {e}"),
            hint: "is the environment up? `kcpenv status` shows Dex's state".into(),
        })?;
    let status = resp.status();
    let body: serde_json::Value =
        serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or_default();
    if !status.is_success() {
        // Dex answers OAuth2 errors: {"error": "...", "error_description": "..."}.
        let reason = [body.get("error"), body.get("error_description")]
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(": ");
        return Err(Error::LoginFailed {
            user: args.user,
            reason: if reason.is_empty() {
                format!("HTTP {status}")
            } else {
                reason
            },
        });
    }
    let token = body
        .get("id_token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| Error::Internal(format!("Dex answered without an id_token: {body}")))?;
    println!("{token}");
    Ok(0)
}
