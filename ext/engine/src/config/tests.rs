//! Unit tests of `config/mod.rs`: defaults, loose forms, errors, secrets, round trips.
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
    assert_eq!((c.max_subscriptions, c.max_identifier_size), (256, 4096));
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
    let err = from(json!({"broker": "redis", "redis_url": "redis://h"})).unwrap().check().unwrap_err();
    assert!(err.to_string().starts_with("`broadcast_adapter: redis` must be set: broker is redis"), "{err}");
    let c = from(json!({"broker": "redis", "broadcast_adapter": "redis", "redis_url": "redis://h"})).unwrap();
    assert_eq!(c.check(), Ok(()));
}

#[test]
fn enforce_jwt_needs_a_key() {
    let err = from(json!({"enforce_jwt": true})).unwrap().check().unwrap_err();
    assert!(err.to_string().starts_with("`jwt_secret` must be set: enforce_jwt is on"), "{err}");
    assert_eq!(from(json!({"enforce_jwt": true, "secret": "s"})).unwrap().check(), Ok(()));
    assert_eq!(from(json!({"enforce_jwt": "true", "jwt_secret": "j"})).unwrap().check(), Ok(()));
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
    assert_eq!(c.to_map().len(), SETTINGS.len());
}

#[test]
fn every_setting_is_described_and_secrets_are_marked() {
    assert!(SETTINGS.iter().all(|s| s.description().ends_with('.') && !s.description().starts_with(' ')));
    let secrets: Vec<&str> = SETTINGS.iter().filter(|s| s.secret).map(|s| s.key).collect();
    let expected = [
        "secret",
        "http_rpc_secret",
        "jwt_secret",
        "streams_secret",
        "turbo_streams_secret",
        "broadcast_key",
    ];
    assert_eq!(secrets, [&expected[..], &["metrics_http_basic_auth"]].concat());
    assert_eq!(setting("redis_url").unwrap().env(), ["ANYCABLE_REDIS_URL", "REDIS_URL"]);
    assert_eq!(setting("ping_interval").unwrap().env(), ["ANYCABLE_PING_INTERVAL"]);
    assert!(setting("health_path").unwrap().ruby_only && !setting("path").unwrap().ruby_only);
    assert_eq!(setting("nope"), None);
}

#[test]
fn null_means_the_default_and_ruby_side_paths_are_checked() {
    let c = from(json!({"path": null, "ping_interval": null, "http_rpc_mount_path": ""})).unwrap();
    assert_eq!((c.path.as_str(), c.ping_interval), ("/cable", Duration::from_secs(3)));
    assert_eq!(c.http_rpc_mount_path, "/_anycable");
    let err = from(json!({"http_rpc_mount_path": "rpc"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid value "rpc" for `http_rpc_mount_path`: expected a path starting with `/`"#
    );
    let err = from(json!({"broadcast_key": 7})).unwrap_err();
    assert_eq!(err.to_string(), "invalid value [FILTERED] for `broadcast_key`: expected a string");
    assert_eq!(from(json!({"health_path": " /up "})).unwrap().health_path.as_deref(), Some("/up"));
}

#[test]
fn flags_take_yaml_integers() {
    let c = from(json!({"debug": 1, "rpc_tls_verify": 0})).unwrap();
    assert!(c.debug && !c.rpc_tls_verify);
    let err = from(json!({"debug": 2})).unwrap_err();
    assert_eq!(err.to_string(), "invalid value 2 for `debug`: expected true or false");
}

#[test]
fn a_bad_url_is_named_without_its_password() {
    let err = from(json!({"redis_url": "http://user:hunter2@example.com:6379/0"})).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        err.starts_with(r#"invalid value "http://user:[FILTERED]@example.com:6379/0" for `redis_url`"#),
        "{err}"
    );
    assert_eq!(without_password("no url here"), "no url here");
    assert_eq!(without_password("a://h/x b://:p@h"), "a://h/x b://:[FILTERED]@h");
}
