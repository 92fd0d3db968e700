# frozen_string_literal: true

require "openssl"

module AnyCable
  module RS
    # The Prometheus endpoint, a Rack app: `GET` answers this process's metrics in Prometheus'
    # text format with anycable-go's names (`anycable_go_clients_num`, `anycable_go_rpc_call_total`,
    # ...; `metrics_tags` become labels).
    #
    #   mount AnyCable::RS.metrics_endpoint => "/metrics"   # config/routes.rb
    #
    # or set `metrics_http: /metrics` and the Railtie mounts it. With `metrics_http_basic_auth`
    # ("user:password") a scrape must send those credentials (HTTP Basic), compared in constant
    # time. Each process reports its own node: under Puma's cluster mode a scrape reaches one
    # worker, so prefer StatsD (`statsd_host`), which every worker sends to.
    class MetricsEndpoint
      CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

      def initialize(config: -> { RS.config }, node: -> { RS.node })
        @config = config
        @node = node
      end

      def call(env)
        unless %w[GET HEAD].include?(env["REQUEST_METHOD"])
          return [405, { "content-type" => "text/plain", "allow" => "GET, HEAD" }, ["Only GET is allowed\n"]]
        end
        return unauthorized unless authorized?(env)

        body = env["REQUEST_METHOD"] == "HEAD" ? [] : [@node.call.prometheus]
        [200, { "content-type" => CONTENT_TYPE, "cache-control" => "no-store" }, body]
      end

      private

      def authorized?(env)
        expected = @config.call.metrics_http_basic_auth
        return true if expected.nil?

        given = env["HTTP_AUTHORIZATION"].to_s[/\ABasic\s+(\S+)\s*\z/i, 1]
        credentials = given&.unpack1("m")
        # secure_compare hashes both sides first: timing tells nothing about the expected value.
        !credentials.nil? && OpenSSL.secure_compare(credentials, expected)
      end

      def unauthorized
        [401, { "content-type" => "text/plain", "www-authenticate" => 'Basic realm="anycable-rs metrics"' },
         ["Unauthorized\n"]]
      end
    end
  end
end
