# frozen_string_literal: true

require "json"
require "anycable/rs/redis_publisher"

module AnyCable
  module RS
    # Where a broadcast goes (docs/architecture.md §4):
    #
    # - with `broadcast_adapter: redis`, it is PUBLISHed to `redis_channel` (`__anycable__`) in
    #   AnyCable's JSON format, so the node of every process subscribed there (every Puma
    #   worker, every dyno, anycable-go too) delivers it — also from processes that serve no
    #   clients (a console, `rails runner`, a job worker); with `broker: redis` it is placed in
    #   its stream's history first, by the same script, so every process sees one order;
    # - otherwise, or when Redis cannot be reached (or nobody is subscribed, e.g. while this
    #   process's own subscriber reconnects), it goes straight to this process's node, if the
    #   process has one: in-process delivery keeps working while Redis is away.
    #
    # Inside #batch, broadcasts are collected and sent as one JSON array (one PUBLISH, or one
    # call into the node). Remote disconnects are never held back by a batch.
    class Broadcaster
      BATCH = :anycable_rs_broadcast_batch

      # config, node and logger are callables (the node one answers nil when this process has
      # no running node), so the broadcaster follows configuration changes and forks.
      def initialize(config:, node:, logger:)
        @config = config
        @node = node
        @logger = logger
        @lock = Mutex.new
      end

      # Sends `data` (a String) to the subscribers of `stream`; exclude_socket: a session id
      # (the `sid` of a client's welcome) that must not receive it.
      def broadcast(stream, data, exclude_socket: nil)
        if (batch = Thread.current[BATCH])
          batch << publication(stream, data, exclude_socket)
          return
        end
        # Without Redis no JSON is made: the node takes the stream and data as they are.
        dispatch(-> { JSON.generate(publication(stream, data, exclude_socket)) }) do |node|
          exclude_socket ? node.publish(stream, data, exclude_socket) : node.publish(stream, data)
        end
      end

      # Collects the broadcasts made in the block (on this thread) and sends them at the end as
      # one batch — also when the block raises, as they would have gone out without batching.
      # Nested calls join the outer batch.
      def batch
        return yield if Thread.current[BATCH]

        Thread.current[BATCH] = []
        begin
          yield
        ensure
          publications = Thread.current[BATCH]
          Thread.current[BATCH] = nil
          flush(publications) unless publications.empty?
        end
      end

      # Closes the connections whose identifiers JSON (as the connection's `identified_by` values
      # were recorded at connect) is exactly `identifiers`, in every process.
      def disconnect(identifiers, reconnect: true)
        command = { "command" => "disconnect", "payload" => { "identifier" => identifiers, "reconnect" => reconnect } }
        dispatch(-> { JSON.generate(command) }) { |node| node.disconnect_remote(identifiers, reconnect) }
      end

      # Sends a publication, a batch or a command already in AnyCable's JSON format (the HTTP
      # endpoint's body, validated by the caller).
      def publish_raw(json)
        dispatch(-> { json }) { |node| node.publish_raw(json) }
      end

      # Whether broadcasts go through Redis.
      def redis?
        config.broadcast_adapter == "redis"
      end

      # Closes this process's Redis connection, if any (the next broadcast reconnects).
      def close
        @publisher&.close
      end

      # This process's Redis client (nil without Redis).
      def publisher
        return nil unless redis?

        options = redis_options
        current = @publisher
        return current if current && @publisher_options == options

        @lock.synchronize do
          unless @publisher && @publisher_options == options
            @publisher&.close
            @publisher = RedisPublisher.new(logger: @logger.call, **options)
            @publisher_options = options
          end
          @publisher
        end
      end

      private

      def config
        @config.call
      end

      def publication(stream, data, exclude_socket)
        publication = { "stream" => stream, "data" => data }
        publication["meta"] = { "exclude_socket" => exclude_socket } if exclude_socket
        publication
      end

      def flush(publications)
        json = JSON.generate(publications)
        dispatch(-> { json }) { |node| node.publish_raw(json) }
      end

      # Redis first (when configured; `json` makes the message); this process's node when Redis
      # did not take it.
      def dispatch(json)
        if (redis = publisher)
          receivers = to_redis(redis, json.call)
          return if receivers&.positive?
        end
        node = @node.call
        if node
          yield node
        elsif !redis
          nobody_listens
        end
        nil
      end

      # With `broker: redis` each broadcast gets its place in its stream's history on the way.
      def to_redis(redis, message)
        current = config
        return redis.publish(current.redis_channel, message) unless current.broker == "redis"

        redis.place(current.redis_channel, message,
                    history_limit: current.history_limit, history_ttl: current.history_ttl.ceil)
      end

      def redis_options
        current = config.check! # broadcast_adapter: redis without redis_url says so here
        { url: current.redis_url, tls_verify: current.redis_tls_verify, ca_path: current.redis_tls_ca_cert_path }
      end

      def nobody_listens
        return if @told_nobody_listens

        @told_nobody_listens = true
        @logger.call.info("anycable-rs: this process serves no WebSocket clients and broadcast_adapter is " \
                          "#{config.broadcast_adapter.inspect}, so broadcasts made here reach nobody; set " \
                          "broadcast_adapter: redis (and redis_url) to reach the clients of other processes")
      end
    end
  end
end
