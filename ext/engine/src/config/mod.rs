//! Settings of a server, with AnyCable's names and defaults (docs/configuration.md).
//!
//! Every setting is declared once, in the table below: its reference text (the doc comment),
//! name, type, default and kind. The struct, its defaults, parsing, the effective-settings
//! dump and the reference the docs and the install generator are made from all come from
//! that table (`config/declare.rs`).
//!
//! Values arrive as [`serde_json::Value`]s from YAML, environment variables (strings) or Ruby
//! code, so every kind (`config/kinds.rs`) accepts the loose forms people write (`"3"` for
//! `3`, `"cookie,x-api"` for a list) and a bad value gets an error that names the key and what
//! it accepts.

#[macro_use]
mod declare;
mod kinds;
mod spelling;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::secret::{self, Secret};

/// One entry of the settings reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The setting's name, as in `config/anycable.yml`.
    pub key: &'static str,
    /// The doc comment of the table entry: use [`Self::description`].
    text: &'static str,
    /// Its value is a secret: never logged, shown as `[FILTERED]`.
    pub secret: bool,
    /// An environment variable it is also read from, after `ANYCABLE_<KEY>`.
    pub also_env: Option<&'static str>,
    /// Only the Ruby side uses it (the HTTP endpoints, presets); the engine only validates it.
    pub ruby_only: bool,
}

impl Setting {
    /// What the setting is for, in a sentence or two.
    pub fn description(&self) -> &'static str {
        self.text.trim_start()
    }

    /// The environment variables it is read from, the first winning.
    pub fn env(&self) -> Vec<String> {
        let own = format!("ANYCABLE_{}", self.key.to_ascii_uppercase());
        std::iter::once(own).chain(self.also_env.map(str::to_owned)).collect()
    }
}

/// Where broadcasts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastAdapter {
    /// Only `ActionCable.server.broadcast` in this process.
    Local,
    /// AnyCable's Redis pub/sub format on `redis_channel`.
    Redis,
    /// The HTTP broadcast endpoint.
    Http,
}

const BROADCAST_ADAPTERS: kinds::Choice<BroadcastAdapter> = kinds::Choice(&[
    ("local", BroadcastAdapter::Local),
    ("redis", BroadcastAdapter::Redis),
    ("http", BroadcastAdapter::Http),
]);

/// Where stream history and sessions of departed clients are kept (`broker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerAdapter {
    /// Nowhere: broadcasts carry no position, sessions are not restored.
    None,
    /// In this process (lost on restart; each process has its own epoch).
    Memory,
    /// In Redis (`redis_url`), shared by every process publishing and serving through it:
    /// history and sessions outlive a restart and reach every Puma worker and dyno.
    Redis,
}

const BROKER_ADAPTERS: kinds::Choice<BrokerAdapter> = kinds::Choice(&[
    ("memory", BrokerAdapter::Memory),
    ("redis", BrokerAdapter::Redis),
    ("none", BrokerAdapter::None),
]);

/// Which sessions get a `Disconnect` call when they end (`disconnect_mode`, as anycable-go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectMode {
    /// Those the app has seen: not a session whose connect and commands were all answered
    /// without it (a JWT connect, then only Turbo or `$pubsub` streams).
    Auto,
    /// Every welcomed session.
    Always,
    /// None: the app's `disconnect` and `unsubscribed` never run.
    Never,
}

const DISCONNECT_MODES: kinds::Choice<DisconnectMode> = kinds::Choice(&[
    ("auto", DisconnectMode::Auto),
    ("always", DisconnectMode::Always),
    ("never", DisconnectMode::Never),
]);

/// Log verbosity, as AnyCable names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything, including per-message lines.
    Debug,
    /// Connection lifecycle and state changes.
    Info,
    /// Recoverable problems.
    Warn,
    /// Failures only.
    Error,
}

const LOG_LEVELS: kinds::Choice<LogLevel> = kinds::Choice(&[
    ("debug", LogLevel::Debug),
    ("info", LogLevel::Info),
    ("warn", LogLevel::Warn),
    ("error", LogLevel::Error),
]);

/// How StatsD lines carry tags (`statsd_tags_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagsFormat {
    /// DogStatsD: `name:1|c|#key:value,key2:value2`.
    Datadog,
    /// InfluxDB's StatsD: `name,key=value,key2=value2:1|c`.
    Influxdb,
    /// Graphite: `name;key=value;key2=value2:1|c`.
    Graphite,
}

const TAGS_FORMATS: kinds::Choice<TagsFormat> = kinds::Choice(&[
    ("datadog", TagsFormat::Datadog),
    ("influxdb", TagsFormat::Influxdb),
    ("graphite", TagsFormat::Graphite),
]);

settings! {
    /// Mount path of the WebSocket endpoint (where `AnyCable::RS.server` is mounted).
    path: String = "/cable".into(), kinds::Path;
    /// Request headers passed to your connection class (`request.headers`), lower-case,
    /// comma-separated.
    headers: Vec<String> = vec!["cookie".into()], kinds::List { expected: "a list of header names", lowercase: true };
    /// Extra allowed `Origin` values, comma-separated: `*` (any), an origin, a host or
    /// `*.example.com`. Action Cable's own rules (`allowed_request_origins`, same origin as the
    /// host) apply as well; without Rails and with none given, any origin is allowed.
    allowed_origins: Vec<String> = Vec::new(), kinds::List { expected: "a list of origins", lowercase: false };
    /// Largest client frame accepted, in bytes; a bigger one closes that connection with code 1009.
    max_message_size: usize = 65_536, kinds::Int { min: 1, max: 64 << 20, unit: "a size in bytes" };
    /// Most subscriptions one connection may hold; a subscribe over it gets
    /// `reject_subscription` without calling the app.
    max_subscriptions: usize = 256, kinds::Int { min: 1, max: 100_000, unit: "a whole number" };
    /// Longest channel identifier a client may send, in bytes; a command with a longer one is
    /// refused without calling the app (a subscribe gets `reject_subscription`).
    max_identifier_size: usize = 4096, kinds::Int { min: 64, max: 1 << 20, unit: "a size in bytes" };
    /// Malformed commands (not JSON, an unknown command, a missing field) and commands over a
    /// limit above that one connection may send before it is closed with `invalid_request`
    /// (no reconnect). 0: no limit.
    max_invalid_commands: usize = 16, kinds::Int { min: 0, max: 1_000_000, unit: "a whole number" };
    /// Most bytes of messages that may wait for one client; a client with more unwritten is
    /// disconnected as `too_slow`. A burst of any length within it is delivered, and a broadcast
    /// bigger than it is refused when published (with a warning), so raise it to send bigger ones.
    max_outgoing_size: usize = 1 << 20, kinds::Int { min: 1024, max: 1 << 30, unit: "a size in bytes" };
    /// Seconds a client may take no bytes while messages wait for it before it is disconnected
    /// as `too_slow`; also the socket's `TCP_USER_TIMEOUT`, so a peer that vanished (no FIN) is
    /// dropped within about `ping_interval` plus this.
    write_timeout: Duration = Duration::from_secs(10), kinds::Seconds { min: 1, max: 3600 };
    /// Seconds between the server's Action Cable pings.
    ping_interval: Duration = Duration::from_secs(3), kinds::Seconds { min: 1, max: 3600 };
    /// Seconds an extended-protocol client (`actioncable-v1-ext-json`) may stay silent after a
    /// ping (clients answer with `pong`) before it is disconnected with `no_pong`. 0: no
    /// check. Stock Action Cable clients never answer pings and are not checked.
    pong_timeout: Duration = Duration::from_secs(6), kinds::Seconds { min: 0, max: 3600 };
    /// Where stream history and the sessions of clients that left are kept, for clients that
    /// reconnect with the extended protocol: `memory` (this process: lost on restart), `redis`
    /// (Redis Streams and keys at `redis_url`, shared by every process and kept over restarts;
    /// needs `broadcast_adapter: redis`) or `none` (broadcasts carry no stream position, nothing
    /// is restored).
    broker: BrokerAdapter = BrokerAdapter::Memory, BROKER_ADAPTERS;
    /// Most messages kept per stream for clients catching up.
    history_limit: usize = 100, kinds::Int { min: 1, max: 1_000_000, unit: "a whole number" };
    /// Seconds a stream's message is kept for clients catching up.
    history_ttl: Duration = Duration::from_secs(300), kinds::Seconds { min: 1, max: 86_400 };
    /// Most bytes of messages the `memory` broker keeps over all streams; a broadcast that
    /// would pass it makes room by dropping its own stream's oldest messages.
    history_max_bytes: usize = 64 << 20, kinds::Int { min: 0, max: 1 << 40, unit: "a size in bytes" };
    /// Seconds a session is kept after its client left, so that a client reconnecting with its
    /// `sid` gets identifiers, state and subscriptions back without `connect` or `subscribed`
    /// being called. 0: sessions are not kept.
    sessions_ttl: Duration = Duration::from_secs(300), kinds::Seconds { min: 0, max: 86_400 };
    /// Seconds a graceful shutdown may take: every client gets `server_restart` and every
    /// disconnect call is made within it.
    shutdown_timeout: Duration = Duration::from_secs(30), kinds::Seconds { min: 0, max: 3600 };
    /// Which sessions get a `Disconnect` call (the app's `disconnect` and `unsubscribed`) when
    /// they end: `auto` (every session the app has seen: not one whose connect and commands were
    /// all answered without it, such as a JWT connect with only Turbo streams), `always`, or
    /// `never`.
    disconnect_mode: DisconnectMode = DisconnectMode::Auto, DISCONNECT_MODES;
    /// Most WebSocket connections served at once; an upgrade over it gets HTTP 503 with
    /// `Retry-After`. 0: no limit. When unset, anycable-rs uses the open-files limit minus 10 % and 100
    /// descriptors.
    max_connections: usize = 0, kinds::Int { min: 0, max: 10_000_000, unit: "a whole number" };
    /// Remote RPC server for channel logic: `host:port` or `grpc(s)://host:port` for gRPC, an
    /// `http(s)://` URL for HTTP RPC. Unset: the app's own channels run in-process.
    rpc_host: Option<String> = None, kinds::Text("a host:port or http(s):// URL");
    /// The application secret other keys derive from (the HTTP RPC token, the broadcast key).
    secret: Option<Secret> = None, kinds::SecretText;
    /// Bearer token of HTTP RPC calls (both directions). Default: derived from `secret`.
    http_rpc_secret: Option<Secret> = None, kinds::SecretText;
    /// Key of AnyCable's JWT identification tokens (HS256): a client that connects with a token
    /// in the `jwt_param` query parameter (or the `X-JID` header) signed with it is welcomed with
    /// the identifiers of its `ext` claim and no `connect` call; expired: `token_expired`.
    /// Default: `secret`; with neither, tokens are left to the app.
    jwt_secret: Option<Secret> = None, kinds::SecretText;
    /// Seconds a token made by `AnyCable::JWT.encode` is valid. 0: no expiry.
    #[ruby_only = true]
    jwt_ttl: Duration = Duration::from_secs(3600), kinds::Seconds { min: 0, max: 31_536_000 };
    /// Query parameter of JWT identification tokens; the header is `X-` and this name.
    jwt_param: String = "jid".into(), kinds::Name("a query parameter name");
    /// Refuse connections without a JWT identification token (`unauthorized`).
    enforce_jwt: bool = false, kinds::Flag;
    /// Key of AnyCable's signed stream names: `$pubsub` subscribes with a `signed_stream_name`
    /// (`AnyCable::Streams.signed`, the `signed_stream_name` helper) are verified with it and
    /// answered without a call to the app. Default: `secret`; with neither, they are rejected.
    streams_secret: Option<Secret> = None, kinds::SecretText;
    /// `$pubsub` subscribers may `whisper` to the other subscribers of their stream.
    streams_whisper: bool = false, kinds::Flag;
    /// Most whispers one connection may send per second (as many at once after a pause); one
    /// over it is dropped and counts against `max_invalid_commands`. 0: no limit.
    max_whispers_per_second: usize = 20, kinds::Int { min: 0, max: 100_000, unit: "a whole number" };
    /// `$pubsub` subscribers may `join` their stream's presence set (and ask who is in it).
    streams_presence: bool = false, kinds::Flag;
    /// Seconds a presence record stays after its last session left without `leave` (its socket
    /// closed): a client that reconnects within it makes no leave and join.
    presence_ttl: Duration = Duration::from_secs(15), kinds::Seconds { min: 1, max: 3600 };
    /// Confirm `$pubsub` subscribes by a plain `stream_name` (anyone may listen to any stream
    /// by name): only for streams that hold nothing private.
    public_streams: bool = false, kinds::Flag;
    /// Answer `Turbo::StreamsChannel` subscribes (turbo-rails' `turbo_stream_from`) without a
    /// call to the app: the signed name is verified with Turbo's key and confirmed or rejected
    /// as turbo-rails' channel does. In a Rails app the key comes from turbo-rails at boot,
    /// and this is done only while the app's `Turbo::StreamsChannel` is the gem's own (not
    /// customised). `false`: every Turbo subscribe runs the channel.
    turbo_streams: bool = true, kinds::Flag;
    /// Turbo's signing key (`Turbo.signed_stream_verifier_key`) for `turbo_streams`, when it
    /// cannot be read from turbo-rails in this process: channels on a remote `rpc_host`, or
    /// no Rails here. Set it to what the app sets `config.turbo.signed_stream_verifier_key` to.
    turbo_streams_secret: Option<Secret> = None, kinds::SecretText;
    /// Most remote RPC calls (gRPC or HTTP) in flight at once.
    rpc_concurrency: usize = 28, kinds::Int { min: 1, max: 10_000, unit: "a whole number" };
    /// Ruby worker threads that run channel code in-process (with no `rpc_host`).
    rpc_pool_size: usize = 4, kinds::Int { min: 1, max: 256, unit: "a whole number" };
    /// Disconnect calls per second sent to a remote RPC server (a paced queue, flushed on
    /// shutdown).
    disconnect_rate: usize = 100, kinds::Int { min: 1, max: 1_000_000, unit: "calls per second" };
    /// Disconnect calls waiting to run (`disconnect_queue_size`) past which a warning is
    /// logged (again only after the backlog fell below half of it). They are never refused:
    /// that would skip the app's `unsubscribed`/`disconnect` callbacks.
    disconnect_backlog_warning: usize = 4096, kinds::Int { min: 1, max: 10_000_000, unit: "a whole number" };
    /// Use TLS for gRPC (also implied by `grpcs://` or `rpc_tls_root_ca`).
    rpc_enable_tls: bool = false, kinds::Flag;
    /// Verify the gRPC server's certificate; turn off for development certificates only.
    rpc_tls_verify: bool = true, kinds::Flag;
    /// CA of the gRPC server's certificate: a PEM file's path or the PEM itself. Unset: the
    /// system's roots.
    rpc_tls_root_ca: Option<String> = None, kinds::Text("a PEM file's path or the PEM itself");
    /// Where broadcasts from other processes come from: `local` (this process only), `redis`
    /// (AnyCable's format on `redis_channel`), or `http` (POST /_broadcast).
    broadcast_adapter: BroadcastAdapter = BroadcastAdapter::Local, BROADCAST_ADAPTERS;
    /// Redis URL (`redis://` or `rediss://`) for the Redis adapter; `REDIS_URL` is used when unset.
    #[also_env = "REDIS_URL"]
    redis_url: Option<String> = None, kinds::REDIS_URL;
    /// Redis pub/sub channel of AnyCable broadcasts.
    redis_channel: String = "__anycable__".into(), kinds::Name("a channel name");
    /// Verify the certificate of a `rediss://` server. Off by default: Heroku Redis presents a
    /// self-signed one.
    redis_tls_verify: bool = false, kinds::Flag;
    /// PEM file of a private CA that signed the Redis server's certificate (used when
    /// `redis_tls_verify` is on).
    redis_tls_ca_cert_path: Option<PathBuf> = None, kinds::PemFile;
    /// Also receive stock Action Cable's Redis format (`adapter: redis` in cable.yml); set for you
    /// when cable.yml says so.
    action_cable_redis: bool = false, kinds::Flag;
    /// cable.yml's `channel_prefix` for stock Action Cable's Redis format.
    channel_prefix: String = String::new(), kinds::Prefix { trim: false };
    /// Engine log level: `debug`, `info`, `warn` or `error`. Lines go to the app's logger.
    log_level: LogLevel = LogLevel::Info, LOG_LEVELS;
    /// Verbose diagnostics: debug logs and, at boot, the effective configuration (secrets
    /// filtered).
    debug: bool = false, kinds::Flag;
    /// `host:port` of a StatsD agent (e.g. the Datadog agent) to send metrics to over UDP. Unset:
    /// no StatsD.
    statsd_host: Option<String> = None, kinds::HOST_PORT;
    /// Prefix of every StatsD metric name.
    statsd_prefix: String = "anycable_go.".into(), kinds::Prefix { trim: true };
    /// Largest StatsD UDP packet, in bytes; metric lines are packed up to it.
    statsd_max_packet_size: usize = 1400, kinds::Int { min: 64, max: 65_000, unit: "a size in bytes" };
    /// How StatsD lines carry `metrics_tags`: `datadog`, `influxdb` or `graphite`.
    statsd_tags_format: TagsFormat = TagsFormat::Datadog, TAGS_FORMATS;
    /// Tags added to every metric, `key:value` comma-separated (e.g. `env:production,dyno:web.1`).
    metrics_tags: Vec<(String, String)> = Vec::new(), kinds::Tags;
    /// Seconds between two StatsD flushes.
    metrics_rotate_interval: Duration = Duration::from_secs(15), kinds::Seconds { min: 1, max: 3600 };
    /// Bearer token of the HTTP broadcast endpoint (POST /_broadcast). Default: hex HMAC-SHA256 of
    /// `secret` with "broadcast-cable".
    #[ruby_only = true]
    broadcast_key: Option<Secret> = None, kinds::SecretText;
    /// Where the Railtie mounts the HTTP RPC endpoint that serves this app's channels to another
    /// WebSocket server. Mounted only when this setting is given (or with
    /// `config.anycable_rs.http_rpc_endpoint = true`, at the default path).
    #[ruby_only = true]
    http_rpc_mount_path: String = "/_anycable".into(), kinds::Path;
    /// Platform presets, comma-separated (`heroku`); unset: detected from the environment; `none`:
    /// off. A preset never overrides a setting you give.
    #[ruby_only = true]
    presets: Option<String> = None, kinds::Text("a string");
    /// Path where the Railtie mounts the Prometheus metrics endpoint (e.g. `/metrics`). Unset: not
    /// mounted.
    #[ruby_only = true]
    metrics_http: Option<String> = None, kinds::PATH;
    /// `user:password` the Prometheus endpoint requires (HTTP Basic). Unset: no auth.
    #[ruby_only = true]
    metrics_http_basic_auth: Option<Secret> = None, kinds::SecretText;
    /// Path where the Railtie mounts the health endpoint (e.g. `/health`): 200 while the runtime
    /// and the worker threads are alive, 503 otherwise. Unset: not mounted.
    #[ruby_only = true]
    health_path: Option<String> = None, kinds::PATH;
}

/// A setting that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No such key; carries the closest known key, if any is close.
    UnknownKey {
        /// The key as given.
        key: String,
        /// The known key it most likely meant.
        suggestion: Option<&'static str>,
    },
    /// The key exists but the value is not one it accepts.
    InvalidValue {
        /// The key.
        key: &'static str,
        /// The value as given, rendered as JSON.
        value: String,
        /// What the key accepts, in words.
        expected: String,
    },
    /// A setting that others make necessary is not set.
    Missing {
        /// The missing key.
        key: &'static str,
        /// Which setting needs it, in words.
        needed_by: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey { key, suggestion: Some(s) } => {
                write!(f, "unknown setting `{key}`; did you mean `{s}`?")
            }
            Self::UnknownKey { key, suggestion: None } => {
                let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
                write!(f, "unknown setting `{key}`; known settings: {}", known.join(", "))
            }
            Self::InvalidValue { key, value, expected } => {
                write!(f, "invalid value {value} for `{key}`: expected {expected}")
            }
            Self::Missing { key, needed_by } => write!(f, "`{key}` must be set: {needed_by}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Builds a config from defaults plus the given settings, applied in order.
    pub fn from_map(settings: &Map<String, Value>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        for (key, value) in settings {
            config.set(key, value)?;
        }
        Ok(config)
    }

    /// Checks settings that depend on each other: a Redis broadcast source needs `redis_url`,
    /// `enforce_jwt` a key.
    /// Not part of [`Self::from_map`], so settings can be given one at a time in any order;
    /// the node checks when it starts (and logs the error, keeping in-process delivery).
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.broker == BrokerAdapter::Redis && self.broadcast_adapter != BroadcastAdapter::Redis {
            return Err(ConfigError::Missing {
                key: "broadcast_adapter: redis",
                needed_by:
                    "broker is redis (broadcasts get their stream position as they pass through Redis)"
                        .to_owned(),
            });
        }
        if self.enforce_jwt && self.jwt_secret.is_none() && self.secret.is_none() {
            return Err(ConfigError::Missing {
                key: "jwt_secret",
                needed_by: "enforce_jwt is on (clients connect with tokens signed with it; or set secret)"
                    .to_owned(),
            });
        }
        if self.redis_url.is_none() {
            let needed_by = if self.broadcast_adapter == BroadcastAdapter::Redis {
                Some("broadcast_adapter is redis (set redis_url or REDIS_URL)")
            } else if self.action_cable_redis {
                Some("action_cable_redis is on (set redis_url or REDIS_URL)")
            } else {
                None
            };
            if let Some(needed_by) = needed_by {
                return Err(ConfigError::Missing { key: "redis_url", needed_by: needed_by.to_owned() });
            }
        }
        Ok(())
    }

    /// Whether broadcasts come in through Redis (either format).
    pub fn uses_redis(&self) -> bool {
        self.broadcast_adapter == BroadcastAdapter::Redis || self.action_cable_redis
    }

    /// Applies one setting; `null` sets it back to its default.
    pub fn set(&mut self, key: &str, value: &Value) -> Result<(), ConfigError> {
        let Some(setting) = setting(key) else {
            let suggestion = spelling::nearest(key, SETTINGS.iter().map(|s| s.key));
            return Err(ConfigError::UnknownKey { key: key.to_owned(), suggestion });
        };
        self.apply(setting.key, value).map_err(|expected| ConfigError::InvalidValue {
            key: setting.key,
            // Not even a mistyped secret is echoed in the error, nor a password in a URL.
            value: if setting.secret {
                secret::FILTERED.to_owned()
            } else {
                without_password(&value.to_string())
            },
            expected,
        })
    }

    /// The effective settings as JSON, with AnyCable's names (durations in seconds). Secrets
    /// that are set show as `"[FILTERED]"`, so the map can be logged. `log_level` is the
    /// effective one (`debug: true` shows as `debug`).
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = self.render_all();
        map.insert("log_level".into(), LOG_LEVELS.name(self.effective_log_level()).into());
        map
    }

    /// The Bearer token of HTTP RPC calls: `http_rpc_secret`, else the hex HMAC-SHA256 of
    /// `secret` with the message `rpc-cable` (as AnyCable derives it), else none.
    pub fn http_rpc_secret(&self) -> Option<Secret> {
        let derived = || self.secret.as_ref().map(|s| s.derive(secret::HTTP_RPC_PURPOSE));
        self.http_rpc_secret.clone().or_else(derived)
    }

    /// The level logs are written at: `debug: true` lowers it to `debug`.
    pub fn effective_log_level(&self) -> LogLevel {
        if self.debug {
            LogLevel::Debug
        } else {
            self.log_level
        }
    }
}

/// `text` with the password of every `scheme://user:password@` in it shown as `[FILTERED]`.
fn without_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority = tail.find(['/', '"', ' ']).map_or(tail, |end| &tail[..end]);
        match authority.rfind('@').and_then(|a| authority[..a].find(':').map(|c| (c, a))) {
            Some((colon, at_sign)) => {
                out.push_str(&tail[..=colon]);
                out.push_str(secret::FILTERED);
                rest = &tail[at_sign..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// The setting named `key`.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}
