# frozen_string_literal: true

require "socket"
require "anycable/rs/origin_check"

module AnyCable
  module RS
    # The Rack app that serves Action Cable clients: `mount AnyCable::RS.server => "/cable"`.
    #
    # On a WebSocket upgrade it checks the Origin, takes the socket over with Rack's full
    # hijack and hands it, with the request facts the channels may read (URL, configured
    # headers, remote address), to the Rust node of this process; Puma goes on serving HTTP.
    # Anything else gets what Action Cable answers: 404 "Page not found".
    class Server
      def initialize(config: RS.config, node: -> { RS.node })
        @config = config
        @node = node
      end

      def call(env)
        return not_found unless upgrade?(env)

        unless origin_check.allowed?(env)
          RS.logger.error("anycable-rs: request origin not allowed: #{env["HTTP_ORIGIN"].inspect}")
          return not_found
        end
        return [503, { "content-type" => "text/plain" }, ["Shutting down"]] if RS.shut_down?

        hijack(env)
      end

      private

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
          refuse(io, unsupported_socket(io))
          return
        end
        # The node duplicates the descriptor (close-on-exec); Ruby's IO is closed either way.
        @node.call.accept(io.fileno, *request)
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

      def refuse(io, why)
        RS.logger.error("anycable-rs: cannot serve WebSockets: #{why}")
        io.write("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" \
                 "anycable-rs cannot serve WebSockets here: #{why}\n")
      rescue IOError, SystemCallError
        nil
      ensure
        io.close unless io.closed?
      end

      # [url, headers, protocols, key] as the node takes them.
      def upgrade_request(env)
        headers = { "REMOTE_ADDR" => env["REMOTE_ADDR"].to_s }
        @config.headers.each do |name|
          value = env["HTTP_#{name.upcase.tr("-", "_")}"]
          headers[name] = value if value
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
