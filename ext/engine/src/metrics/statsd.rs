//! Sends metrics to a StatsD agent (`statsd_host`, e.g. the Datadog agent) over UDP every
//! `metrics_rotate_interval`, and once more when the node shuts down.
//!
//! Counters go out as the increase since the previous flush (`|c`, skipped when zero), gauges as
//! their value (`|g`). Names get `statsd_prefix`; `metrics_tags` are written in the
//! `statsd_tags_format` (Datadog `|#k:v`, InfluxDB `,k=v`, Graphite `;k=v`). Lines are packed
//! into packets of at most `statsd_max_packet_size` bytes. A failed send is logged once, not
//! every interval, and never stops the writer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{Kind, Sample};
use crate::config::{Config, TagsFormat};

/// What the writer needs from the settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port` of the agent.
    pub host: String,
    /// How lines are written.
    pub format: LineFormat,
    /// Largest packet, in bytes.
    pub max_packet_size: usize,
    /// Time between flushes.
    pub interval: Duration,
}

impl Settings {
    /// The StatsD settings of `config`, when `statsd_host` is set.
    pub fn from_config(config: &Config) -> Option<Self> {
        Some(Self {
            host: config.statsd_host.clone()?,
            format: LineFormat::new(&config.statsd_prefix, config.statsd_tags_format, &config.metrics_tags),
            max_packet_size: config.statsd_max_packet_size,
            interval: config.metrics_rotate_interval,
        })
    }
}

/// Writes one metric line: prefix, name, value, type and tags.
#[derive(Debug, Clone)]
pub struct LineFormat {
    prefix: String,
    /// Written right after the name (InfluxDB, Graphite).
    after_name: String,
    /// Written at the end of the line (Datadog).
    at_end: String,
}

impl LineFormat {
    /// The format for these settings.
    pub fn new(prefix: &str, format: TagsFormat, tags: &[(String, String)]) -> Self {
        let joined = |pair: &str, sep: &str| {
            tags.iter().map(|(k, v)| format!("{k}{pair}{v}")).collect::<Vec<_>>().join(sep)
        };
        let (after_name, at_end) = match format {
            _ if tags.is_empty() => (String::new(), String::new()),
            TagsFormat::Datadog => (String::new(), format!("|#{}", joined(":", ","))),
            TagsFormat::Influxdb => (format!(",{}", joined("=", ",")), String::new()),
            TagsFormat::Graphite => (format!(";{}", joined("=", ";")), String::new()),
        };
        Self { prefix: prefix.to_owned(), after_name, at_end }
    }

    /// One line, without the trailing newline.
    pub fn line(&self, name: &str, value: u64, kind: Kind) -> String {
        let kind = match kind {
            Kind::Counter => "c",
            Kind::Gauge => "g",
        };
        format!("{}{name}{}:{value}|{kind}{}", self.prefix, self.after_name, self.at_end)
    }
}

/// Turns successive snapshots into lines: counters as increases since the previous snapshot.
#[derive(Debug, Default)]
pub struct Deltas {
    previous: HashMap<&'static str, u64>,
}

impl Deltas {
    /// The lines to send for `samples`.
    pub fn lines(&mut self, format: &LineFormat, samples: &[Sample]) -> Vec<String> {
        let mut lines = Vec::with_capacity(samples.len());
        for sample in samples {
            let value = match sample.kind {
                Kind::Gauge => sample.value,
                Kind::Counter => {
                    let before = self.previous.insert(sample.name, sample.value).unwrap_or(0);
                    match sample.value.saturating_sub(before) {
                        0 => continue,
                        increase => increase,
                    }
                }
            };
            lines.push(format.line(sample.name, value, sample.kind));
        }
        lines
    }
}

/// Packs lines, newline-separated, into packets of at most `max` bytes. A single line longer
/// than `max` (only possible with very long tags) goes alone in its own packet.
pub fn pack(lines: &[String], max: usize) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut packet: Vec<u8> = Vec::with_capacity(max);
    for line in lines {
        let needed = line.len() + usize::from(!packet.is_empty());
        if !packet.is_empty() && packet.len() + needed > max {
            packets.push(std::mem::replace(&mut packet, Vec::with_capacity(max)));
        }
        if !packet.is_empty() {
            packet.push(b'\n');
        }
        packet.extend_from_slice(line.as_bytes());
    }
    if !packet.is_empty() {
        packets.push(packet);
    }
    packets
}

/// Sends `snapshot()` every interval until `shutdown`, then one last time.
pub async fn run(settings: Settings, snapshot: impl Fn() -> Vec<Sample>, shutdown: CancellationToken) {
    let mut deltas = Deltas::default();
    let mut sender = Sender::default();
    let mut ticks = tokio::time::interval(settings.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; nothing has happened yet
    tracing::info!(host = %settings.host, interval = ?settings.interval, "sending metrics to StatsD");
    loop {
        let last = tokio::select! {
            _ = ticks.tick() => false,
            _ = shutdown.cancelled() => true,
        };
        let lines = deltas.lines(&settings.format, &snapshot());
        sender.send(&settings, &pack(&lines, settings.max_packet_size)).await;
        if last {
            return;
        }
    }
}

/// The UDP socket (bound for the agent's address family) and whether the last send failed.
#[derive(Debug, Default)]
struct Sender {
    socket: Option<(bool, UdpSocket)>,
    failing: bool,
}

impl Sender {
    async fn send(&mut self, settings: &Settings, packets: &[Vec<u8>]) {
        if packets.is_empty() {
            return;
        }
        let outcome = self.try_send(&settings.host, packets).await;
        match (outcome, self.failing) {
            (Ok(()), true) => {
                self.failing = false;
                tracing::info!(host = %settings.host, "StatsD metrics are sent again");
            }
            (Err(error), false) => {
                self.failing = true;
                tracing::warn!(host = %settings.host, %error, "cannot send metrics to StatsD; will keep trying");
            }
            _ => {}
        }
    }

    async fn try_send(&mut self, host: &str, packets: &[Vec<u8>]) -> std::io::Result<()> {
        let address: SocketAddr = tokio::net::lookup_host(host)
            .await?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the host"))?;
        let v6 = address.is_ipv6();
        if self.socket.as_ref().is_none_or(|(family, _)| *family != v6) {
            let local = if v6 { "[::]:0" } else { "0.0.0.0:0" };
            self.socket = Some((v6, UdpSocket::bind(local).await?));
        }
        let Some((_, socket)) = &self.socket else { return Ok(()) };
        for packet in packets {
            socket.send_to(packet, address).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(name: &'static str, value: u64) -> Sample {
        Sample { name, help: "", kind: Kind::Counter, value }
    }

    fn gauge(name: &'static str, value: u64) -> Sample {
        Sample { name, help: "", kind: Kind::Gauge, value }
    }

    #[test]
    fn lines_follow_each_tags_format() {
        let tags = [("env".to_owned(), "prod".to_owned()), ("dyno".to_owned(), "web.1".to_owned())];
        let datadog = LineFormat::new("anycable_go.", TagsFormat::Datadog, &tags);
        assert_eq!(
            datadog.line("clients_num", 3, Kind::Gauge),
            "anycable_go.clients_num:3|g|#env:prod,dyno:web.1"
        );
        let influx = LineFormat::new("ac.", TagsFormat::Influxdb, &tags);
        assert_eq!(
            influx.line("rpc_call_total", 2, Kind::Counter),
            "ac.rpc_call_total,env=prod,dyno=web.1:2|c"
        );
        let graphite = LineFormat::new("", TagsFormat::Graphite, &tags);
        assert_eq!(
            graphite.line("rpc_call_total", 2, Kind::Counter),
            "rpc_call_total;env=prod;dyno=web.1:2|c"
        );
        let plain = LineFormat::new("p.", TagsFormat::Datadog, &[]);
        assert_eq!(plain.line("clients_num", 0, Kind::Gauge), "p.clients_num:0|g");
    }

    #[test]
    fn counters_are_sent_as_increases_and_skipped_when_unchanged() {
        let format = LineFormat::new("", TagsFormat::Datadog, &[]);
        let mut deltas = Deltas::default();
        let first = deltas.lines(&format, &[counter("rpc_call_total", 5), gauge("clients_num", 2)]);
        assert_eq!(first, ["rpc_call_total:5|c", "clients_num:2|g"]);
        let second = deltas.lines(&format, &[counter("rpc_call_total", 5), gauge("clients_num", 2)]);
        assert_eq!(second, ["clients_num:2|g"]);
        let third = deltas.lines(&format, &[counter("rpc_call_total", 9), gauge("clients_num", 0)]);
        assert_eq!(third, ["rpc_call_total:4|c", "clients_num:0|g"]);
    }

    #[test]
    fn packets_never_exceed_the_limit_and_keep_every_line_whole() {
        let lines: Vec<String> =
            (0..200).map(|i| format!("anycable_go.metric_{i}:{i}|c|#env:prod")).collect();
        let packets = pack(&lines, 1400);
        assert!(packets.len() > 1);
        assert!(packets.iter().all(|p| p.len() <= 1400));
        let rejoined: Vec<String> = packets
            .iter()
            .flat_map(|p| {
                String::from_utf8(p.clone()).unwrap().split('\n').map(str::to_owned).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(rejoined, lines);
        assert_eq!(pack(&["x".repeat(20)], 10), [b"x".repeat(20)], "an oversize line goes alone");
        assert!(pack(&[], 1400).is_empty());
    }

    #[tokio::test]
    async fn the_writer_sends_to_a_udp_socket_and_flushes_on_shutdown() {
        let agent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let settings = Settings {
            host: agent.local_addr().unwrap().to_string(),
            format: LineFormat::new("anycable_go.", TagsFormat::Datadog, &[("env".into(), "test".into())]),
            max_packet_size: 1400,
            interval: Duration::from_millis(50),
        };
        let shutdown = CancellationToken::new();
        let writer = tokio::spawn(run(
            settings,
            || vec![counter("rpc_call_total", 1), gauge("clients_num", 4)],
            shutdown.clone(),
        ));
        let mut buf = [0u8; 2048];
        let n = tokio::time::timeout(Duration::from_secs(5), agent.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "anycable_go.rpc_call_total:1|c|#env:test\nanycable_go.clients_num:4|g|#env:test"
        );
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), writer).await.unwrap().unwrap();
    }
}
