//! How to reach Redis: the URL (`redis://` or `rediss://`), TLS verification and a private CA,
//! turned into a `redis::Client`; and the URL with its password hidden, for logs.
//!
//! TLS is unverified by default (`redis_tls_verify: false`): Heroku Redis presents a
//! self-signed certificate, and AnyCable servers behave the same way. With verification on,
//! the server's certificate must chain to the system's roots or, when
//! `redis_tls_ca_cert_path` is set, to that CA.

use std::path::PathBuf;

use redis::{Client, ConnectionAddr, IntoConnectionInfo, TlsCertificates};

use crate::config::Config;

/// Connection settings of the Redis subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `redis://…` or `rediss://…`, password included: never log it, log [`Self::redacted_url`].
    pub url: String,
    /// Verify the server's TLS certificate (`rediss://` only).
    pub tls_verify: bool,
    /// PEM file of the CA to trust instead of the system's roots, when verifying.
    pub tls_ca_cert_path: Option<PathBuf>,
}

impl Settings {
    /// The settings from a config, when it names a Redis URL.
    pub fn from_config(config: &Config) -> Option<Self> {
        Some(Self {
            url: config.redis_url.clone()?,
            tls_verify: config.redis_tls_verify,
            tls_ca_cert_path: config.redis_tls_ca_cert_path.clone(),
        })
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// Whether the URL asks for TLS.
    pub fn is_tls(&self) -> bool {
        self.url.starts_with("rediss://")
    }

    /// A client for these settings; the error says what is wrong without the password.
    pub(crate) fn client(&self) -> Result<Client, String> {
        // Redis' own errors about a URL never quote it, so they are safe to show.
        let info = self.url.as_str().into_connection_info().map_err(|e| format!("bad Redis URL: {e}"))?;
        let info = match info.addr().clone() {
            ConnectionAddr::TcpTls { host, port, .. } => info.set_addr(ConnectionAddr::TcpTls {
                host,
                port,
                insecure: !self.tls_verify,
                tls_params: None,
            }),
            _ => info,
        };
        match &self.tls_ca_cert_path {
            Some(path) if self.is_tls() && self.tls_verify => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read redis_tls_ca_cert_path {}: {e}", path.display()))?;
                let certificates = TlsCertificates { client_tls: None, root_cert: Some(pem) };
                Client::build_with_tls(info, certificates)
                    .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))
            }
            _ => Client::open(info).map_err(|e| format!("bad Redis URL: {e}")),
        }
    }

    /// A connection error, with a hint when it is a certificate that failed verification.
    pub(crate) fn explain(&self, error: &str) -> String {
        let certificate = error.to_ascii_lowercase().contains("certificate");
        if self.is_tls() && self.tls_verify && certificate {
            let fix = if self.tls_ca_cert_path.is_some() {
                "check that redis_tls_ca_cert_path holds the CA that signed the server's certificate"
            } else {
                "set redis_tls_ca_cert_path to the CA that signed it, or redis_tls_verify=false"
            };
            format!("TLS certificate verification failed (redis_tls_verify is on): {error}; {fix}")
        } else {
            error.to_owned()
        }
    }
}

/// `url` with the password (everything after the user name, up to the last `@`) hidden.
pub fn redact(url: &str) -> String {
    let Some(scheme) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme..];
    // The last `@` ends the credentials even when an unencoded password holds `/`, `?` or `#`.
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    let user = match rest[..at].split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{}{user}{}", &url[..scheme], &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact("redis://localhost:6379/0"), "redis://localhost:6379/0");
        assert_eq!(redact("rediss://:s3cret@ec2.example.com:6380"), "rediss://:***@ec2.example.com:6380");
        assert_eq!(redact("redis://user:pw@h/1"), "redis://user:***@h/1");
        assert_eq!(redact("redis://token@h"), "redis://***@h");
        assert_eq!(redact("redis://:p/a?s#s@h:1/2"), "redis://:***@h:1/2");
        let settings = Settings { url: "redis://:pw@h".into(), tls_verify: false, tls_ca_cert_path: None };
        assert!(!settings.redacted_url().contains("pw"));
    }

    #[test]
    fn clients_follow_the_tls_settings() {
        let plain =
            Settings { url: "redis://127.0.0.1:1/0".into(), tls_verify: false, tls_ca_cert_path: None };
        assert!(matches!(plain.client().unwrap().get_connection_info().addr(), ConnectionAddr::Tcp(..)));
        for verify in [false, true] {
            let tls = Settings { url: "rediss://h:6380".into(), tls_verify: verify, tls_ca_cert_path: None };
            let client = tls.client().unwrap();
            let ConnectionAddr::TcpTls { insecure, .. } = client.get_connection_info().addr() else {
                panic!("TLS expected");
            };
            assert_eq!(*insecure, !verify);
        }
        let missing = Settings {
            url: "rediss://h".into(),
            tls_verify: true,
            tls_ca_cert_path: Some("/nonexistent/ca.pem".into()),
        };
        assert!(missing.client().unwrap_err().contains("redis_tls_ca_cert_path"));
        let bad = Settings { url: "redis://".into(), tls_verify: false, tls_ca_cert_path: None };
        assert!(bad.client().is_err());
    }

    #[test]
    fn certificate_failures_get_a_hint_when_verifying() {
        let verify = Settings { url: "rediss://h".into(), tls_verify: true, tls_ca_cert_path: None };
        let hint = verify.explain("invalid peer certificate: UnknownIssuer");
        assert!(hint.contains("redis_tls_ca_cert_path") && hint.contains("UnknownIssuer"), "{hint}");
        assert_eq!(verify.explain("Connection refused"), "Connection refused");
    }
}
