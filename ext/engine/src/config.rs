//! Settings of a server, with AnyCable's names and defaults (docs/configuration.md).
//!
//! Values arrive as [`serde_json::Value`]s from YAML, environment variables (strings) or Ruby
//! code, so every setter accepts the loose forms people write (`"3"` for `3`, `"cookie,x-api"`
//! for a list) and answers a bad value with an error that names the key and what it accepts.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::secret::{self, Secret};

/// Every setting the engine knows, in the order the docs list them.
pub const KEYS: &[&str] = &[
    "path",
    "headers",
    "allowed_origins",
    "max_message_size",
    "ping_interval",
    "shutdown_timeout",
    "max_connections",
    "rpc_host",
    "secret",
    "http_rpc_secret",
    "rpc_concurrency",
    "rpc_pool_size",
    "disconnect_rate",
    "rpc_enable_tls",
    "rpc_tls_verify",
    "rpc_tls_root_ca",
    "broadcast_adapter",
    "redis_url",
    "redis_channel",
    "redis_tls_verify",
    "redis_tls_ca_cert_path",
    "action_cable_redis",
    "channel_prefix",
    "log_level",
    "debug",
    "statsd_host",
    "statsd_prefix",
    "statsd_max_packet_size",
    "statsd_tags_format",
    "metrics_tags",
    "metrics_rotate_interval",
];

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

impl BroadcastAdapter {
    const NAMES: &'static [&'static str] = &["local", "redis", "http"];

    fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Redis => "redis",
            Self::Http => "http",
        }
    }
}

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

impl LogLevel {
    const NAMES: &'static [&'static str] = &["debug", "info", "warn", "error"];

    fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

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

impl TagsFormat {
    const NAMES: &'static [&'static str] = &["datadog", "influxdb", "graphite"];

    fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The validated settings of one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Mount path of the WebSocket endpoint.
    pub path: String,
    /// Request headers passed to `connect` (lower-case names).
    pub headers: Vec<String>,
    /// Extra allowed `Origin` values; `*` allows any. Empty: the application decides.
    pub allowed_origins: Vec<String>,
    /// Largest client frame accepted, in bytes.
    pub max_message_size: usize,
    /// Interval between server pings.
    pub ping_interval: Duration,
    /// How long a graceful shutdown may take.
    pub shutdown_timeout: Duration,
    /// Most WebSocket connections served at once (0: no limit); an upgrade over it is refused.
    pub max_connections: usize,
    /// Remote RPC server; `None` means the in-process bridge.
    pub rpc_host: Option<String>,
    /// The application secret AnyCable derives other keys from (see [`Self::http_rpc_secret`]).
    pub secret: Option<Secret>,
    /// The Bearer token of HTTP RPC calls; use [`Self::http_rpc_secret`], which falls back to
    /// the one derived from `secret`.
    pub http_rpc_secret: Option<Secret>,
    /// Most RPC calls in flight at once.
    pub rpc_concurrency: usize,
    /// Ruby worker threads of the in-process bridge.
    pub rpc_pool_size: usize,
    /// Disconnect calls per second sent to the RPC side.
    pub disconnect_rate: u32,
    /// gRPC over TLS (also implied by a `grpcs://` `rpc_host` or a `rpc_tls_root_ca`).
    pub rpc_enable_tls: bool,
    /// Verify the gRPC server's certificate (off: any certificate is accepted; development only).
    pub rpc_tls_verify: bool,
    /// The CA that signed the gRPC server's certificate: a PEM file's path or the PEM itself
    /// (unset: the system's roots).
    pub rpc_tls_root_ca: Option<String>,
    /// Where broadcasts come from.
    pub broadcast_adapter: BroadcastAdapter,
    /// Redis URL for the Redis adapter.
    pub redis_url: Option<String>,
    /// Redis pub/sub channel of AnyCable-format broadcasts.
    pub redis_channel: String,
    /// Verify the certificate of a `rediss://` server (off by default: Heroku Redis presents a
    /// self-signed one).
    pub redis_tls_verify: bool,
    /// PEM file of a private CA that signed the Redis server's certificate; used when
    /// `redis_tls_verify` is on (the system's roots are used otherwise).
    pub redis_tls_ca_cert_path: Option<PathBuf>,
    /// Also receive stock Action Cable's Redis format (`adapter: redis` in `cable.yml`):
    /// subscribe to `<channel_prefix>:<stream>` while a stream has local subscribers, and to
    /// `<channel_prefix>:action_cable/<connection id>` for remote disconnects.
    pub action_cable_redis: bool,
    /// `channel_prefix` of `cable.yml`, joined with `:` before every Action Cable Redis channel
    /// name, as Rails does (empty: no prefix).
    pub channel_prefix: String,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Verbose diagnostics (implies `log_level: debug`).
    pub debug: bool,
    /// `host:port` of a StatsD agent (e.g. Datadog's); unset: no StatsD.
    pub statsd_host: Option<String>,
    /// Prepended to every StatsD metric name.
    pub statsd_prefix: String,
    /// Largest StatsD UDP packet, in bytes; lines are packed up to it.
    pub statsd_max_packet_size: usize,
    /// How StatsD lines carry tags.
    pub statsd_tags_format: TagsFormat,
    /// Tags added to every metric (StatsD and Prometheus), in the order given.
    pub metrics_tags: Vec<(String, String)>,
    /// How often metrics are sent to StatsD.
    pub metrics_rotate_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            path: "/cable".into(),
            headers: vec!["cookie".into()],
            allowed_origins: Vec::new(),
            max_message_size: 65_536,
            ping_interval: Duration::from_secs(3),
            shutdown_timeout: Duration::from_secs(30),
            max_connections: 0,
            rpc_host: None,
            secret: None,
            http_rpc_secret: None,
            rpc_concurrency: 28,
            rpc_pool_size: 4,
            disconnect_rate: 100,
            rpc_enable_tls: false,
            rpc_tls_verify: true,
            rpc_tls_root_ca: None,
            broadcast_adapter: BroadcastAdapter::Local,
            redis_url: None,
            redis_channel: "__anycable__".into(),
            redis_tls_verify: false,
            redis_tls_ca_cert_path: None,
            action_cable_redis: false,
            channel_prefix: String::new(),
            log_level: LogLevel::Info,
            debug: false,
            statsd_host: None,
            statsd_prefix: "anycable_go.".into(),
            statsd_max_packet_size: 1400,
            statsd_tags_format: TagsFormat::Datadog,
            metrics_tags: Vec::new(),
            metrics_rotate_interval: Duration::from_secs(15),
        }
    }
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
                write!(f, "unknown setting `{key}`; known settings: {}", KEYS.join(", "))
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

    /// Checks settings that depend on each other: a Redis broadcast source needs `redis_url`.
    /// Not part of [`Self::from_map`], so settings can be given one at a time in any order;
    /// the node checks when it starts (and logs the error, keeping in-process delivery).
    pub fn check(&self) -> Result<(), ConfigError> {
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

    /// Applies one setting. `null` resets optional settings and is rejected elsewhere.
    pub fn set(&mut self, key: &str, value: &Value) -> Result<(), ConfigError> {
        let Some(&key) = KEYS.iter().find(|k| **k == key) else {
            return Err(ConfigError::UnknownKey { key: key.to_owned(), suggestion: suggest(key) });
        };
        let bad = |expected: &str| ConfigError::InvalidValue {
            key,
            value: value.to_string(),
            expected: expected.to_owned(),
        };
        match key {
            "path" => {
                let path = string(value).filter(|p| p.starts_with('/'));
                self.path = path.ok_or_else(|| bad("a path starting with `/`"))?;
            }
            "headers" => {
                let list = list(value).ok_or_else(|| bad("a list of header names"))?;
                self.headers = list.into_iter().map(|h| h.to_ascii_lowercase()).collect();
            }
            "allowed_origins" => {
                self.allowed_origins = list(value).ok_or_else(|| bad("a list of origins"))?;
            }
            "max_message_size" => {
                self.max_message_size = integer(value, 1, 64 << 20)
                    .ok_or_else(|| bad("a size in bytes from 1 to 67108864"))?
                    as usize;
            }
            "ping_interval" => {
                self.ping_interval = Duration::from_secs(
                    integer(value, 1, 3600).ok_or_else(|| bad("seconds from 1 to 3600"))?,
                );
            }
            "shutdown_timeout" => {
                self.shutdown_timeout = Duration::from_secs(
                    integer(value, 0, 3600).ok_or_else(|| bad("seconds from 0 to 3600"))?,
                );
            }
            "max_connections" => {
                self.max_connections = integer(value, 0, 10_000_000)
                    .ok_or_else(|| bad("a whole number from 0 (no limit) to 10000000"))?
                    as usize;
            }
            "rpc_host" => {
                self.rpc_host = optional_string(value).map_err(|()| bad("a host:port or http(s):// URL"))?
            }
            "secret" | "http_rpc_secret" => {
                // Not even a mistyped secret is echoed in the error.
                let secret = optional_secret(value).map_err(|()| ConfigError::InvalidValue {
                    key,
                    value: secret::FILTERED.to_owned(),
                    expected: "a string".to_owned(),
                })?;
                if key == "secret" {
                    self.secret = secret;
                } else {
                    self.http_rpc_secret = secret;
                }
            }
            "rpc_concurrency" => {
                self.rpc_concurrency =
                    integer(value, 1, 10_000).ok_or_else(|| bad("a whole number from 1 to 10000"))? as usize;
            }
            "rpc_pool_size" => {
                self.rpc_pool_size =
                    integer(value, 1, 256).ok_or_else(|| bad("a whole number from 1 to 256"))? as usize;
            }
            "disconnect_rate" => {
                self.disconnect_rate = integer(value, 1, 1_000_000)
                    .ok_or_else(|| bad("calls per second from 1 to 1000000"))?
                    as u32;
            }
            "rpc_enable_tls" => self.rpc_enable_tls = boolean(value).ok_or_else(|| bad("true or false"))?,
            "rpc_tls_verify" => self.rpc_tls_verify = boolean(value).ok_or_else(|| bad("true or false"))?,
            "rpc_tls_root_ca" => {
                self.rpc_tls_root_ca =
                    optional_string(value).map_err(|()| bad("a PEM file's path or the PEM itself"))?
            }
            "broadcast_adapter" => {
                self.broadcast_adapter = match string(value).as_deref() {
                    Some("local") => BroadcastAdapter::Local,
                    Some("redis") => BroadcastAdapter::Redis,
                    Some("http") => BroadcastAdapter::Http,
                    _ => return Err(bad(&one_of(BroadcastAdapter::NAMES))),
                };
            }
            "redis_url" => {
                let expected = "a redis:// or rediss:// URL";
                let url = optional_string(value).map_err(|()| bad(expected))?;
                if url.as_deref().is_some_and(|u| !u.starts_with("redis://") && !u.starts_with("rediss://")) {
                    return Err(bad(expected));
                }
                self.redis_url = url;
            }
            "redis_channel" => {
                self.redis_channel =
                    string(value).filter(|c| !c.is_empty()).ok_or_else(|| bad("a channel name"))?;
            }
            "redis_tls_verify" => {
                self.redis_tls_verify = boolean(value).ok_or_else(|| bad("true or false"))?
            }
            "redis_tls_ca_cert_path" => {
                let expected = "the path of a readable PEM file";
                let path = optional_string(value).map_err(|()| bad(expected))?.map(PathBuf::from);
                if path.as_ref().is_some_and(|p| !p.is_file()) {
                    return Err(bad(&format!("{expected} (no such file)")));
                }
                self.redis_tls_ca_cert_path = path;
            }
            "action_cable_redis" => {
                self.action_cable_redis = boolean(value).ok_or_else(|| bad("true or false"))?
            }
            "channel_prefix" => {
                self.channel_prefix = match value {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(), // kept as written: a prefix may end in a space
                    _ => return Err(bad("a string")),
                };
            }
            "log_level" => {
                let level = string(value).map(|s| s.to_ascii_lowercase());
                let index = level.and_then(|l| LogLevel::NAMES.iter().position(|n| *n == l));
                self.log_level = match index {
                    Some(0) => LogLevel::Debug,
                    Some(1) => LogLevel::Info,
                    Some(2) => LogLevel::Warn,
                    Some(3) => LogLevel::Error,
                    _ => return Err(bad(&one_of(LogLevel::NAMES))),
                };
            }
            "debug" => self.debug = boolean(value).ok_or_else(|| bad("true or false"))?,
            "statsd_host" => {
                let expected = "host:port";
                let host = optional_string(value).map_err(|()| bad(expected))?;
                if host
                    .as_deref()
                    .is_some_and(|h| h.rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().is_err()))
                {
                    return Err(bad(expected));
                }
                self.statsd_host = host;
            }
            "statsd_prefix" => {
                self.statsd_prefix = match value {
                    Value::Null => String::new(),
                    Value::String(s) => s.trim().to_owned(),
                    _ => return Err(bad("a string")),
                };
            }
            "statsd_max_packet_size" => {
                self.statsd_max_packet_size = integer(value, 64, 65_000)
                    .ok_or_else(|| bad("a size in bytes from 64 to 65000"))?
                    as usize;
            }
            "statsd_tags_format" => {
                let name = string(value).map(|s| s.to_ascii_lowercase());
                let index = name.and_then(|n| TagsFormat::NAMES.iter().position(|f| *f == n));
                self.statsd_tags_format = match index {
                    Some(0) => TagsFormat::Datadog,
                    Some(1) => TagsFormat::Influxdb,
                    Some(2) => TagsFormat::Graphite,
                    _ => return Err(bad(&one_of(TagsFormat::NAMES))),
                };
            }
            "metrics_tags" => {
                self.metrics_tags =
                    tags(value).ok_or_else(|| bad("key:value pairs (`env:prod,region:eu`)"))?;
            }
            "metrics_rotate_interval" => {
                self.metrics_rotate_interval = Duration::from_secs(
                    integer(value, 1, 3600).ok_or_else(|| bad("seconds from 1 to 3600"))?,
                );
            }
            _ => unreachable!("every key of KEYS has a setter"),
        }
        Ok(())
    }

    /// The effective settings as JSON, with AnyCable's names (durations in seconds). Secrets
    /// that are set show as `"[FILTERED]"`, so the map can be logged.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("path".into(), self.path.clone().into());
        map.insert("headers".into(), self.headers.clone().into());
        map.insert("allowed_origins".into(), self.allowed_origins.clone().into());
        map.insert("max_message_size".into(), self.max_message_size.into());
        map.insert("ping_interval".into(), self.ping_interval.as_secs().into());
        map.insert("shutdown_timeout".into(), self.shutdown_timeout.as_secs().into());
        map.insert("max_connections".into(), self.max_connections.into());
        map.insert("rpc_host".into(), self.rpc_host.clone().into());
        map.insert("secret".into(), filtered(self.secret.as_ref()));
        map.insert("http_rpc_secret".into(), filtered(self.http_rpc_secret.as_ref()));
        map.insert("rpc_concurrency".into(), self.rpc_concurrency.into());
        map.insert("rpc_pool_size".into(), self.rpc_pool_size.into());
        map.insert("disconnect_rate".into(), self.disconnect_rate.into());
        map.insert("rpc_enable_tls".into(), self.rpc_enable_tls.into());
        map.insert("rpc_tls_verify".into(), self.rpc_tls_verify.into());
        map.insert("rpc_tls_root_ca".into(), self.rpc_tls_root_ca.clone().into());
        map.insert("broadcast_adapter".into(), self.broadcast_adapter.name().into());
        map.insert("redis_url".into(), self.redis_url.clone().into());
        map.insert("redis_channel".into(), self.redis_channel.clone().into());
        map.insert("redis_tls_verify".into(), self.redis_tls_verify.into());
        let ca = self.redis_tls_ca_cert_path.as_ref().map(|p| p.to_string_lossy().into_owned());
        map.insert("redis_tls_ca_cert_path".into(), ca.into());
        map.insert("action_cable_redis".into(), self.action_cable_redis.into());
        map.insert("channel_prefix".into(), self.channel_prefix.clone().into());
        map.insert("log_level".into(), self.effective_log_level().name().into());
        map.insert("debug".into(), self.debug.into());
        map.insert("statsd_host".into(), self.statsd_host.clone().into());
        map.insert("statsd_prefix".into(), self.statsd_prefix.clone().into());
        map.insert("statsd_max_packet_size".into(), self.statsd_max_packet_size.into());
        map.insert("statsd_tags_format".into(), self.statsd_tags_format.name().into());
        let tags: Vec<String> = self.metrics_tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        map.insert("metrics_tags".into(), if tags.is_empty() { Value::Null } else { tags.join(",").into() });
        map.insert("metrics_rotate_interval".into(), self.metrics_rotate_interval.as_secs().into());
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

fn filtered(secret: Option<&Secret>) -> Value {
    secret.map_or(Value::Null, |_| secret::FILTERED.into())
}

/// Like [`optional_string`]; a secret is kept as written, only surrounding blanks go.
fn optional_secret(value: &Value) -> Result<Option<Secret>, ()> {
    Ok(optional_string(value)?.map(Secret::new))
}

fn one_of(names: &[&str]) -> String {
    format!("one of {}", names.join(", "))
}

fn string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `null` or `""` mean "not set"; anything else must be a string.
fn optional_string(value: &Value) -> Result<Option<String>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_owned())),
        _ => Err(()),
    }
}

/// A JSON array of strings, or a comma-separated string (the environment-variable form).
fn list(value: &Value) -> Option<Vec<String>> {
    let items: Vec<String> = match value {
        Value::Array(items) => items.iter().map(string).collect::<Option<_>>()?,
        Value::String(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        _ => return None,
    };
    Some(items.into_iter().filter(|s| !s.is_empty()).collect())
}

/// Metric tags: `"key:value,key2:value2"` (the environment-variable form), a list of
/// `key:value` strings, or a mapping. Keys and values must be non-empty.
fn tags(value: &Value) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = match value {
        Value::Null => Vec::new(),
        Value::Object(map) => {
            map.iter().map(|(k, v)| Some((k.trim().to_owned(), string(v)?))).collect::<Option<_>>()?
        }
        _ => list(value)?
            .iter()
            .map(|pair| pair.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
            .collect::<Option<_>>()?,
    };
    let valid = |s: &str| !s.is_empty() && !s.contains([',', '|', '#', '\n', ';', '=']);
    pairs.iter().all(|(k, v)| valid(k) && valid(v)).then_some(pairs)
}

fn integer(value: &Value, min: u64, max: u64) -> Option<u64> {
    let n = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (min..=max).contains(&n).then_some(n)
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The known key nearest to `key` by edit distance, if it is a plausible typo.
fn suggest(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    KEYS.iter()
        .map(|k| (edit_distance(&key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from(value: Value) -> Result<Config, ConfigError> {
        Config::from_map(value.as_object().unwrap())
    }

    #[test]
    fn defaults_follow_anycable() {
        let c = Config::default();
        assert_eq!(c.path, "/cable");
        assert_eq!(c.headers, ["cookie"]);
        assert_eq!(c.max_message_size, 65_536);
        assert_eq!(c.ping_interval, Duration::from_secs(3));
        assert_eq!(c.rpc_concurrency, 28);
        assert_eq!(c.disconnect_rate, 100);
        assert!(!c.rpc_enable_tls && c.rpc_tls_verify && c.rpc_tls_root_ca.is_none());
        assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(c.redis_channel, "__anycable__");
        assert_eq!(c.broadcast_adapter, BroadcastAdapter::Local);
    }

    #[test]
    fn accepts_environment_strings() {
        let c = from(json!({
            "ping_interval": "5",
            "headers": "Cookie, X-Api-Key",
            "debug": "true",
            "broadcast_adapter": "redis",
            "redis_url": "rediss://:pw@example.com:6380",
            "redis_tls_verify": "true",
            "action_cable_redis": "1",
            "channel_prefix": "app_production",
        }))
        .unwrap();
        assert_eq!(c.ping_interval, Duration::from_secs(5));
        assert_eq!(c.headers, ["cookie", "x-api-key"]);
        assert!(c.debug);
        assert_eq!(c.effective_log_level(), LogLevel::Debug);
        assert_eq!(c.broadcast_adapter, BroadcastAdapter::Redis);
        assert_eq!(c.redis_url.as_deref(), Some("rediss://:pw@example.com:6380"));
        assert!(c.redis_tls_verify && c.action_cable_redis && c.uses_redis());
        assert_eq!(c.channel_prefix, "app_production");
    }

    #[test]
    fn redis_sources_need_a_url() {
        let err = from(json!({"broadcast_adapter": "redis"})).unwrap().check().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`redis_url` must be set: broadcast_adapter is redis (set redis_url or REDIS_URL)"
        );
        let err = from(json!({"action_cable_redis": true, "redis_url": ""})).unwrap().check().unwrap_err();
        assert!(err.to_string().contains("action_cable_redis is on"), "{err}");
        let c = from(json!({"broadcast_adapter": "local", "redis_url": "redis://h"})).unwrap();
        assert!(!c.uses_redis(), "a REDIS_URL alone starts nothing");
        assert_eq!(c.check(), Ok(()));
        assert!(!Config::default().redis_tls_verify);
    }

    #[test]
    fn the_ca_path_must_be_a_file() {
        let err = from(json!({"redis_tls_ca_cert_path": "/nonexistent/ca.pem"})).unwrap_err();
        assert!(err.to_string().contains("no such file"), "{err}");
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let c = from(json!({"redis_tls_ca_cert_path": manifest})).unwrap();
        assert_eq!(c.redis_tls_ca_cert_path.as_deref(), Some(std::path::Path::new(manifest)));
        assert_eq!(from(json!({"redis_tls_ca_cert_path": null})).unwrap().redis_tls_ca_cert_path, None);
    }

    #[test]
    fn empty_optional_values_mean_unset() {
        let c = from(json!({"rpc_host": "", "redis_url": null})).unwrap();
        assert_eq!(c.rpc_host, None);
        assert_eq!(c.redis_url, None);
    }

    #[test]
    fn bad_values_name_the_key_and_what_it_accepts() {
        let err = from(json!({"ping_interval": "soon"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid value "soon" for `ping_interval`: expected seconds from 1 to 3600"#
        );
        let err = from(json!({"max_message_size": 0})).unwrap_err();
        assert!(err.to_string().contains("`max_message_size`"), "{err}");
        let err = from(json!({"broadcast_adapter": "nats"})).unwrap_err();
        assert!(err.to_string().ends_with("expected one of local, redis, http"), "{err}");
        let err = from(json!({"redis_url": "http://localhost"})).unwrap_err();
        assert!(err.to_string().contains("redis:// or rediss://"), "{err}");
        let err = from(json!({"path": "cable"})).unwrap_err();
        assert!(err.to_string().contains("starting with `/`"), "{err}");
    }

    #[test]
    fn unknown_keys_suggest_the_nearest_known_one() {
        let err = from(json!({"ping_intrval": 3})).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting `ping_intrval`; did you mean `ping_interval`?");
        let err = from(json!({"zzz": 1})).unwrap_err();
        assert!(err.to_string().starts_with("unknown setting `zzz`; known settings: path,"), "{err}");
    }

    #[test]
    fn secrets_are_filtered_and_the_http_rpc_one_derives_from_secret() {
        let c = from(json!({"secret": " s3cr3t\n"})).unwrap();
        // `echo -n rpc-cable | openssl dgst -sha256 -hmac s3cr3t`
        let derived = "4b7da2749fe2a4534cec0d2acbd16277a800cf2acd31158ac4edae4a62a8f18d";
        assert_eq!(c.http_rpc_secret().unwrap().expose(), derived);
        assert_eq!(c.to_map()["secret"], "[FILTERED]");
        assert_eq!(c.to_map()["http_rpc_secret"], Value::Null);
        assert!(!format!("{c:?}").contains("s3cr3t"), "Debug shows no secret");

        let c = from(json!({"secret": "s3cr3t", "http_rpc_secret": "explicit"})).unwrap();
        assert_eq!(c.http_rpc_secret().unwrap().expose(), "explicit", "an explicit one wins");
        assert_eq!(c.to_map()["http_rpc_secret"], "[FILTERED]");
        assert_eq!(from(json!({"secret": ""})).unwrap().http_rpc_secret(), None);
        let err = from(json!({"http_rpc_secret": 42})).unwrap_err();
        assert_eq!(err.to_string(), "invalid value [FILTERED] for `http_rpc_secret`: expected a string");
    }

    #[test]
    fn max_connections_is_a_count_where_zero_means_no_limit() {
        assert_eq!(Config::default().max_connections, 0);
        assert_eq!(from(json!({"max_connections": "9000"})).unwrap().max_connections, 9000);
        assert_eq!(from(json!({"max_connections": 0})).unwrap().to_map()["max_connections"], 0);
        let err = from(json!({"max_connections": -1})).unwrap_err();
        assert!(err.to_string().contains("`max_connections`: expected a whole number from 0"), "{err}");
        let err = from(json!({"max_conections": 5})).unwrap_err();
        assert!(err.to_string().ends_with("did you mean `max_connections`?"), "{err}");
    }

    #[test]
    fn metrics_settings_take_anycable_forms() {
        let c = from(json!({
            "statsd_host": "127.0.0.1:8125",
            "statsd_tags_format": "InfluxDB",
            "metrics_tags": "env:prod, region:eu",
            "metrics_rotate_interval": "5",
        }))
        .unwrap();
        assert_eq!(c.statsd_host.as_deref(), Some("127.0.0.1:8125"));
        assert_eq!(c.statsd_tags_format, TagsFormat::Influxdb);
        assert_eq!(c.metrics_tags, [("env".into(), "prod".into()), ("region".into(), "eu".into())]);
        assert_eq!(c.metrics_rotate_interval, Duration::from_secs(5));
        assert_eq!(c.to_map()["metrics_tags"], "env:prod,region:eu");
        assert_eq!(Config::default().statsd_prefix, "anycable_go.");
        assert_eq!(Config::default().statsd_max_packet_size, 1400);
        let c = from(json!({"metrics_tags": {"dyno": "web.1"}})).unwrap();
        assert_eq!(c.metrics_tags, [("dyno".into(), "web.1".into())]);

        let err = from(json!({"statsd_host": "localhost"})).unwrap_err();
        assert!(err.to_string().ends_with("expected host:port"), "{err}");
        let err = from(json!({"metrics_tags": "env"})).unwrap_err();
        assert!(err.to_string().contains("key:value pairs"), "{err}");
        let err = from(json!({"statsd_tags_format": "json"})).unwrap_err();
        assert!(err.to_string().ends_with("one of datadog, influxdb, graphite"), "{err}");
    }

    #[test]
    fn to_map_round_trips() {
        let c = from(json!({
            "headers": ["cookie", "authorization"],
            "ping_interval": 7,
            "metrics_tags": "a:1,b:2",
            "statsd_host": "localhost:8125",
        }))
        .unwrap();
        let again = Config::from_map(&c.to_map()).unwrap();
        assert_eq!(c, again);
        assert_eq!(c.to_map().len(), KEYS.len());
    }
}
