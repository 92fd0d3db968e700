//! What each setting of [`crate::config`] is for, in a sentence or two: the text of the
//! generated configuration reference (`docs/configuration.md`, `rake docs:config`) and of the
//! commented `config/anycable.yml` the install generator writes.

/// `(key, description)` for every key of [`crate::config::KEYS`], in the same order.
pub const DESCRIPTIONS: &[(&str, &str)] = &[
    ("path", "Mount path of the WebSocket endpoint (where `AnyCable::RS.server` is mounted)."),
    ("headers", "Request headers passed to your connection class (`request.headers`), lower-case, comma-separated."),
    ("allowed_origins", "Extra allowed `Origin` values, comma-separated: `*` (any), an origin, a host or `*.example.com`. Action Cable's own rules (`allowed_request_origins`, same origin as the host) apply as well; without Rails and with none given, any origin is allowed."),
    ("max_message_size", "Largest client frame accepted, in bytes; a bigger one closes that connection with code 1009."),
    ("ping_interval", "Seconds between the server's Action Cable pings."),
    ("shutdown_timeout", "Seconds a graceful shutdown may take: every client gets `server_restart` and every disconnect call is made within it."),
    ("max_connections", "Most WebSocket connections served at once; an upgrade over it gets HTTP 503 with `Retry-After`. 0: no limit. When unset, anycable-rs uses the open-files limit minus 10 % and 100 descriptors."),
    ("rpc_host", "Remote RPC server for channel logic: `host:port` or `grpc(s)://host:port` for gRPC, an `http(s)://` URL for HTTP RPC. Unset: the app's own channels run in-process."),
    ("secret", "The application secret other keys derive from (the HTTP RPC token, the broadcast key)."),
    ("http_rpc_secret", "Bearer token of HTTP RPC calls (both directions). Default: derived from `secret`."),
    ("rpc_concurrency", "Most remote RPC calls (gRPC or HTTP) in flight at once."),
    ("rpc_pool_size", "Ruby worker threads that run channel code in-process (with no `rpc_host`)."),
    ("disconnect_rate", "Disconnect calls per second sent to a remote RPC server (a paced queue, flushed on shutdown)."),
    ("rpc_enable_tls", "Use TLS for gRPC (also implied by `grpcs://` or `rpc_tls_root_ca`)."),
    ("rpc_tls_verify", "Verify the gRPC server's certificate; turn off for development certificates only."),
    ("rpc_tls_root_ca", "CA of the gRPC server's certificate: a PEM file's path or the PEM itself. Unset: the system's roots."),
    ("broadcast_adapter", "Where broadcasts from other processes come from: `local` (this process only), `redis` (AnyCable's format on `redis_channel`), or `http` (POST /_broadcast)."),
    ("redis_url", "Redis URL (`redis://` or `rediss://`) for the Redis adapter; `REDIS_URL` is used when unset."),
    ("redis_channel", "Redis pub/sub channel of AnyCable broadcasts."),
    ("redis_tls_verify", "Verify the certificate of a `rediss://` server. Off by default: Heroku Redis presents a self-signed one."),
    ("redis_tls_ca_cert_path", "PEM file of a private CA that signed the Redis server's certificate (used when `redis_tls_verify` is on)."),
    ("action_cable_redis", "Also receive stock Action Cable's Redis format (`adapter: redis` in cable.yml); set for you when cable.yml says so."),
    ("channel_prefix", "cable.yml's `channel_prefix` for stock Action Cable's Redis format."),
    ("log_level", "Engine log level: `debug`, `info`, `warn` or `error`. Lines go to the app's logger."),
    ("debug", "Verbose diagnostics: debug logs and, at boot, the effective configuration (secrets filtered)."),
    ("statsd_host", "`host:port` of a StatsD agent (e.g. the Datadog agent) to send metrics to over UDP. Unset: no StatsD."),
    ("statsd_prefix", "Prefix of every StatsD metric name."),
    ("statsd_max_packet_size", "Largest StatsD UDP packet, in bytes; metric lines are packed up to it."),
    ("statsd_tags_format", "How StatsD lines carry `metrics_tags`: `datadog`, `influxdb` or `graphite`."),
    ("metrics_tags", "Tags added to every metric, `key:value` comma-separated (e.g. `env:production,dyno:web.1`)."),
    ("metrics_rotate_interval", "Seconds between two StatsD flushes."),
];

/// The description of `key`, if it is a known setting.
pub fn description(key: &str) -> Option<&'static str> {
    DESCRIPTIONS.iter().find(|(k, _)| *k == key).map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KEYS;

    #[test]
    fn every_setting_is_described_once_in_order() {
        let described: Vec<&str> = DESCRIPTIONS.iter().map(|(k, _)| *k).collect();
        assert_eq!(described, KEYS);
        assert!(DESCRIPTIONS.iter().all(|(_, d)| d.ends_with('.')));
        assert_eq!(description("nope"), None);
    }
}
