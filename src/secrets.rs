//! Per-environment secrets: the OIDC client secret and the users' passwords with their
//! bcrypt hashes. Random on first use, then kept in `<state>/secrets.yaml` (0600) so
//! logins and kubeconfigs survive `down`/`up`. The hash is stored beside the password:
//! bcrypt salts randomly, and re-hashing on every `up` would change Dex's config (and
//! its config hash) each time.

use std::collections::BTreeMap;
use std::path::Path;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state;

/// Dex rejects logins for hashes below cost 10 (bcrypt's default) or above 16.
const BCRYPT_COST: u32 = 10;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secrets {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub oidc_client_secret: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, UserSecret>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSecret {
    pub password: String,
    pub hash: String,
}

impl Secrets {
    pub fn load(path: &Path) -> Result<Secrets> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_yaml::from_str(&text).map_err(|e| {
                Error::Internal(format!(
                    "{} is damaged ({e}); fix it or delete it (new passwords will be generated)",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Secrets::default()),
            Err(e) => Err(Error::io(format!("reading {}", path.display()))(e)),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_yaml::to_string(self).expect("secrets serialise");
        state::write_file(path, text.as_bytes(), 0o600)
    }

    pub fn ensure_client_secret(&mut self) -> &str {
        if self.oidc_client_secret.is_empty() {
            self.oidc_client_secret = random_string(32);
        }
        &self.oidc_client_secret
    }

    /// The user's secret: kept as it is unless `fixed` asks for another password.
    pub fn ensure_user(&mut self, email: &str, fixed: Option<&str>) -> Result<&UserSecret> {
        let keep = match (self.users.get(email), fixed) {
            (Some(_), None) => true,
            (Some(u), Some(p)) => u.password == p,
            (None, _) => false,
        };
        if !keep {
            let password = fixed.map_or_else(|| random_string(20), str::to_owned);
            let hash = bcrypt::hash(&password, BCRYPT_COST)
                .map_err(|e| Error::Internal(format!("hashing a password: {e}")))?;
            self.users
                .insert(email.to_owned(), UserSecret { password, hash });
        }
        Ok(&self.users[email])
    }
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_random_kept_and_stored_private() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("secrets.yaml");
        let mut s = Secrets::load(&path).unwrap();
        let client = s.ensure_client_secret().to_owned();
        assert_eq!(client.len(), 32);
        let alice = s.ensure_user("alice@example.com", None).unwrap().clone();
        assert!(bcrypt::verify(&alice.password, &alice.hash).unwrap());
        assert!(alice.hash.starts_with("$2b$10$"), "{}", alice.hash);
        let fixed = s
            .ensure_user("admin@kcpenv.local", Some("s3cret"))
            .unwrap()
            .clone();
        assert_eq!(fixed.password, "s3cret");
        assert!(bcrypt::verify("s3cret", &fixed.hash).unwrap());
        s.save(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let mut again = Secrets::load(&path).unwrap();
        assert_eq!(again.ensure_client_secret(), client);
        assert_eq!(
            again.ensure_user("alice@example.com", None).unwrap(),
            &alice,
            "kept, hash included"
        );
        assert_eq!(
            again
                .ensure_user("admin@kcpenv.local", Some("s3cret"))
                .unwrap(),
            &fixed
        );
        let changed = again
            .ensure_user("admin@kcpenv.local", Some("other"))
            .unwrap()
            .clone();
        assert!(bcrypt::verify("other", &changed.hash).unwrap());
    }
}
