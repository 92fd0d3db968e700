//! Command-line flags of `cable-bench` (`--name value`), with defaults.

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    /// Base URL of the app (`http://127.0.0.1:3000`); the cable is at `/cable`.
    pub(crate) url: String,
    /// Clients to connect and subscribe.
    pub(crate) clients: usize,
    /// Handshakes in flight at once.
    pub(crate) connect_concurrency: usize,
    /// Server process to read RSS and CPU from.
    pub(crate) pid: Option<u32>,
    /// Broadcasts to send.
    pub(crate) broadcasts: usize,
    /// Broadcasts per second.
    pub(crate) rate: f64,
    /// Approximate payload size in bytes.
    pub(crate) payload: usize,
    /// Clients doing sequential `echo` performs.
    pub(crate) performers: usize,
    /// How long they do it.
    pub(crate) perform_seconds: f64,
    /// Bytes of browser-like request headers each client sends besides Cookie and Origin
    /// (0: none); see `client::browser_headers`.
    pub(crate) header_bytes: usize,
    /// Seconds to wait after the broadcasts before reading the server's RSS once more
    /// (`rss_settled_kib`; 0: not read).
    pub(crate) settle_seconds: f64,
    /// Clients that vanish without a FIN (`dead_peers`); 0: the usual run. Other phases are
    /// skipped.
    pub(crate) dead_peers: usize,
    /// Seconds to wait for the dead peers' `unsubscribed`.
    pub(crate) dead_wait: f64,
    /// Seconds of the soak run (`soak`): broadcasts at `rate` to `clients` while others come and
    /// go at `churn` per second; 0: the usual run. Other phases are skipped.
    pub(crate) soak_seconds: f64,
    /// Clients replaced per second during a soak run.
    pub(crate) churn: f64,
    /// Seconds of the drops run (`drops`): broadcasts at `rate` to `clients` while some lose
    /// their link now and then; 0: the usual run. Other phases are skipped.
    pub(crate) drops_seconds: f64,
    /// Fraction of the clients whose link drops.
    pub(crate) drop_fraction: f64,
    /// Seconds between one client's drops.
    pub(crate) drop_every: f64,
    /// Seconds a drop lasts.
    pub(crate) drop_for: f64,
    /// Whether drops-run clients speak AnyCable's extended protocol (`1`) or Action Cable's (`0`).
    pub(crate) extended: bool,
    /// Seconds of the redeploy run (`redeploy`): broadcasts through Redis at `rate` while the
    /// server restarts; 0: the usual run. Other phases are skipped.
    pub(crate) redeploy_seconds: f64,
    /// Seconds into the redeploy run when the server restarts.
    pub(crate) restart_at: f64,
    /// Shell command that restarts the server (SIGTERM, a new process, back up).
    pub(crate) restart_command: String,
    /// The Redis the redeploy run publishes to.
    pub(crate) redis_url: String,
    /// How the redeploy run publishes: `anycable` (placed by the `redis` broker's script) or
    /// `action_cable` (Action Cable's Redis adapter format).
    pub(crate) publish: String,
    /// Path of the server's Prometheus endpoint, read after a redeploy (`rpc_call_total`).
    pub(crate) metrics_path: Option<String>,
    /// Messages the redeploy run's publisher keeps per stream in Redis (`history_limit`; give
    /// the server the same in ANYCABLE_HISTORY_LIMIT).
    pub(crate) history_limit: usize,
    /// Clients of the reconnect storm (`storm`): each connects and subscribes to two Turbo
    /// streams at once; 0: the usual run. Other phases are skipped.
    pub(crate) storm: usize,
    /// The server's `secret`: storm clients identify with a JWT signed with it instead of a
    /// cookie.
    pub(crate) jwt_secret: Option<String>,
}

impl Args {
    pub(crate) fn parse() -> Self {
        let mut args = Self {
            url: "http://127.0.0.1:3000".into(),
            clients: 100,
            connect_concurrency: 100,
            pid: None,
            broadcasts: 10,
            rate: 4.0,
            payload: 200,
            performers: 8,
            perform_seconds: 3.0,
            header_bytes: 0,
            settle_seconds: 0.0,
            dead_peers: 0,
            dead_wait: 120.0,
            soak_seconds: 0.0,
            churn: 20.0,
            drops_seconds: 0.0,
            drop_fraction: 0.2,
            drop_every: 15.0,
            drop_for: 2.0,
            extended: false,
            redeploy_seconds: 0.0,
            restart_at: 10.0,
            restart_command: String::new(),
            redis_url: "redis://127.0.0.1:6379".into(),
            publish: "anycable".into(),
            metrics_path: None,
            history_limit: 100,
            storm: 0,
            jwt_secret: None,
        };
        let mut argv = std::env::args().skip(1);
        while let Some(flag) = argv.next() {
            let value = argv.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
            match flag.as_str() {
                "--url" => args.url = value.trim_end_matches('/').to_owned(),
                "--clients" => args.clients = number(&flag, &value),
                "--connect-concurrency" => args.connect_concurrency = number(&flag, &value),
                "--pid" => args.pid = Some(number(&flag, &value)),
                "--broadcasts" => args.broadcasts = number(&flag, &value),
                "--rate" => args.rate = number(&flag, &value),
                "--payload" => args.payload = number(&flag, &value),
                "--performers" => args.performers = number(&flag, &value),
                "--perform-seconds" => args.perform_seconds = number(&flag, &value),
                "--header-bytes" => args.header_bytes = number(&flag, &value),
                "--settle-seconds" => args.settle_seconds = number(&flag, &value),
                "--dead-peers" => args.dead_peers = number(&flag, &value),
                "--dead-wait" => args.dead_wait = number(&flag, &value),
                "--soak-seconds" => args.soak_seconds = number(&flag, &value),
                "--churn" => args.churn = number(&flag, &value),
                "--drops-seconds" => args.drops_seconds = number(&flag, &value),
                "--drop-fraction" => args.drop_fraction = number(&flag, &value),
                "--drop-every" => args.drop_every = number(&flag, &value),
                "--drop-for" => args.drop_for = number(&flag, &value),
                "--extended" => args.extended = number::<u8>(&flag, &value) == 1,
                "--redeploy-seconds" => args.redeploy_seconds = number(&flag, &value),
                "--restart-at" => args.restart_at = number(&flag, &value),
                "--restart-command" => args.restart_command = value,
                "--redis-url" => args.redis_url = value,
                "--publish" => args.publish = value,
                "--metrics-path" => args.metrics_path = Some(value),
                "--history-limit" => args.history_limit = number(&flag, &value),
                "--storm" => args.storm = number(&flag, &value),
                "--jwt-secret" => args.jwt_secret = Some(value).filter(|s| !s.is_empty()),
                _ => usage(&format!("unknown flag {flag}")),
            }
        }
        if args.rate <= 0.0 {
            usage("--rate must be positive");
        }
        if args.redeploy_seconds > 0.0 && args.restart_command.is_empty() {
            usage("--redeploy-seconds needs --restart-command");
        }
        if !["anycable", "action_cable"].contains(&args.publish.as_str()) {
            usage("--publish must be anycable or action_cable");
        }
        args
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value.parse().unwrap_or_else(|_| usage(&format!("bad value for {flag}: {value}")))
}

#[allow(clippy::exit)] // the command-line tool stops on a bad flag
fn usage(problem: &str) -> ! {
    eprintln!(
        "cable-bench: {problem}\nflags: --url --clients --connect-concurrency --pid --broadcasts --rate --payload \
         --performers --perform-seconds --header-bytes --settle-seconds --dead-peers --dead-wait --soak-seconds \
         --churn --drops-seconds --drop-fraction --drop-every --drop-for --extended --redeploy-seconds \
         --restart-at --restart-command --redis-url --publish --metrics-path --history-limit --storm --jwt-secret"
    );
    std::process::exit(2)
}
