# frozen_string_literal: true

require "base64"
require "json"
require "openssl"

module AnyCable
  module RS
    # AnyCable's JWT identification tokens (docs/hotwire.md): `JWT.encode(current_user: user)`
    # gives the token a client connects with (`/cable?jid=<token>` or the `X-JID` header); the
    # engine verifies it with `jwt_secret` (default: `secret`) and welcomes the client with those
    # identifiers, never calling the connection's `connect`. HS256, the `ext` claim holding the
    # identifiers JSON, `exp` after `jwt_ttl` seconds: the tokens of AnyCable's gems, which the
    # engine accepts as well. Also reachable as `AnyCable::JWT` when AnyCable's own gem does not
    # define it.
    module JWT
      HEADER = ::Base64.urlsafe_encode64('{"alg":"HS256"}', padding: false)

      class << self
        # A token for `identifiers` (the connection's `identified_by` names, as a Hash or as
        # keywords; records become their GlobalID), expiring at `expires_at` or after `ttl`
        # seconds (0: never).
        def encode(identifiers = nil, expires_at: nil, ttl: RS.config.jwt_ttl, secret_key: nil, **named)
          identifiers = (identifiers || {}).merge(named)
          key = secret_key || RS.config.jwt_secret || RS.config.secret
          raise ArgumentError, "JWT secret is missing: set jwt_secret (or secret)" if key.to_s.empty?

          claims = { "ext" => ::JSON.generate(identifiers.transform_keys(&:to_s).transform_values { |v| serialize(v) }) }
          exp = expires_at || (Time.now + ttl if ttl.to_i.positive?)
          claims["exp"] = exp.to_i if exp
          signed = "#{HEADER}.#{::Base64.urlsafe_encode64(::JSON.generate(claims), padding: false)}"
          "#{signed}.#{::Base64.urlsafe_encode64(OpenSSL::HMAC.digest("SHA256", key, signed), padding: false)}"
        end

        private

        def serialize(value)
          value.respond_to?(:to_gid_param) ? value.to_gid_param : value
        end
      end

      # View helpers (as AnyCable's Rails gem names them).
      module Helper
        # `action_cable_meta_tag` with a token for `identifiers` in the URL: the stock client
        # and @anycable/web connect identified, with no `connect` call.
        def action_cable_with_jwt_meta_tag(**identifiers)
          base = ::ActionCable.server.config.url || ::ActionCable.server.config.mount_path || RS.config.path
          separator = base.include?("?") ? "&" : "?"
          tag.meta(name: "action-cable-url", content: "#{base}#{separator}#{RS.config.jwt_param}=#{JWT.encode(identifiers)}")
        end
      end
    end
  end

  JWT = RS::JWT unless const_defined?(:JWT, false)
end
