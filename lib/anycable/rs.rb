# frozen_string_literal: true

require "logger"
require "anycable/rs/version"
require "anycable/rs/errors"
require "anycable/rs/native"
require "anycable/rs/config"
require "anycable/rs/workers"
require "anycable/rs/server"
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

    # Settings that are accepted (so AnyCable configs load) but not served by this release.
    NOT_YET = {
      "rpc_host" => ->(value) { !value.nil? },
      "broadcast_adapter" => ->(value) { value != "local" }
    }.freeze

    class << self
      attr_writer :logger, :handler

      # The process-wide settings: defaults, then ANYCABLE_* environment variables.
      def config
        @config ||= Config.from_env
      end

      # Yields the settings for changes: `AnyCable::RS.configure { |c| c.ping_interval = 5 }`.
      def configure
        yield config
        config
      end

      def logger
        @logger ||= defined?(::Rails.logger) && ::Rails.logger ? ::Rails.logger : Logger.new($stderr)
      end

      # The Rack app to mount: `mount AnyCable::RS.server => "/cable"`.
      def server
        @server ||= Server.new
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

      # Sends `data` (a String, usually JSON) to this process's subscribers of `stream`.
      # Returns at once; delivery happens on the node's threads, in the order of the calls.
      # A process that serves no clients (a console, a job runner) has nobody to deliver to.
      def broadcast(stream, data)
        @node.broadcast(stream.to_s, data.to_s) if running?
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
        in_time &&= @workers.join([deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0.1].max)
        logger.warn("anycable-rs: shutdown did not finish within #{config.shutdown_timeout}s") unless in_time
        in_time
      end

      # Whether this process's node was shut down (new WebSocket requests then get 503).
      def shut_down?
        running? && @shut_down == true
      end

      # Live clients, streams and pending RPC calls of this process (empty before start).
      def stats
        running? ? @node.stats : {}
      end

      private

      def start_node
        engine = Native::EngineConfig.new(config.to_h)
        bridge = Native::Bridge.new(BRIDGE_QUEUE)
        node = Native::Node.new(engine, bridge, RUNTIME_THREADS)
        @workers = Workers.new(bridge, handler, size: config.rpc_pool_size, logger: logger).start
        @shut_down = false
        at_exit { shutdown if @node.equal?(node) }
        warn_about_unsupported_settings
        warn_about_forked_broadcasts
        node
      end

      def warn_about_unsupported_settings
        settings = config.to_h
        NOT_YET.each do |key, set|
          next unless set.call(settings[key])

          logger.warn("anycable-rs: #{key}=#{settings[key].inspect} is not supported by this release yet and " \
                      "is ignored: channels run in this process and broadcasts stay in this process")
        end
      end

      def warn_about_forked_broadcasts
        return if Process.pid == BOOT_PID

        logger.warn("anycable-rs: this process was forked (Puma cluster mode?): a broadcast reaches only " \
                    "the clients of the process that makes it. Cross-process broadcasting (Redis) comes in a " \
                    "later release.")
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
