//! Counters and gauges with AnyCable's names (`clients_num`, `broadcast_msg_total`,
//! `rpc_call_total`, …), so dashboards built for anycable-go work unchanged.
//!
//! Counters are relaxed atomics bumped where things happen (one add per broadcast, not one per
//! delivery: the hub reports how many sessions a broadcast reached). Gauges are read from the
//! node's state when a snapshot is taken. [`prometheus`] renders a snapshot as Prometheus
//! text; [`statsd`] sends snapshots to a StatsD agent every `metrics_rotate_interval`.

pub mod prometheus;
pub mod statsd;

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Messages (commands) received from clients.
    ClientMsg,
    /// Messages sent to clients (broadcast deliveries and transmissions; not pings).
    ServerMsg,
    /// Broadcasts received (from Ruby, Redis or HTTP), before fan-out.
    BroadcastMsg,
    /// RPC calls made (connect, command, disconnect).
    RpcCall,
    /// RPC calls that failed: the controller was unreachable or the call answered ERROR.
    RpcError,
    /// Connections the application rejected (connect answered FAILURE).
    FailedAuths,
    /// Clients disconnected because they did not read fast enough (`too_slow`).
    DisconnectedSlowClients,
    /// Broadcasts refused when published: bigger than `max_outgoing_size`.
    BroadcastRefused,
    /// Broadcasts delivered without a stream position under `broker: redis` (published while
    /// Redis was away, or by a publisher that does not place them): live only, no history.
    BroadcastUnplaced,
    /// Calls to the `redis` broker that failed (history read, session kept or restored).
    BrokerErrors,
}

impl Counter {
    /// Every counter, in reporting order.
    pub const ALL: [Self; 10] = [
        Self::ClientMsg,
        Self::ServerMsg,
        Self::BroadcastMsg,
        Self::RpcCall,
        Self::RpcError,
        Self::FailedAuths,
        Self::DisconnectedSlowClients,
        Self::BroadcastRefused,
        Self::BroadcastUnplaced,
        Self::BrokerErrors,
    ];

    /// AnyCable's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientMsg => "client_msg_total",
            Self::ServerMsg => "server_msg_total",
            Self::BroadcastMsg => "broadcast_msg_total",
            Self::RpcCall => "rpc_call_total",
            Self::RpcError => "rpc_error_total",
            Self::FailedAuths => "failed_auths_total",
            Self::DisconnectedSlowClients => "disconnected_slow_clients_total",
            Self::BroadcastRefused => "broadcast_refused_total",
            Self::BroadcastUnplaced => "broadcast_unplaced_total",
            Self::BrokerErrors => "broker_errors_total",
        }
    }

    /// One line of help text.
    pub fn help(self) -> &'static str {
        match self {
            Self::ClientMsg => "The total number of messages received from clients",
            Self::ServerMsg => "The total number of messages sent to clients",
            Self::BroadcastMsg => "The total number of broadcast messages received",
            Self::RpcCall => "The total number of RPC calls",
            Self::RpcError => "The total number of failed RPC calls",
            Self::FailedAuths => "The total number of rejected connections",
            Self::DisconnectedSlowClients => "The total number of clients disconnected for being too slow",
            Self::BroadcastRefused => {
                "The total number of broadcasts refused for being over max_outgoing_size"
            }
            Self::BroadcastUnplaced => "The total number of broadcasts delivered without a stream position",
            Self::BrokerErrors => "The total number of failed broker calls",
        }
    }
}

/// Values read from the node's state at snapshot time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gauge {
    /// Connected (welcomed) clients.
    ClientsNum,
    /// Distinct connection identifiers among them.
    ClientsUniqNum,
    /// Streams with at least one subscriber here.
    BroadcastStreamsNum,
    /// RPC calls started and not answered yet.
    RpcPendingNum,
    /// Disconnect calls waiting in the paced queue of a remote RPC controller.
    DisconnectQueueSize,
}

impl Gauge {
    /// Every gauge, in reporting order.
    pub const ALL: [Self; 5] = [
        Self::ClientsNum,
        Self::ClientsUniqNum,
        Self::BroadcastStreamsNum,
        Self::RpcPendingNum,
        Self::DisconnectQueueSize,
    ];

    /// AnyCable's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientsNum => "clients_num",
            Self::ClientsUniqNum => "clients_uniq_num",
            Self::BroadcastStreamsNum => "broadcast_streams_num",
            Self::RpcPendingNum => "rpc_pending_num",
            Self::DisconnectQueueSize => "disconnect_queue_size",
        }
    }

    /// One line of help text.
    pub fn help(self) -> &'static str {
        match self {
            Self::ClientsNum => "The number of active clients",
            Self::ClientsUniqNum => "The number of unique clients (with respect to connection identifiers)",
            Self::BroadcastStreamsNum => "The number of active broadcasting streams",
            Self::RpcPendingNum => "The number of pending RPC calls",
            Self::DisconnectQueueSize => "The size of the delayed disconnect queue",
        }
    }
}

/// Whether a sample only grows or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows (reported to StatsD as the increase since the last flush).
    Counter,
    /// Current value.
    Gauge,
}

/// One metric's value at snapshot time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// AnyCable's name (without prefix).
    pub name: &'static str,
    /// One line of help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// The value.
    pub value: u64,
}

/// The counters of one node.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: [AtomicU64; Counter::ALL.len()],
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn inc(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Adds `n` to `counter`.
    pub fn add(&self, counter: Counter, n: u64) {
        if n > 0 {
            self.counters[counter as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The current value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter as usize].load(Ordering::Relaxed)
    }

    /// Every counter, then every gauge with the value `gauge` gives.
    pub fn snapshot(&self, gauge: impl Fn(Gauge) -> u64) -> Vec<Sample> {
        let counters = Counter::ALL.iter().map(|&c| Sample {
            name: c.name(),
            help: c.help(),
            kind: Kind::Counter,
            value: self.get(c),
        });
        let gauges = Gauge::ALL.iter().map(|&g| Sample {
            name: g.name(),
            help: g.help(),
            kind: Kind::Gauge,
            value: gauge(g),
        });
        counters.chain(gauges).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_snapshots_list_everything_once() {
        let metrics = Metrics::default();
        metrics.inc(Counter::RpcCall);
        metrics.add(Counter::ServerMsg, 3);
        metrics.add(Counter::ServerMsg, 0);
        let snapshot = metrics.snapshot(|g| if g == Gauge::ClientsNum { 2 } else { 0 });
        let value = |name: &str| snapshot.iter().find(|s| s.name == name).unwrap().value;
        assert_eq!(value("rpc_call_total"), 1);
        assert_eq!(value("server_msg_total"), 3);
        assert_eq!(value("clients_num"), 2);
        assert_eq!(snapshot.len(), Counter::ALL.len() + Gauge::ALL.len());
        let mut names: Vec<_> = snapshot.iter().map(|s| s.name).collect();
        names.dedup();
        assert_eq!(names.len(), snapshot.len());
    }
}
