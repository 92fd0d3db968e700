# frozen_string_literal: true

module AnyCable
  module RS
    # Decides whether a WebSocket upgrade's Origin is allowed: Action Cable's rules when Rails
    # is loaded (`disable_request_forgery_protection`, `allow_same_origin_as_host`,
    # `allowed_request_origins`), plus anycable-rs' own `allowed_origins` (`*`, an exact
    # origin, a host, or `*.example.com`). Without Rails and without `allowed_origins`, every
    # origin is allowed, as AnyCable servers do.
    class OriginCheck
      def initialize(allowed_origins, action_cable: nil)
        @allowed = allowed_origins
        @action_cable = action_cable
      end

      def allowed?(env)
        origin = env["HTTP_ORIGIN"]
        return true if @allowed.include?("*")
        return true if origin && @allowed.any? { |pattern| matches?(pattern, origin) }
        return @allowed.empty? unless @action_cable

        action_cable_allows?(env, origin)
      end

      private

      def action_cable_allows?(env, origin)
        config = @action_cable
        return true if config.disable_request_forgery_protection

        scheme = ::Rack::Request.new(env).ssl? ? "https" : "http" # Action Cable is loaded, so Rack is
        return true if config.allow_same_origin_as_host && origin == "#{scheme}://#{env["HTTP_HOST"]}"

        Array(config.allowed_request_origins).any? { |allowed| allowed === origin } # rubocop:disable Style/CaseEquality
      end

      def matches?(pattern, origin)
        return origin.casecmp?(pattern) if pattern.include?("://")

        host = origin.sub(%r{\A[a-z][a-z0-9+.-]*://}i, "").sub(/:\d+\z/, "").downcase
        if pattern.start_with?("*.")
          host.end_with?(pattern[1..].downcase)
        else
          host == pattern.downcase
        end
      end
    end
  end
end
