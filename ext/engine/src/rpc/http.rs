//! HTTP RPC: a [`Controller`] that POSTs every call to an AnyCable HTTP RPC server (the Rails
//! app's `/_anycable` endpoint, AnyCable's Ruby or JS servers), as anycable-go does.
//!
//! Each call is `POST {rpc_host}/connect|/command|/disconnect` with the request message as
//! protobuf-JSON (snake_case names, enums as numbers: the [`super`] structs' serde shape),
//! `Content-Type: application/json`, `Authorization: Bearer <http_rpc_secret>` (default: derived
//! from `secret`, see [`Config::http_rpc_secret`]) and the call metadata as
//! `x-anycable-meta-<key>` headers: `protov: v1`, and `sid` (the session id: metadata, never
//! in the body) when the request carries one. A `200` body is the reply message; one
//! without `status` is `ERROR`, as in protobuf.
//!
//! Limits, so a slow or dead RPC server never makes the node pile up work:
//! - at most `rpc_concurrency` requests are in flight (a semaphore permit per attempt);
//! - every call has a deadline ([`Timing::deadline`]) that covers waiting for a permit,
//!   every attempt and every pause between them;
//! - only attempts that certainly did not run the call are retried, with exponential backoff
//!   and jitter: the connection could not be made, or the server answered `429` or `5xx`
//!   (honouring `Retry-After`). Past the deadline the call fails, and the client is told
//!   `disconnect` with `reconnect: true`.
//!
//! A `401` means the secrets differ: logged once (until a call succeeds again) at error level,
//! naming `http_rpc_secret`, and the call fails. Nothing here ever logs a secret.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::controller::{BoxFuture, Controller, RpcError};
use super::messages::{
    CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, DisconnectRequest,
    DisconnectResponse,
};
use super::retry::{self, Attempt};
use crate::config::{Config, ConfigError};

/// Largest reply body read, in bytes.
const MAX_REPLY: usize = 16 << 20;

/// How much of an error reply's body goes into the error message.
const ERROR_EXCERPT: usize = 200;

/// Idle pooled connections are closed after this: shorter than Puma's keep-alive timeout
/// (20 s), so the client does not reuse a connection the server is about to close.
const POOL_IDLE: Duration = Duration::from_secs(10);

const META_SID: HeaderName = HeaderName::from_static("x-anycable-meta-sid");
const META_PROTOV: HeaderName = HeaderName::from_static("x-anycable-meta-protov");
const PROTOCOL_VERSION: HeaderValue = HeaderValue::from_static("v1");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// How long calls may take and how retries back off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Longest time one call may take: waiting for a free slot (`rpc_concurrency`), every
    /// attempt and the pauses between them.
    pub deadline: Duration,
    /// The pause before the first retry; it doubles with every retry (each pause is randomly
    /// shortened by up to half, so clients of a restarting server do not retry in step).
    pub first_backoff: Duration,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
}

impl Default for Timing {
    /// A 5 s deadline (anycable-go gives an HTTP RPC request 3 s, without retries), and
    /// retries from 50 ms up to 1 s apart.
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// The HTTP RPC controller. Cloning is cheap and shares the connection pool and the limits.
#[derive(Clone)]
pub struct HttpController {
    inner: Arc<Inner>,
}

struct Inner {
    /// Pooled keep-alive connections (HTTP/1.1; https through rustls).
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `rpc_host` without a trailing `/`; the call's name is appended.
    base: String,
    /// `Bearer <secret>`, marked sensitive; `None` when no secret is configured.
    authorization: Option<HeaderValue>,
    /// `rpc_concurrency` permits: one is held for each request in flight.
    permits: Semaphore,
    timing: Timing,
    /// Whether the 401 error was logged since the last successful call.
    told_unauthorized: AtomicBool,
}

impl fmt::Debug for HttpController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpController")
            .field("rpc_host", &self.inner.base)
            .field("authorization", &self.inner.authorization.as_ref().map(|_| crate::secret::FILTERED))
            .field("available_permits", &self.inner.permits.available_permits())
            .field("timing", &self.inner.timing)
            .finish_non_exhaustive()
    }
}

impl HttpController {
    /// A controller for `config.rpc_host` (an `http://` or `https://` URL), with `rpc_concurrency`
    /// and the HTTP RPC secret of `config`, and the default [`Timing`].
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        Self::with_timing(config, Timing::default())
    }

    /// Like [`Self::new`], with the given deadline and backoff.
    pub fn with_timing(config: &Config, timing: Timing) -> Result<Self, ConfigError> {
        let host = config.rpc_host.as_deref().unwrap_or_default();
        let bad = |expected: &str| ConfigError::InvalidValue {
            key: "rpc_host",
            value: format!("{:?}", without_credentials(host)),
            expected: expected.to_owned(),
        };
        if host.is_empty() {
            return Err(ConfigError::Missing { key: "rpc_host", needed_by: "HTTP RPC".to_owned() });
        }
        let base = host.trim_end_matches('/').to_owned();
        let uri: Uri = format!("{base}/connect").parse().map_err(|_| bad("an http:// or https:// URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("an http:// or https:// URL")),
        };
        match uri.authority() {
            None => return Err(bad("an http:// or https:// URL with a host")),
            Some(authority) if authority.as_str().contains('@') => {
                return Err(bad("a URL without credentials (the secret goes in http_rpc_secret)"));
            }
            Some(_) => {}
        }
        if uri.query().is_some() {
            return Err(bad("a URL without a query string"));
        }

        let tls = tls_config(https)
            .map_err(|why| bad(&format!("an https:// URL this system can verify ({why})")))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false); // the https connector around it handles both schemes
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(config.rpc_concurrency)
            .build(connector);

        let authorization = match config.http_rpc_secret() {
            None => None,
            Some(secret) => {
                let value = HeaderValue::try_from(format!("Bearer {}", secret.expose()));
                let mut value = value.map_err(|_| ConfigError::InvalidValue {
                    key: "http_rpc_secret",
                    value: crate::secret::FILTERED.to_owned(),
                    expected: "a string that fits in an HTTP header (no line breaks)".to_owned(),
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        if authorization.is_none() {
            tracing::warn!(
                rpc_host = %base,
                "HTTP RPC calls carry no Authorization header: set http_rpc_secret (or secret) to the RPC server's"
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                base,
                authorization,
                permits: Semaphore::new(config.rpc_concurrency),
                timing,
                told_unauthorized: AtomicBool::new(false),
            }),
        })
    }

    fn call<Req: Serialize, Reply: DeserializeOwned + Send + 'static>(
        &self,
        name: &'static str,
        request: &Req,
        sid: String,
    ) -> BoxFuture<Result<Reply, RpcError>> {
        let inner = Arc::clone(&self.inner);
        let body = serde_json::to_vec(request).map(Bytes::from);
        Box::pin(async move {
            let body =
                body.map_err(|e| RpcError::BadReply(format!("cannot encode the {name} request: {e}")))?;
            let deadline = Instant::now() + inner.timing.deadline;
            let sid = (!sid.is_empty()).then_some(sid.as_str());
            let attempts = inner.attempts(name, body, sid, deadline);
            let reply = tokio::time::timeout_at(deadline, attempts).await.unwrap_or_else(|_| {
                Err(RpcError::Unavailable(format!(
                    "HTTP RPC {name}: no reply within {:?}",
                    inner.timing.deadline
                )))
            })?;
            decode_reply(name, &reply)
        })
    }
}

/// An HTTP RPC reply body as the `name` (`connect`, `command`, `disconnect`) reply: JSON with
/// the protobuf-JSON field names; a body that is not one is a [`RpcError::BadReply`].
pub fn decode_reply<Reply: DeserializeOwned>(name: &str, body: &[u8]) -> Result<Reply, RpcError> {
    serde_json::from_slice(body)
        .map_err(|e| RpcError::BadReply(format!("HTTP RPC {name}: the reply is not a {name} reply: {e}")))
}

impl Inner {
    /// Attempts until one gets a reply, fails for good, or the next would start past `deadline`.
    async fn attempts(
        &self,
        name: &str,
        body: Bytes,
        sid: Option<&str>,
        deadline: Instant,
    ) -> Result<Bytes, RpcError> {
        let label = format!("HTTP RPC {name}");
        let attempt = || self.attempt(name, body.clone(), sid);
        retry::with_retries(&label, &self.permits, deadline, self.timing.max_backoff, attempt).await
    }

    /// An attempt that certainly did not run the call (no connection, 429, 5xx).
    fn retry(&self, why: String, at_least: Option<Duration>) -> Attempt<Bytes> {
        Attempt::Retry { why, kind: "http", first: self.timing.first_backoff, at_least }
    }

    async fn attempt(&self, name: &str, body: Bytes, sid: Option<&str>) -> Attempt<Bytes> {
        let mut request = Request::post(format!("{}/{name}", self.base))
            .header(CONTENT_TYPE, JSON)
            .header(META_PROTOV, PROTOCOL_VERSION);
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(sid) = sid.and_then(|sid| HeaderValue::try_from(sid).ok()) {
            request = request.header(META_SID, sid);
        }
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(error) => return Attempt::Fail(RpcError::Unavailable(format!("HTTP RPC {name}: {error}"))),
        };

        let response = match self.client.request(request).await {
            Ok(response) => response,
            // The connection was never made: the server has not seen the call.
            Err(error) if error.is_connect() => return self.retry(chain(&error), None),
            // The request may have reached the server: running it twice could do things twice.
            Err(error) => {
                return Attempt::Fail(RpcError::Unavailable(format!("HTTP RPC {name}: {}", chain(&error))))
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers().get(RETRY_AFTER));
        let limit = if status.is_success() { MAX_REPLY } else { ERROR_EXCERPT };
        let body = match Limited::new(response.into_body(), limit).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) if !status.is_success() => Bytes::new(), // an error body too long to quote
            Err(error) => {
                return Attempt::Fail(RpcError::Unavailable(format!(
                    "HTTP RPC {name}: reading the reply: {error}"
                )));
            }
        };

        if status.is_success() {
            if self.told_unauthorized.load(Ordering::Relaxed) {
                self.told_unauthorized.store(false, Ordering::Relaxed);
            }
            return Attempt::Reply(body);
        }
        let excerpt = String::from_utf8_lossy(&body);
        let what = match excerpt.trim() {
            "" => format!("HTTP {status}"),
            excerpt => format!("HTTP {status}: {excerpt}"),
        };
        match status {
            StatusCode::UNAUTHORIZED => {
                if !self.told_unauthorized.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        rpc_host = %self.base,
                        "the HTTP RPC server answered 401 Unauthorized: http_rpc_secret (ANYCABLE_HTTP_RPC_SECRET, \
                         or the secret it is derived from) must be the RPC server's; every call fails until they match"
                    );
                }
                Attempt::Fail(RpcError::Unavailable(format!(
                    "HTTP RPC {name}: {what} (check http_rpc_secret)"
                )))
            }
            StatusCode::TOO_MANY_REQUESTS => self.retry(what, retry_after),
            status if status.is_server_error() => self.retry(what, retry_after),
            _ => Attempt::Fail(RpcError::BadReply(format!("HTTP RPC {name}: {what}"))),
        }
    }
}

impl Controller for HttpController {
    fn connect(&self, mut request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        // Metadata, not a field of the message (AnyCable's servers refuse unknown fields).
        let sid = std::mem::take(&mut request.sid);
        self.call("connect", &request, sid)
    }

    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        let sid = request.sid.clone(); // never serialized
        self.call("command", &request, sid)
    }

    fn disconnect(&self, request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        let sid = request.sid.clone();
        self.call("disconnect", &request, sid)
    }
}

/// `url` with any `user:password@` replaced by `[FILTERED]@`, for error messages.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}{}", crate::secret::FILTERED, &rest[at..]),
        None => url.to_owned(),
    }
}

/// rustls with ring, the system's roots for https (none are loaded for plain http).
fn tls_config(https: bool) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if https {
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
            return Err(format!("no CA certificates found: {}", errors.join("; ")));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let seconds: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// An error with its causes: hyper's own message alone says little ("client error (Connect)").
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(settings: serde_json::Value) -> Config {
        Config::from_map(settings.as_object().unwrap()).unwrap()
    }

    #[test]
    fn rpc_host_must_be_an_http_url() {
        let refused =
            |host: &str| HttpController::new(&config(json!({"rpc_host": host}))).unwrap_err().to_string();
        assert!(
            refused("localhost:50051").contains("expected an http:// or https:// URL"),
            "gRPC is not ours"
        );
        assert!(refused("ftp://x/_anycable").contains("`rpc_host`"));
        assert!(refused("http://user:pw@x/_anycable").contains("without credentials"));
        let credentials = refused("http://user:pw@x/_anycable");
        assert!(credentials.contains(r#""http://[FILTERED]@x/_anycable""#), "not echoed: {credentials}");
        assert!(refused("http://x/_anycable?a=1").contains("without a query string"));
        let secret = config(json!({"rpc_host": "http://x/_anycable", "http_rpc_secret": "a\nb"}));
        let refused = HttpController::new(&secret).unwrap_err().to_string();
        assert!(refused.starts_with("invalid value [FILTERED] for `http_rpc_secret`"), "{refused}");
        let missing = HttpController::new(&Config::default()).unwrap_err();
        assert_eq!(missing.to_string(), "`rpc_host` must be set: HTTP RPC");
        let ok =
            HttpController::new(&config(json!({"rpc_host": "http://127.0.0.1:1/_anycable/", "secret": "s"})));
        let debug = format!("{:?}", ok.unwrap());
        assert!(debug.contains(r#"rpc_host: "http://127.0.0.1:1/_anycable""#), "{debug}");
        assert!(debug.contains("[FILTERED]") && !debug.contains("Bearer"), "{debug}");
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(retry_after(Some(&HeaderValue::from_static(" 2"))), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(Some(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"))), None);
        assert_eq!(retry_after(None), None);
    }
}
