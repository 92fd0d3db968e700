# frozen_string_literal: true

require "json"
require "anycable/rs/bearer_endpoint"

module AnyCable
  module RS
    # The HTTP RPC endpoint (AnyCable's RPC over HTTP, docs/architecture.md §6.2), a Rack app that serves this
    # application's connection and channel classes to another WebSocket server: anycable-go
    # (`--rpc_host=http://app/_anycable`) or the anycable-rs of another process
    # (`rpc_host: http://app/_anycable`).
    #
    #   mount AnyCable::RS.http_rpc_endpoint => "/_anycable"   # config/routes.rb
    #
    # (or let the Railtie mount it at `http_rpc_mount_path`: `config.anycable_rs.http_rpc_endpoint`).
    #
    # `POST <mount path>/connect`, `/command` or `/disconnect` with the request message as
    # protobuf-JSON (snake_case names; fields left out take their defaults) and
    # `Authorization: Bearer <http_rpc_secret>`. The secret defaults to the hex HMAC-SHA256 of
    # `secret` with the message "rpc-cable", as AnyCable derives it. Call metadata comes as
    # `x-anycable-meta-<key>` headers: `x-anycable-meta-sid` (the session id) reaches connect as
    # the request's "sid", so the welcome message carries it.
    #
    # Answers 200 with the reply message as JSON (status ERROR, with error_msg, when the handler
    # failed), 401 (missing or wrong secret, or none configured), 404 (another path), 405 (not
    # POST), 413 (body over max_body_size), 422 (not a request message, with the reason).
    #
    # Each call runs on the web server thread that took the request, through the same handler
    # as the in-process bridge (AnyCable::RS.handler), so Puma's thread count bounds how many
    # run at once: keep the WebSocket server's rpc_concurrency at or below it.
    class HTTPRPCEndpoint
      include BearerEndpoint

      MAX_BODY_SIZE = 1 << 20
      SECRET_MESSAGE = "rpc-cable"
      CALLS = %w[connect command disconnect].freeze
      ERROR = 0

      # Raised inside #call for a body that is not a request message: answered with 422.
      class Invalid < StandardError; end

      # Expected types and defaults of the request messages' fields (protobuf-JSON leaves out
      # fields that hold their default): a String, an Array of Strings, a Hash of Strings (an
      # empty one: a map) or a nested message (a Hash of its fields).
      ENV_FIELDS = { "url" => "", "headers" => {}, "cstate" => {}, "istate" => {} }.freeze
      FIELDS = {
        "connect" => { "env" => ENV_FIELDS },
        "command" => { "command" => "", "identifier" => "", "connection_identifiers" => "", "data" => "",
                       "env" => ENV_FIELDS },
        "disconnect" => { "identifiers" => "", "subscriptions" => [], "env" => ENV_FIELDS }
      }.freeze
      # protobuf-JSON parsers also take lowerCamelCase names.
      CAMEL_CASE = { "connectionIdentifiers" => "connection_identifiers" }.freeze

      # The default HTTP RPC secret for an application secret (docs/architecture.md §6.2).
      def self.derive_secret(secret)
        BearerEndpoint.derive(secret, SECRET_MESSAGE)
      end

      def initialize(config: -> { RS.config }, handler: -> { RS.handler }, logger: -> { RS.logger },
                     max_body_size: MAX_BODY_SIZE)
        @config = config
        @handler = handler
        @logger = logger
        @max_body_size = max_body_size
      end

      def call(env)
        name = call_name(env)
        return respond(404, "Not found: POST /connect, /command or /disconnect") unless name
        return respond(405, "Only POST is allowed", "allow" => "POST") unless env["REQUEST_METHOD"] == "POST"

        secret = expected_secret
        return not_configured unless secret
        return unauthorized unless authorized?(env, secret)

        @told = nil
        body = read_body(env)
        return respond(413, "Body larger than #{@max_body_size} bytes") unless body

        request = parse(name, body)
        request["sid"] = env["HTTP_X_ANYCABLE_META_SID"] if name == "connect" && env["HTTP_X_ANYCABLE_META_SID"]
        respond(200, run(name, request), "content-type" => "application/json")
      rescue Invalid => e
        respond(422, "Invalid request body: #{e.message}")
      end

      private

      # "connect", "command" or "disconnect" for a path below the mount point, else nil.
      def call_name(env)
        name = env["PATH_INFO"].to_s.delete_prefix("/").delete_suffix("/")
        name if CALLS.include?(name)
      end

      # http_rpc_secret, else derived from secret, else nil.
      def expected_secret
        config = @config.call
        config.http_rpc_secret || (config.secret && self.class.derive_secret(config.secret))
      end

      def not_configured
        log_once(:not_configured, "the HTTP RPC endpoint refuses every request: no secret is configured. Set " \
                                  "http_rpc_secret (ANYCABLE_HTTP_RPC_SECRET), or secret (ANYCABLE_SECRET) to derive " \
                                  "it as AnyCable does, and the same on the WebSocket server")
        respond(401, "HTTP RPC is not configured on this server")
      end

      # Logged once, and again only after a request was let in: a client with a stale secret
      # does not flood the log.
      def unauthorized
        log_once(:unauthorized, "the HTTP RPC endpoint refused a request with a missing or wrong secret: the " \
                                "WebSocket server's http_rpc_secret (or the secret it derives it from) must match " \
                                "this application's http_rpc_secret (ANYCABLE_HTTP_RPC_SECRET) or secret")
        respond(401, "Invalid or missing HTTP RPC secret")
      end

      def log_once(what, message)
        return if @told == what

        @told = what
        @logger.call.error("anycable-rs: #{message}")
      end

      # The request as the handler takes it: a Hash with every field, of the right type.
      def parse(name, body)
        raise Invalid, "not UTF-8" unless body.dup.force_encoding(Encoding::UTF_8).valid_encoding?

        request = begin
          JSON.parse(body)
        rescue JSON::ParserError
          raise Invalid, "not JSON"
        end
        raise Invalid, "expected a JSON object (the #{name} request message)" unless request.is_a?(Hash)

        CAMEL_CASE.each { |camel, snake| request[snake] = request.delete(camel) if request.key?(camel) && !request.key?(snake) }
        request.delete("sid") # metadata (x-anycable-meta-sid), not a field
        fill(request, FIELDS.fetch(name), "")
      end

      # Puts defaults in for missing (or null) fields and checks the types of the others.
      def fill(message, fields, where)
        fields.each do |field, default|
          value = message[field]
          message[field] =
            if nested?(default)
              fill_message(value, default, "#{where}#{field}")
            elsif value.nil?
              default.dup
            else
              check(value, default, "#{where}#{field}")
            end
        end
        message
      end

      def nested?(default)
        default.is_a?(Hash) && !default.empty?
      end

      def fill_message(value, fields, where)
        return fill({}, fields, "#{where}.") if value.nil?
        raise Invalid, "#{where} must be an object" unless value.is_a?(Hash)

        fill(value, fields, "#{where}.")
      end

      def check(value, default, where)
        case default
        when String then raise Invalid, "#{where} must be a string" unless value.is_a?(String)
        when Hash
          raise Invalid, "#{where} must be an object of strings" unless value.is_a?(Hash) && value.values.all?(String)
        when Array
          raise Invalid, "#{where} must be an array of strings" unless value.is_a?(Array) && value.all?(String)
        end
        value
      end

      # The handler's reply as JSON; a handler that raises (the built-in one never does) or a
      # reply that cannot be encoded answers status ERROR, which is not retried.
      def run(name, request)
        JSON.generate(@handler.call.public_send(name, request))
      rescue StandardError => e
        @logger.call.error("anycable-rs: HTTP RPC #{name} failed: #{e.class}: #{e.message}")
        JSON.generate("status" => ERROR, "error_msg" => "#{e.class}: #{e.message}")
      end

      # Fresh arrays every time: middleware edits them in place.
      def respond(status, body, headers = {})
        [status, { "content-type" => "text/plain" }.merge(headers), [body]]
      end
    end
  end
end
