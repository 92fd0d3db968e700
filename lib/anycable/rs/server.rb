# frozen_string_literal: true

require "socket"
require "anycable/rs/origin_check"

module AnyCable
  module RS
    # The Rack app that serves Action Cable clients: `mount AnyCable::RS.server => "/cable"`.
    #
    # On a WebSocket upgrade it checks the Origin, takes the socket over with Rack's full
    # hijack and hands it, with the request facts the channels may read (URL, headers, remote
    # address), to the Rust node of this process; Puma goes on serving HTTP.
    # Anything else gets what Action Cable answers: 404 "Page not found".
    #
    # With `max_connections` open, an upgrade gets 503 (clients retry with backoff); that is
    # logged at most once per REFUSAL_LOG_INTERVAL, and a warning comes once when 90 % of the
    # limit is reached (again after the load fell below 80 %).
    class Server
      REFUSAL_LOG_INTERVAL = 10
      OVER_LIMIT_BODY = "Too many connections, retry later"

      def initialize(config: RS.config, node: -> { RS.node })
        @config = config
        @node = node
        @limit_lock = Mutex.new
        @refused = 0
        @refusal_logged_at = nil
        @near_limit = false
      end

      def call(env)
        return not_found unless upgrade?(env)

        unless origin_check.allowed?(env)
          RS.logger.error("anycable-rs: request origin not allowed: #{env["HTTP_ORIGIN"].inspect}")
          return not_found
        end
        return [503, { "content-type" => "text/plain" }, ["Shutting down"]] if RS.shut_down?
        return over_limit if full?

        hijack(env)
      end

      private

      # Whether `max_connections` are open (one atomic load in the node); notes the load.
      def full?
        limit = @config.max_connections
        return false unless limit.positive?

        open = @node.call.connections
        watch_load(open + 1, limit)
        open >= limit
      end

      def over_limit
        log_refusal
        [503, { "content-type" => "text/plain", "retry-after" => "5" }, [OVER_LIMIT_BODY]]
      end

      def watch_load(open, limit)
        near = open * 10 >= limit * 9
        return if near == @near_limit || (!near && open * 10 >= limit * 8)

        @limit_lock.synchronize do
          return if near == @near_limit

          @near_limit = near
        end
        return unless near

        RS.logger.warn("anycable-rs: #{open} of max_connections (#{@config.max_connections}) open, over 90 %; " \
                       "new WebSockets get 503 at the limit")
      end

      # One line per REFUSAL_LOG_INTERVAL, however many upgrades are refused.
      def log_refusal
        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        refused = @limit_lock.synchronize do
          @refused += 1
          return if @refusal_logged_at && now - @refusal_logged_at < REFUSAL_LOG_INTERVAL

          @refusal_logged_at = now
          @refused.tap { @refused = 0 }
        end
        RS.logger.error("anycable-rs: max_connections (#{@config.max_connections}) reached: refused #{refused} " \
                        "WebSocket upgrade(s) with 503 (at most one such line per #{REFUSAL_LOG_INTERVAL}s)")
      end

      # Fresh arrays every time: middleware (Rack 3's ETag, Rails' RequestId) edits them in place.
      def not_found
        [404, { "content-type" => "text/plain" }, ["Page not found"]]
      end

      def upgrade?(env)
        env["REQUEST_METHOD"] == "GET" &&
          env["HTTP_UPGRADE"].to_s.casecmp?("websocket") &&
          env["HTTP_CONNECTION"].to_s.downcase.include?("upgrade") &&
          !env["HTTP_SEC_WEBSOCKET_KEY"].to_s.empty?
      end

      def origin_check
        action_cable = defined?(::ActionCable.server) ? ::ActionCable.server.config : nil
        OriginCheck.new(@config.allowed_origins, action_cable: action_cable)
      end

      def hijack(env)
        unless env["rack.hijack?"] && env["rack.hijack"]
          raise Error, "anycable-rs needs a web server with Rack full hijack (Puma does); " \
                       "#{env["SERVER_SOFTWARE"] || "this server"} does not offer it"
        end

        request = upgrade_request(env)
        io = env["rack.hijack"].call
        io = env["rack.hijack_io"] unless io.respond_to?(:fileno)
        hand_over(io, request)
        [-1, {}, []]
      end

      def hand_over(io, request)
        unless io.is_a?(TCPSocket)
          why = unsupported_socket(io)
          RS.logger.error("anycable-rs: cannot serve WebSockets: #{why}")
          refuse(io, "500 Internal Server Error", "anycable-rs cannot serve WebSockets here: #{why}")
          return
        end
        # The node duplicates the descriptor (close-on-exec); Ruby's IO is closed either way.
        # It refuses when the limit was reached since `full?` (concurrent upgrades).
        return if @node.call.accept(io.fileno, *request)

        log_refusal
        refuse(io, "503 Service Unavailable", OVER_LIMIT_BODY)
      ensure
        io.close unless io.closed?
      end

      def unsupported_socket(io)
        if io.is_a?(UNIXSocket)
          "Puma listens on a Unix socket; anycable-rs serves WebSockets on TCP sockets only: " \
            "bind Puma to tcp:// (the proxy in front can still use it)"
        else
          "the web server terminates TLS itself (e.g. Puma ssl_bind), so the socket carries " \
            "ciphertext; terminate TLS in a proxy in front of Puma (Heroku's router, nginx) instead"
        end
      end

      def refuse(io, status, body)
        io.write("HTTP/1.1 #{status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n#{body}\n")
      rescue IOError, SystemCallError
        nil
      ensure
        io.close unless io.closed?
      end

      # [url, headers, protocols, key] as the node takes them. With the channels in this
      # process (no rpc_host) `connect` sees every request header, as under Action Cable; a
      # remote RPC server gets only `headers`, as AnyCable passes them (and the node reads
      # X-AnyCable-Restore-Sid, the session an extended client asks back, and X-JID, the JWT
      # identification token, named after `jwt_param`). Either way the node
      # keeps only `headers` for the commands after connect.
      def upgrade_request(env)
        headers = { "REMOTE_ADDR" => env["REMOTE_ADDR"].to_s }
        if @config.rpc_host
          [*@config.headers, "x-anycable-restore-sid", "x-#{@config.jwt_param.downcase}"].each do |name|
            value = env["HTTP_#{name.upcase.tr("-", "_")}"]
            headers[name] = value if value
          end
        else
          env.each do |key, value|
            headers[key.delete_prefix("HTTP_").downcase.tr("_", "-")] = value if key.start_with?("HTTP_") && value.is_a?(String)
          end
        end
        protocols = env["HTTP_SEC_WEBSOCKET_PROTOCOL"].to_s.split(",").map(&:strip).reject(&:empty?)
        [url(env), headers, protocols, env["HTTP_SEC_WEBSOCKET_KEY"]]
      end

      def url(env)
        host = env["HTTP_HOST"] || "#{env["SERVER_NAME"]}:#{env["SERVER_PORT"]}"
        query = env["QUERY_STRING"].to_s
        "#{env["rack.url_scheme"] || "http"}://#{host}#{env["SCRIPT_NAME"]}#{env["PATH_INFO"]}#{"?#{query}" unless query.empty?}"
      end
    end
  end
end
