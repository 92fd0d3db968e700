//! gRPC: a [`Controller`] that calls the `anycable.RPC` service of an AnyCable RPC server
//! (`bundle exec anycable`, `anycable-rs rpc`, any server built from the same proto) at
//! `rpc_host`, as anycable-go does.
//!
//! Every call carries the metadata `sid` (the session id) and `protov: v1`. One HTTP/2
//! connection is shared by all calls, made on first use and re-made after it breaks (the
//! channel does that itself), so a restarted RPC server is picked up by the next call.
//!
//! Limits, so a slow or dead RPC server never makes the node pile up work:
//! - at most `rpc_concurrency` calls are in flight (a semaphore permit per attempt);
//! - every call has a deadline ([`Timing::deadline`]) covering the wait for a permit, every
//!   attempt and every pause between them; it is also sent to the server (`grpc-timeout`);
//! - `UNAVAILABLE` (no connection, server shutting down) and `RESOURCE_EXHAUSTED` (the
//!   server's worker pool is full) are retried with exponential backoff and jitter (10 ms
//!   steps for an exhausted server, 100 ms for an unavailable one, as anycable-go) while the
//!   next attempt can start before the deadline. Then the call fails, and the client is told
//!   `disconnect` with `reconnect: true`. Other errors fail the call at once.
//!
//! TLS: `grpcs://host:port`, `rpc_enable_tls`, or a `rpc_tls_root_ca` (a PEM file or the PEM
//! itself; without it the system's roots) — anycable-go's settings. `rpc_tls_verify: false`
//! accepts any certificate (development only).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status as GrpcStatus};

use super::controller::{BoxFuture, Controller, RpcError};
use super::messages::{
    CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, DisconnectRequest,
    DisconnectResponse,
};
use super::proto::{anycable, anycable::rpc_client::RpcClient, META_PROTOV, META_SID, PROTOCOL_VERSION};
use super::retry::{self, Attempt};
use crate::config::{Config, ConfigError};

/// How long calls may take and how retries back off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Longest time one call may take: waiting for a free slot (`rpc_concurrency`), every
    /// attempt and the pauses between them.
    pub deadline: Duration,
    /// First pause after `UNAVAILABLE`; it doubles with every retry.
    pub unavailable_backoff: Duration,
    /// First pause after `RESOURCE_EXHAUSTED`; it doubles with every retry.
    pub exhausted_backoff: Duration,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
}

impl Default for Timing {
    /// A 5 s deadline, as for HTTP RPC (anycable-go retries gRPC calls for about 3 s and sets
    /// no deadline of its own); backoff from 100 ms (unavailable) or 10 ms (exhausted) up to 1 s.
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            unavailable_backoff: Duration::from_millis(100),
            exhausted_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// The gRPC controller. Cloning is cheap and shares the connection and the limits.
#[derive(Clone)]
pub struct GrpcController {
    inner: Arc<Inner>,
}

struct Inner {
    /// The generated client on a lazily connected channel; cloned per call (cheap).
    client: RpcClient<Channel>,
    /// `rpc_host` as configured, for logs and errors.
    target: String,
    /// `rpc_concurrency` permits: one is held by each attempt in flight.
    permits: Semaphore,
    timing: Timing,
}

impl fmt::Debug for GrpcController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcController")
            .field("rpc_host", &self.inner.target)
            .field("available_permits", &self.inner.permits.available_permits())
            .field("timing", &self.inner.timing)
            .finish_non_exhaustive()
    }
}

impl GrpcController {
    /// A controller for `config.rpc_host` (`host:port`, `grpc://host:port` or
    /// `grpcs://host:port`) with `rpc_concurrency`, the TLS settings of `config`, and the
    /// default [`Timing`]. Nothing connects yet. Must be called within a tokio runtime context.
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        Self::with_timing(config, Timing::default())
    }

    /// Like [`Self::new`], with the given deadline and backoff.
    pub fn with_timing(config: &Config, timing: Timing) -> Result<Self, ConfigError> {
        let target = config.rpc_host.clone().unwrap_or_default();
        let bad = |expected: &str| ConfigError::InvalidValue {
            key: "rpc_host",
            value: format!("{target:?}"),
            expected: expected.to_owned(),
        };
        if target.is_empty() {
            return Err(ConfigError::Missing { key: "rpc_host", needed_by: "gRPC".to_owned() });
        }
        let (authority, tls_scheme) = match target.split_once("://") {
            None => (target.as_str(), false),
            Some(("grpc", rest)) => (rest, false),
            Some(("grpcs", rest)) => (rest, true),
            Some(_) => {
                return Err(bad("host:port, grpc://host:port, grpcs://host:port or an http(s):// URL"))
            }
        };
        let authority = authority.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '@']) {
            return Err(bad("host:port (gRPC), or an http(s):// URL for HTTP RPC"));
        }
        let tls = tls_scheme || config.rpc_enable_tls || config.rpc_tls_root_ca.is_some();
        let uri = format!("{}://{authority}", if tls { "https" } else { "http" });
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|_| bad("host:port (gRPC), or an http(s):// URL for HTTP RPC"))?
            .tcp_nodelay(true)
            .connect_timeout(timing.deadline)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        if endpoint.uri().port_u16().is_none() {
            return Err(bad("host:port, with the port (AnyCable's default is 127.0.0.1:50051)"));
        }
        if tls {
            endpoint = tls_endpoint(endpoint, config)?;
        }
        let client = RpcClient::new(endpoint.connect_lazy());
        tracing::info!(
            rpc_host = %target,
            concurrency = config.rpc_concurrency,
            tls,
            deadline = ?timing.deadline,
            "gRPC controller: channel logic runs on the RPC server"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                target,
                permits: Semaphore::new(config.rpc_concurrency),
                timing,
            }),
        })
    }

    /// Calls the server: `call` makes one attempt with its own client and request.
    fn call<Req, Reply, Fut>(
        &self,
        name: &'static str,
        request: Req,
        sid: String,
        call: fn(RpcClient<Channel>, tonic::Request<Req>) -> Fut,
    ) -> BoxFuture<Result<Reply, RpcError>>
    where
        Req: Clone + Send + Sync + 'static,
        Reply: Send + 'static,
        Fut: Future<Output = Result<tonic::Response<Reply>, GrpcStatus>> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let deadline = Instant::now() + inner.timing.deadline;
            let attempts = inner.attempts(name, &request, &sid, deadline, call);
            tokio::time::timeout_at(deadline, attempts).await.unwrap_or_else(|_| {
                Err(RpcError::Unavailable(format!(
                    "gRPC {name} to {}: no reply within {:?}",
                    inner.target, inner.timing.deadline
                )))
            })
        })
    }
}

impl Inner {
    /// Attempts until one gets a reply, fails for good, or the next would start past `deadline`.
    async fn attempts<Req, Reply, Fut>(
        &self,
        name: &str,
        request: &Req,
        sid: &str,
        deadline: Instant,
        call: fn(RpcClient<Channel>, tonic::Request<Req>) -> Fut,
    ) -> Result<Reply, RpcError>
    where
        Req: Clone,
        Fut: Future<Output = Result<tonic::Response<Reply>, GrpcStatus>>,
    {
        let label = format!("gRPC {name} to {}", self.target);
        let attempt = || {
            let mut message = tonic::Request::new(request.clone());
            message.set_timeout(deadline.saturating_duration_since(Instant::now()));
            let metadata = message.metadata_mut();
            metadata.insert(META_PROTOV, MetadataValue::from_static(PROTOCOL_VERSION));
            if let Ok(sid) = MetadataValue::try_from(sid) {
                if !sid.is_empty() {
                    metadata.insert(META_SID, sid);
                }
            }
            let reply = call(self.client.clone(), message);
            async { self.outcome(&label, reply.await) }
        };
        retry::with_retries(&label, &self.permits, deadline, self.timing.max_backoff, attempt).await
    }

    /// UNAVAILABLE and RESOURCE_EXHAUSTED are retried, each kind with its own first pause.
    fn outcome<Reply>(
        &self,
        label: &str,
        reply: Result<tonic::Response<Reply>, GrpcStatus>,
    ) -> Attempt<Reply> {
        let status = match reply {
            Ok(reply) => return Attempt::Reply(reply.into_inner()),
            Err(status) => status,
        };
        let why = format!("{:?}: {}", status.code(), status.message());
        let (kind, first) = match status.code() {
            Code::Unavailable => ("unavailable", self.timing.unavailable_backoff),
            Code::ResourceExhausted => ("exhausted", self.timing.exhausted_backoff),
            _ => return Attempt::Fail(RpcError::Unavailable(format!("{label}: {why}"))),
        };
        Attempt::Retry { why, kind, first, at_least: None }
    }
}

impl Controller for GrpcController {
    fn connect(&self, mut request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        let sid = std::mem::take(&mut request.sid);
        let call = self.call(
            "Connect",
            anycable::ConnectionRequest::from(request),
            sid,
            |mut client, message| async move { client.connect(message).await },
        );
        Box::pin(async move { call.await.map(ConnectionResponse::from) })
    }

    fn command(&self, mut request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        let sid = std::mem::take(&mut request.sid);
        let call = self.call(
            "Command",
            anycable::CommandMessage::from(request),
            sid,
            |mut client, message| async move { client.command(message).await },
        );
        Box::pin(async move { call.await.map(CommandResponse::from) })
    }

    fn disconnect(&self, mut request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        let sid = std::mem::take(&mut request.sid);
        let call = self.call(
            "Disconnect",
            anycable::DisconnectRequest::from(request),
            sid,
            |mut client, message| async move { client.disconnect(message).await },
        );
        Box::pin(async move { call.await.map(DisconnectResponse::from) })
    }
}

/// TLS for the endpoint: the CA of `rpc_tls_root_ca` (a file, or the PEM itself) or the
/// system's roots; with `rpc_tls_verify: false`, no verification at all.
fn tls_endpoint(endpoint: Endpoint, config: &Config) -> Result<Endpoint, ConfigError> {
    let bad = |key: &'static str, expected: String| ConfigError::InvalidValue {
        key,
        value: format!("{:?}", config.rpc_host.as_deref().unwrap_or_default()),
        expected,
    };
    let host = endpoint.uri().host().unwrap_or_default().trim_matches(['[', ']']).to_owned();
    let tls = ClientTlsConfig::new().domain_name(host).assume_http2(true);
    let configured = if !config.rpc_tls_verify {
        tracing::warn!("gRPC: rpc_tls_verify is false, the RPC server's certificate is not checked");
        endpoint.tls_config_with_verifier(tls, Arc::new(insecure::AnyCertificate::new()))
    } else if let Some(ca) = &config.rpc_tls_root_ca {
        let pem = if ca.trim_start().starts_with("-----BEGIN") {
            ca.clone().into_bytes()
        } else {
            std::fs::read(ca).map_err(|e| ConfigError::InvalidValue {
                key: "rpc_tls_root_ca",
                value: format!("{ca:?}"),
                expected: format!("a readable PEM file or the PEM itself ({e})"),
            })?
        };
        endpoint.tls_config(tls.ca_certificate(Certificate::from_pem(pem)))
    } else {
        endpoint.tls_config(tls.with_native_roots())
    };
    configured.map_err(|e| bad("rpc_host", format!("a TLS setup this system supports ({e})")))
}

/// `rpc_tls_verify: false`: a verifier that accepts any certificate but still checks that the
/// handshake is signed by its key.
mod insecure {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, Error, SignatureScheme};

    #[derive(Debug)]
    pub(super) struct AnyCertificate(Arc<CryptoProvider>);

    impl AnyCertificate {
        pub(super) fn new() -> Self {
            Self(Arc::new(rustls::crypto::ring::default_provider()))
        }
    }

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
