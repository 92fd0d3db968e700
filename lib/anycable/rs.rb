# frozen_string_literal: true

require "logger"
require "anycable/rs/version"
require "anycable/rs/errors"
require "anycable/rs/native"
require "anycable/rs/config"
require "anycable/rs/workers"
require "anycable/rs/log_drain"
require "anycable/rs/server"
require "anycable/rs/broadcaster"
require "anycable/rs/broadcast_endpoint"
require "anycable/rs/http_rpc_endpoint"
require "anycable/rs/metrics_endpoint"
require "anycable/rs/health_endpoint"
require "anycable/rs/rpc_server"
require "anycable/rs/broadcasting"
require "anycable/rs/streams"
require "anycable/rs/jwt"
require "anycable/rs/endpoints"
require "anycable/rs/railtie" if defined?(::Rails::Railtie)

module AnyCable
  # anycable-rs: Action Cable / AnyCable WebSockets served by a Rust (tokio) hub inside the
  # application's own process. Nothing starts at require time: the node (runtime, bridge
  # workers) starts on first use in each process, so Puma workers forked after
  # `preload_app!` each get their own.
  module RS
    # The process that loaded the gem (Puma's master under `preload_app!`).
    BOOT_PID = Process.pid

    # Calls that wait for a worker thread; past this, calls fail fast (client reconnects).
    BRIDGE_QUEUE = 1024

    # tokio worker threads: 0 = one per CPU this process may use (taskset and cgroup quotas
    # count), so a one-core dyno does not pay for threads that only take turns.
    RUNTIME_THREADS = 0

    # Guards the lazy start of the node. Ruby releases a Mutex whose owner did not survive fork.
    LOCK = Mutex.new

    # Seconds the health check waits for the runtime to run a task.
    HEALTH_TIMEOUT = 1.0

    # The session id of the client a request acts for (see with_socket_id), per thread/fiber.
    SOCKET_ID = :anycable_rs_socket_id

    extend Broadcasting
    extend Endpoints

    # The node's lifecycle, settings and state; broadcasting and the Rack endpoints are in
    # Broadcasting and Endpoints.
    class << self
      attr_writer :logger, :handler

      # The process-wide settings: defaults (and presets), config/anycable.yml, ANYCABLE_*
      # variables (see Config.load), then what `configure` assigns. Loaded on first use; unknown
      # keys are logged then.
      def config
        return @config if @config

        @config = Config.load
        @config.warnings.each { |warning| logger.warn("anycable-rs: #{warning}") }
        @config
      end

      # Yields the settings for changes: `AnyCable::RS.configure { |c| c.ping_interval = 5 }`.
      def configure
        yield config
        config
      end

      # Rails.logger when there is one; else stdout under the Heroku preset, stderr otherwise.
      def logger
        return @logger if @logger
        return @logger = ::Rails.logger if defined?(::Rails.logger) && ::Rails.logger

        io = config.preset?("heroku") ? $stdout : $stderr
        @logger ||= Logger.new(io)
      end

      # What runs the app's connection and channel code for the bridge workers.
      def handler
        @handler ||= default_handler
      end

      # The node of this process, started on first use.
      def node
        current = @node
        return current if current&.pid == Process.pid

        LOCK.synchronize do
          @node = nil if @node && @node.pid != Process.pid
          @node ||= start_node
        end
      end

      # Whether this process has started its node.
      def running?
        !@node.nil? && @node.pid == Process.pid
      end

      # This process's metrics with AnyCable's names (`"clients_num" => 3, "rpc_call_total" => 12,
      # ...`); empty before the node starts.
      def metrics
        running? ? @node.metrics : {}
      end

      # nil when this process can serve WebSockets: its node answers (started here if needed)
      # and, with channels in-process, every bridge worker thread is alive. Else what is wrong.
      def health
        return "anycable-rs was shut down" if shut_down?
        return "the tokio runtime does not answer" unless node.alive?(HEALTH_TIMEOUT)

        dead = @workers&.dead || 0
        "#{dead} of #{@workers.size} bridge worker threads are dead" if dead.positive?
      rescue Error => e
        "anycable-rs cannot start: #{e.message}"
      end

      # Graceful shutdown of this process's node: clients get `server_restart`, disconnect
      # callbacks run, workers stop, all within `shutdown_timeout` (keep it under the
      # platform's kill timeout: Heroku kills 30 s after SIGTERM). Later calls do nothing.
      def shutdown
        node = @node
        return true unless node && node.pid == Process.pid && !@shut_down

        @shut_down = true
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + config.shutdown_timeout
        in_time = node.shutdown
        in_time &&= @workers.nil? || @workers.join([deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0.1].max)
        @log_drain&.stop # after the node's last lines (clients told server_restart) were queued
        logger.warn("anycable-rs: shutdown did not finish within #{config.shutdown_timeout}s") unless in_time
        in_time
      end

      # Whether this process's node was shut down (new WebSocket requests then get 503).
      def shut_down?
        running? && @shut_down == true
      end

      # Open connections, live clients, streams and pending RPC calls of this process (empty
      # before start).
      def stats
        running? ? @node.stats : {}
      end

      private

      def start_node
        engine = Native::EngineConfig.new(config.engine_settings)
        bridge = Native::Bridge.new(BRIDGE_QUEUE)
        node = Native::Node.new(engine, bridge, RUNTIME_THREADS, turbo_key)
        start_log_drain
        @workers = start_workers(bridge)
        @shut_down = false
        at_exit { shutdown if @node.equal?(node) }
        warn_about_forked_broadcasts
        log_config if config.debug?
        node
      end

      # The engine's log lines go to `logger` through a thread of this process (one per pid:
      # threads do not survive fork; a stopped one is replaced by the next node).
      def start_log_drain
        @log_drain = LogDrain.new(-> { logger }).start unless @log_drain&.running?
      end

      # The bridge's worker threads run the app's channels here, unless `rpc_host` names the RPC
      # server that runs them (gRPC `host:port`, HTTP RPC `http(s)://...`): then none start.
      def start_workers(bridge)
        if (host = config.rpc_host)
          kind = host.start_with?("http://", "https://") ? "HTTP RPC" : "gRPC"
          logger.info("anycable-rs: channels run on the RPC server at #{host} (#{kind}); no worker threads here")
          return nil
        end

        Workers.new(bridge, handler, size: config.rpc_pool_size, logger: logger).start
      end

      # Once per node, with debug on: every effective setting (secrets filtered) and the presets.
      def log_config
        presets = config.active_presets
        logger.info("anycable-rs: config #{config.to_h.inspect} (presets: #{presets.empty? ? "none" : presets.join(", ")})")
      end

      def warn_about_forked_broadcasts
        return if Process.pid == BOOT_PID || broadcaster.redis? || config.action_cable_redis

        logger.warn("anycable-rs: this process was forked (Puma cluster mode?) and no Redis is configured: " \
                    "a broadcast reaches only the clients of the process that makes it. Set " \
                    "broadcast_adapter: redis and redis_url (or REDIS_URL) to reach every worker.")
      end

      # turbo-rails' signing key, when Turbo subscribes may be answered by the engine: the
      # app's channels run here (no rpc_host) and its Turbo::StreamsChannel is the gem's own.
      def turbo_key
        return unless config.turbo_streams && !config.rpc_host && defined?(::Turbo::Engine) && defined?(::ActionCable)

        require "anycable/rs/rails/turbo_streams"
        Rails::TurboStreams.key(logger)
      end

      # This process's node when it runs, else nil (never starts one).
      def running_node
        node = @node
        node if node && node.pid == Process.pid
      end

      def default_handler
        unless defined?(::ActionCable)
          raise Error, "anycable-rs runs Action Cable channels: load Rails (or set AnyCable::RS.handler)"
        end

        require "anycable/rs/rails/rpc_handler"
        Rails::RPCHandler.new
      end
    end
  end
end
