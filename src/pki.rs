//! The environment's PKI: one CA, serving certificates for `localhost`, client
//! certificates for kcp identities. Everything is kept in `<state>/pki` (0700, keys 0600)
//! and reused while valid, so kubeconfigs keep working across `down`/`up`; a certificate
//! is re-issued when its subject or SANs change, its CA changed, or it nears expiry.

use std::fs;
use std::path::{Path, PathBuf};

use ::time::{Duration, OffsetDateTime};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use x509_parser::prelude::*;

use crate::error::{Error, Result};
use crate::state;

/// Re-issue anything that expires sooner than this.
const RENEW_BEFORE: Duration = Duration::days(30);
const CA_VALIDITY: Duration = Duration::days(3650);
const LEAF_VALIDITY: Duration = Duration::days(365);

/// The names every serving certificate carries: in the shared network namespace,
/// `localhost` means the same service from the host and from every container.
pub const LOCAL_SANS: &[&str] = &["localhost", "127.0.0.1", "::1"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// What a leaf certificate must say; compared with the file on disk to decide reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafSpec {
    Serving {
        sans: Vec<String>,
    },
    Client {
        common_name: String,
        organizations: Vec<String>,
    },
}

pub struct Pki {
    dir: PathBuf,
    ca: CertPair,
}

impl Pki {
    /// Loads the CA from `dir` or creates one.
    pub fn open(dir: &Path, env: &str) -> Result<Pki> {
        state::create_private_dir(dir)?;
        let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        if let (Ok(cert_pem), Ok(key_pem)) = (fs::read_to_string(&crt), fs::read_to_string(&key))
            && ca_still_good(&cert_pem)
        {
            return Ok(Pki {
                dir: dir.to_owned(),
                ca: CertPair { cert_pem, key_pem },
            });
        }
        let ca = new_ca(env)?;
        state::write_file(&crt, ca.cert_pem.as_bytes(), 0o644)?;
        state::write_file(&key, ca.key_pem.as_bytes(), 0o600)?;
        Ok(Pki {
            dir: dir.to_owned(),
            ca,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca.cert_pem
    }

    /// Returns the certificate `name` (files `<name>.crt`/`<name>.key`), issuing it anew
    /// unless the existing one matches `spec`, was signed by the current CA and is not
    /// about to expire.
    pub fn ensure(&self, name: &str, spec: &LeafSpec) -> Result<CertPair> {
        let (crt, key) = (
            self.dir.join(format!("{name}.crt")),
            self.dir.join(format!("{name}.key")),
        );
        if let (Ok(cert_pem), Ok(key_pem)) = (fs::read_to_string(&crt), fs::read_to_string(&key))
            && leaf_still_good(&cert_pem, &self.ca.cert_pem, spec)
        {
            return Ok(CertPair { cert_pem, key_pem });
        }
        let pair = self.issue(spec)?;
        state::write_file(&key, pair.key_pem.as_bytes(), 0o600)?;
        state::write_file(&crt, pair.cert_pem.as_bytes(), 0o644)?;
        Ok(pair)
    }

    fn issue(&self, spec: &LeafSpec) -> Result<CertPair> {
        let ca_key = KeyPair::from_pem(&self.ca.key_pem).map_err(pki_err("reading the CA key"))?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca.cert_pem, ca_key)
            .map_err(pki_err("reading the CA certificate"))?;
        let mut params = CertificateParams::default();
        let now = OffsetDateTime::now_utc();
        // Backdated an hour: a container's clock may lag the host's a little.
        params.not_before = now - Duration::hours(1);
        params.not_after = now + LEAF_VALIDITY;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let mut dn = DistinguishedName::new();
        match spec {
            LeafSpec::Serving { sans } => {
                dn.push(
                    DnType::CommonName,
                    sans.first().cloned().unwrap_or_default(),
                );
                params.subject_alt_names = sans.iter().map(|s| san(s)).collect::<Result<_>>()?;
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            }
            LeafSpec::Client {
                common_name,
                organizations,
            } => {
                dn.push(DnType::CommonName, common_name.clone());
                for o in organizations {
                    dn.push(DnType::OrganizationName, o.clone());
                }
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
        }
        params.distinguished_name = dn;
        let key = KeyPair::generate().map_err(pki_err("generating a key"))?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(pki_err("signing a certificate"))?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn new_ca(env: &str) -> Result<CertPair> {
    let mut params = CertificateParams::default();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + CA_VALIDITY;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    // The creation time makes each CA's name unique, so a leaf from an earlier CA of the
    // same environment is recognised as foreign (issuer name differs) and re-issued.
    dn.push(
        DnType::CommonName,
        format!("kcpenv {env} CA {}", now.unix_timestamp_nanos()),
    );
    dn.push(DnType::OrganizationName, "kcpenv");
    params.distinguished_name = dn;
    let key = KeyPair::generate().map_err(pki_err("generating the CA key"))?;
    let cert = params
        .self_signed(&key)
        .map_err(pki_err("self-signing the CA"))?;
    Ok(CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn san(s: &str) -> Result<SanType> {
    Ok(match s.parse::<std::net::IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(s.to_owned().try_into().map_err(|e| {
            Error::Internal(format!("invalid DNS name {s:?} for a certificate: {e}"))
        })?),
    })
}

fn pki_err(doing: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |e| Error::Internal(format!("PKI: {doing}: {e}"))
}

/// A parsed view of a PEM certificate, for reuse decisions and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject_cn: String,
    pub organizations: Vec<String>,
    pub issuer: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub not_after: i64,
    pub is_ca: bool,
    pub server_auth: bool,
    pub client_auth: bool,
}

pub fn inspect(pem: &str) -> Option<CertInfo> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = p.parse_x509().ok()?;
    let names = |it: &mut dyn Iterator<Item = &AttributeTypeAndValue>| {
        it.filter_map(|a| a.as_str().ok().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let mut sans = vec![];
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*b).ok()?),
                        16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*b).ok()?),
                        _ => continue,
                    };
                    sans.push(ip.to_string());
                }
                _ => {}
            }
        }
    }
    let eku = cert
        .extended_key_usage()
        .ok()
        .flatten()
        .map(|e| e.value.clone());
    Some(CertInfo {
        subject_cn: names(&mut cert.subject().iter_common_name()).join(","),
        organizations: names(&mut cert.subject().iter_organization()),
        issuer: cert.issuer().to_string(),
        subject: cert.subject().to_string(),
        sans,
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
        server_auth: eku.as_ref().is_some_and(|e| e.server_auth),
        client_auth: eku.as_ref().is_some_and(|e| e.client_auth),
    })
}

fn fresh_enough(info: &CertInfo) -> bool {
    info.not_after > (OffsetDateTime::now_utc() + RENEW_BEFORE).unix_timestamp()
}

fn ca_still_good(pem: &str) -> bool {
    inspect(pem).is_some_and(|i| i.is_ca && fresh_enough(&i))
}

fn leaf_still_good(pem: &str, ca_pem: &str, spec: &LeafSpec) -> bool {
    let (Some(leaf), Some(ca)) = (inspect(pem), inspect(ca_pem)) else {
        return false;
    };
    if leaf.issuer != ca.subject || !fresh_enough(&leaf) {
        return false;
    }
    match spec {
        LeafSpec::Serving { sans } => {
            let (mut want, mut have) = (sans.clone(), leaf.sans.clone());
            want.sort();
            have.sort();
            want == have && leaf.server_auth
        }
        LeafSpec::Client {
            common_name,
            organizations,
        } => {
            &leaf.subject_cn == common_name
                && &leaf.organizations == organizations
                && leaf.client_auth
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn serving() -> LeafSpec {
        LeafSpec::Serving {
            sans: LOCAL_SANS.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn issues_a_chain_with_the_right_names_usages_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let pki_dir = dir.path().join("pki");
        let pki = Pki::open(&pki_dir, "t").unwrap();
        let ca = inspect(pki.ca_pem()).unwrap();
        assert!(ca.is_ca);
        assert!(ca.subject_cn.starts_with("kcpenv t CA"));

        let srv = pki.ensure("kcp-serving", &serving()).unwrap();
        let s = inspect(&srv.cert_pem).unwrap();
        assert_eq!(s.sans, vec!["localhost", "127.0.0.1", "::1"]);
        assert!(s.server_auth && !s.client_auth && !s.is_ca);
        assert_eq!(s.issuer, ca.subject);

        let admin = LeafSpec::Client {
            common_name: "kcpenv-admin".into(),
            organizations: vec!["system:kcp:admin".into()],
        };
        let c = inspect(&pki.ensure("admin", &admin).unwrap().cert_pem).unwrap();
        assert_eq!(c.subject_cn, "kcpenv-admin");
        assert_eq!(c.organizations, vec!["system:kcp:admin"]);
        assert!(c.client_auth && !c.server_auth);

        // The signature really verifies against the CA's key.
        let (_, ca_pem) = x509_parser::pem::parse_x509_pem(pki.ca_pem().as_bytes()).unwrap();
        let ca_cert = ca_pem.parse_x509().unwrap();
        let (_, leaf_pem) = x509_parser::pem::parse_x509_pem(srv.cert_pem.as_bytes()).unwrap();
        leaf_pem
            .parse_x509()
            .unwrap()
            .verify_signature(Some(ca_cert.public_key()))
            .expect("signed by the CA");

        assert_eq!(mode(&pki_dir), 0o700);
        assert_eq!(mode(&pki_dir.join("ca.key")), 0o600);
        assert_eq!(mode(&pki_dir.join("kcp-serving.key")), 0o600);
        assert_eq!(mode(&pki_dir.join("admin.key")), 0o600);
        assert_eq!(mode(&pki_dir.join("ca.crt")), 0o644);
    }

    #[test]
    fn reuses_valid_certs_and_reissues_changed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::open(dir.path(), "t").unwrap();
        let first = pki.ensure("kcp-serving", &serving()).unwrap();
        let again = Pki::open(dir.path(), "t").unwrap();
        assert_eq!(again.ca_pem(), pki.ca_pem(), "CA reused");
        assert_eq!(
            again.ensure("kcp-serving", &serving()).unwrap(),
            first,
            "leaf reused"
        );

        let other = LeafSpec::Serving {
            sans: vec!["localhost".into(), "kcp.example".into()],
        };
        let changed = again.ensure("kcp-serving", &other).unwrap();
        assert_ne!(changed, first);
        assert_eq!(
            inspect(&changed.cert_pem).unwrap().sans,
            vec!["localhost", "kcp.example"]
        );

        // A new CA makes every leaf foreign.
        fs::remove_file(dir.path().join("ca.key")).unwrap();
        let new_ca = Pki::open(dir.path(), "t").unwrap();
        assert_ne!(new_ca.ca_pem(), pki.ca_pem());
        let reissued = new_ca.ensure("kcp-serving", &other).unwrap();
        assert_ne!(reissued, changed);
    }
}
