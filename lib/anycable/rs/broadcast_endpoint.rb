# frozen_string_literal: true

require "json"
require "anycable/rs/bearer_endpoint"

module AnyCable
  module RS
    # The HTTP broadcast endpoint (AnyCable's `http` broadcast adapter, docs/architecture.md §6.3), a Rack app:
    #
    #   mount AnyCable::RS.broadcast_endpoint => "/_broadcast"   # config/routes.rb
    #
    # `POST` a publication (`{"stream":"chat","data":"{\"text\":\"hi\"}"}`, optionally with
    # `"meta":{"exclude_socket":"<sid>"}`), a remote disconnect command
    # (`{"command":"disconnect","payload":{"identifier":"<identifiers JSON>","reconnect":true}}`),
    # or a JSON array of those (a batch, applied in order)
    # with `Authorization: Bearer <broadcast_key>`. The key defaults to the hex HMAC-SHA256 of
    # `secret` with the message "broadcast-cable", as AnyCable derives it.
    #
    # Answers 201 (accepted for delivery), 401 (missing or wrong key, or none configured), 405
    # (not POST), 413 (body over max_body_size), 422 (not a valid publication, with the reason).
    # Delivery takes the same route as AnyCable::RS.broadcast: Redis when configured, so every
    # process gets it, else this process's node.
    class BroadcastEndpoint
      include BearerEndpoint

      MAX_BODY_SIZE = 1 << 20
      KEY_MESSAGE = "broadcast-cable"

      # Raised inside #call for a body that is not a valid publication: answered with 422.
      class Invalid < StandardError; end

      # The default broadcast key for a secret (docs/architecture.md §6.3).
      def self.derive_key(secret)
        BearerEndpoint.derive(secret, KEY_MESSAGE)
      end

      def initialize(config: -> { RS.config }, broadcaster: -> { RS.broadcaster }, logger: -> { RS.logger },
                     max_body_size: MAX_BODY_SIZE)
        @config = config
        @broadcaster = broadcaster
        @logger = logger
        @max_body_size = max_body_size
      end

      def call(env)
        return respond(405, "Only POST is allowed", "allow" => "POST") unless env["REQUEST_METHOD"] == "POST"

        key = expected_key
        return not_configured unless key
        return respond(401, "Invalid or missing broadcast key") unless authorized?(env, key)

        body = read_body(env)
        return respond(413, "Body larger than #{@max_body_size} bytes") unless body

        message = validate(body)
        @broadcaster.call.publish_raw(body) unless message.empty? # an empty batch asks for nothing
        respond(201, "")
      rescue Invalid, ArgumentError => e # ArgumentError: the node refused the body (its own parser)
        respond(422, e.message)
      end

      private

      # broadcast_key, else derived from secret, else nil.
      def expected_key
        config = @config.call
        config.broadcast_key || (config.secret && self.class.derive_key(config.secret))
      end

      def not_configured
        unless @told_not_configured
          @told_not_configured = true
          @logger.call.error("anycable-rs: the HTTP broadcast endpoint refuses every request: no broadcast key is " \
                             "configured. Set broadcast_key (ANYCABLE_BROADCAST_KEY), or secret (ANYCABLE_SECRET) " \
                             "to derive it as AnyCable does")
        end
        respond(401, "Broadcasting over HTTP is not configured on this server")
      end

      # The parsed body when it is a publication, a command or a batch of them (delivered as sent).
      def validate(body)
        raise Invalid, "Body is not UTF-8" unless body.dup.force_encoding(Encoding::UTF_8).valid_encoding?

        message = begin
          JSON.parse(body)
        rescue JSON::ParserError
          raise Invalid, "Body is not JSON"
        end
        case message
        when Array then message.each_with_index { |item, index| check_item(item, "item #{index}: ") }
        when Hash then check_item(message)
        else raise Invalid, "Expected a publication object or an array of them"
        end
        message
      end

      def check_item(item, where = "")
        raise Invalid, "#{where}expected an object with stream and data" unless item.is_a?(Hash)

        item.key?("command") ? check_command(item, where) : check_publication(item, where)
      end

      def check_publication(item, where)
        stream = item["stream"]
        raise Invalid, "#{where}missing stream" if stream.nil?
        raise Invalid, "#{where}stream must be a non-empty string" unless stream.is_a?(String) && !stream.empty?
        raise Invalid, "#{where}missing data" unless item.key?("data")
        raise Invalid, "#{where}data must be a string (JSON-encode the message)" unless item["data"].is_a?(String)

        check_meta(item["meta"], where)
      end

      def check_meta(meta, where)
        return if meta.nil?
        raise Invalid, "#{where}meta must be an object" unless meta.is_a?(Hash)

        exclude = meta["exclude_socket"]
        raise Invalid, "#{where}meta.exclude_socket must be a string" unless exclude.nil? || exclude.is_a?(String)
      end

      def check_command(item, where)
        raise Invalid, "#{where}unknown command #{item["command"].inspect}" unless item["command"] == "disconnect"

        payload = item["payload"]
        raise Invalid, "#{where}disconnect: payload must be an object" unless payload.is_a?(Hash)
        unless payload["identifier"].is_a?(String) && !payload["identifier"].empty?
          raise Invalid, "#{where}disconnect: payload.identifier must be the identifiers JSON string"
        end
        return if [nil, true, false].include?(payload["reconnect"])

        raise Invalid, "#{where}disconnect: payload.reconnect must be true or false"
      end

      # Fresh arrays every time: middleware edits them in place.
      def respond(status, text, headers = {})
        [status, { "content-type" => "text/plain" }.merge(headers), [text]]
      end
    end
  end
end
