# frozen_string_literal: true

require "digest"
require "securerandom"
require "anycable/rs/native"

module AnyCable
  module RS
    # PUBLISHes broadcasts to Redis with the `redis` gem, which anycable-rs does not depend
    # on: it is required on first use, with a clear error when the app's bundle lacks it.
    #
    # One client per process (a connection inherited over fork is never reused). When Redis
    # cannot be reached, #publish returns nil instead of raising and the caller delivers in
    # this process; the outage and the recovery are logged once each, not per broadcast, and
    # while Redis is away a new attempt is made at most every RETRY_INTERVAL seconds, so a
    # black-holed Redis never holds up every broadcast for a connect timeout.
    class RedisPublisher
      RETRY_INTERVAL = 1.0
      # The epoch Redis takes when it has none (a fresh one each time: see #place).
      EPOCH_CHARS = 6
      PLACE_SCRIPT = Native::BROKER_PUBLISH_SCRIPT
      PLACE_SHA = Digest::SHA1.hexdigest(PLACE_SCRIPT)
      # Seconds a connect, read or write may take.
      TIMEOUT = 2.0

      MISSING_GEM = <<~MSG.tr("\n", " ").strip
        anycable-rs publishes broadcasts to Redis with the redis gem, which is not available:
        add `gem "redis", ">= 4"` to your Gemfile (Debian: apt-get install ruby-redis),
        or set broadcast_adapter to local (broadcasts then stay in the process that makes them)
      MSG

      # Requires the redis gem or raises AnyCable::RS::Error saying how to add it.
      def self.load_redis!
        require "redis"
      rescue LoadError => e
        raise Error, "#{MISSING_GEM} (#{e.message})"
      end

      attr_reader :url

      # url: redis:// or rediss://; tls_verify: check the server's certificate (rediss only);
      # ca_path: a PEM file of the CA to check it against (default: the system's).
      def initialize(url:, logger:, tls_verify: false, ca_path: nil)
        @url = url
        @tls_verify = tls_verify
        @ca_path = ca_path
        @logger = logger
        @lock = Mutex.new
        @state = :unknown
        @retry_at = 0.0
      end

      # PUBLISH message on channel. Returns how many subscribers got it, or nil when Redis
      # could not be reached (logged once per outage).
      def publish(channel, message)
        call { |redis| redis.publish(channel, message) }
      end

      # PUBLISHes message (AnyCable's publication JSON) on channel after placing each broadcast
      # in its stream's history (`broker: redis`; the script is the engine's, see
      # Native::BROKER_PUBLISH_SCRIPT). Returns as #publish does.
      def place(channel, message, history_limit:, history_ttl:)
        argv = [channel, message, history_limit, history_ttl, SecureRandom.alphanumeric(EPOCH_CHARS)]
        call do |redis|
          redis.evalsha(PLACE_SHA, keys: [], argv: argv)
        rescue Redis::CommandError => e
          raise unless e.message.start_with?("NOSCRIPT")

          redis.eval(PLACE_SCRIPT, keys: [], argv: argv)
        end
      end

      # Whether the last attempt failed.
      def down?
        @state == :down
      end

      # Closes this process's connection (the next publish reconnects).
      def close
        @lock.synchronize do
          @client.close if @client && @pid == Process.pid
          @client = nil
        end
      end

      # The parameters Redis.new gets (also what the specs check).
      def client_options
        options = { url: url, connect_timeout: TIMEOUT, read_timeout: TIMEOUT, write_timeout: TIMEOUT,
                    reconnect_attempts: 1 }
        options[:ssl_params] = ssl_params if url.start_with?("rediss://")
        options
      end

      private

      def call
        return nil if @state == :down && now < @retry_at

        result = yield client
        available
        result
      rescue Error
        raise
      rescue StandardError => e
        unavailable(e)
        nil
      end

      def client
        current = @client
        return current if current && @pid == Process.pid

        @lock.synchronize do
          # Inherited over fork: that socket belongs to the parent; leave it alone.
          @client = nil unless @pid == Process.pid
          @client ||= begin
            self.class.load_redis!
            @pid = Process.pid
            Redis.new(**client_options)
          end
        end
      end

      def ssl_params
        require "openssl"
        return { verify_mode: OpenSSL::SSL::VERIFY_NONE } unless @tls_verify

        params = { verify_mode: OpenSSL::SSL::VERIFY_PEER }
        params[:ca_file] = @ca_path if @ca_path
        params
      end

      def available
        return if @state == :up

        @lock.synchronize do
          was = @state
          @state = :up
          @logger.info("anycable-rs: publishing broadcasts to Redis (#{safe_url}) again") if was == :down
        end
      end

      def unavailable(error)
        @lock.synchronize do
          @retry_at = now + RETRY_INTERVAL
          return if @state == :down

          @state = :down
          @logger.error("anycable-rs: cannot publish broadcasts to Redis (#{safe_url}): #{error.class}: " \
                        "#{error.message}#{hint(error)}; until it is back, broadcasts made here reach only " \
                        "this process's clients")
        end
      end

      def hint(error)
        return "" unless error.message.include?("certificate verify failed")

        if @tls_verify
          " (the server's certificate is not trusted: give the CA file in redis_tls_ca_cert_path, " \
            "or set redis_tls_verify=false for a self-signed certificate such as Heroku Redis uses)"
        else
          ""
        end
      end

      # The URL without its password.
      def safe_url
        url.sub(%r{\A(rediss?://)[^@/]*@}, "\\1[FILTERED]@")
      end

      def now
        Process.clock_gettime(Process::CLOCK_MONOTONIC)
      end
    end
  end
end
