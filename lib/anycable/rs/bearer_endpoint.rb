# frozen_string_literal: true

require "openssl"

module AnyCable
  module RS
    # What the HTTP endpoints (/_broadcast, /_anycable) share: the `Authorization: Bearer`
    # check in constant time and reading a bounded request body. Includers set @max_body_size.
    module BearerEndpoint
      # hex HMAC-SHA256 of the app secret with `message`: how AnyCable derives its keys.
      def self.derive(secret, message)
        OpenSSL::HMAC.hexdigest("SHA256", secret, message)
      end

      private

      def authorized?(env, expected)
        given = env["HTTP_AUTHORIZATION"].to_s[/\ABearer\s+(\S+)\s*\z/i, 1]
        # Both sides are hashed to equal length first, so timing tells nothing about the key.
        !given.nil? && OpenSSL.secure_compare(given, expected)
      end

      # The body, or nil when it is larger than allowed (read at most one byte past the limit).
      def read_body(env)
        return nil if env["CONTENT_LENGTH"].to_i > @max_body_size

        input = env["rack.input"]
        body = input ? input.read(@max_body_size + 1).to_s : +""
        body.bytesize > @max_body_size ? nil : body
      end
    end
  end
end
