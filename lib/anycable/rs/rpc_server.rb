# frozen_string_literal: true

module AnyCable
  module RS
    # Serves this application's channels over gRPC (AnyCable's `anycable.RPC` service) to other
    # WebSocket servers: anycable-go (`--rpc_host=127.0.0.1:50051`) or anycable-rs nodes
    # (`rpc_host: 127.0.0.1:50051`). The engine's tonic server turns each call into a job for
    # the same worker threads (and the same handler) that serve the in-process node. What
    # `anycable-rs rpc` runs; see CLI.
    #
    #   server = AnyCable::RS::RPCServer.new(host: "127.0.0.1:50051").start
    #   server.address # => "127.0.0.1:50051"
    #   server.stop    # graceful: running calls finish within shutdown_timeout
    class RPCServer
      # Calls that wait for a worker; past this, calls get RESOURCE_EXHAUSTED (clients retry).
      QUEUE = 1024

      attr_reader :host

      def initialize(host:, config: RS.config, handler: RS.handler, logger: RS.logger)
        @host = host
        @config = config
        @handler = handler
        @logger = logger
      end

      # Starts the worker threads, the thread that writes the engine's log lines to `logger`,
      # and the server; raises AnyCable::RS::Error when it cannot listen on `host`.
      def start
        @log_drain = LogDrain.new(@logger).start
        @bridge = Native::Bridge.new(QUEUE)
        @workers = Workers.new(@bridge, @handler, size: @config.rpc_pool_size, logger: @logger).start
        begin
          @server = Native::RpcServer.new(Native::EngineConfig.new(@config.engine_settings), @bridge, host)
        rescue StandardError
          @bridge.close
          @log_drain.stop
          raise
        end
        @logger.info("anycable-rs: gRPC server (anycable.RPC) listening on #{address} " \
                     "(#{@config.rpc_pool_size} worker threads)")
        self
      end

      # Where it listens: "ip:port".
      def address
        @server&.address
      end

      # Calls running ("in_flight") and answered ("calls").
      def stats
        @server ? @server.stats : {}
      end

      # Graceful stop: no new calls, running ones finish within `shutdown_timeout`, then the
      # workers stop. Returns whether everything finished in time.
      def stop
        return true unless @server

        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + @config.shutdown_timeout
        in_time = @server.stop
        @bridge.close
        in_time &&= @workers.join([deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0.1].max)
        @log_drain.stop
        @server = nil
        @logger.warn("anycable-rs: the gRPC server did not stop within #{@config.shutdown_timeout}s") unless in_time
        in_time
      end

      # Starts, waits for SIGTERM or SIGINT, then stops gracefully. Returns whether the stop
      # finished in time.
      def run
        reader, writer = IO.pipe
        previous = %w[TERM INT].to_h do |signal|
          [signal, trap(signal) { writer.write_nonblock(signal[0], exception: false) }]
        end
        start
        reader.read(1)
        @logger.info("anycable-rs: stopping the gRPC server (running calls get up to #{@config.shutdown_timeout}s)")
        stop
      ensure
        previous&.each { |signal, handler| trap(signal, handler || "DEFAULT") }
        [reader, writer].each { |io| io&.close }
      end
    end
  end
end
