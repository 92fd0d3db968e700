# frozen_string_literal: true

module AnyCable
  module RS
    # The Rack apps the gem serves, as `AnyCable::RS.server` and friends (AnyCable::RS extends
    # it): one instance of each per process, to mount in config/routes.rb or config.ru.
    module Endpoints
      # The Rack app to mount: `mount AnyCable::RS.server => "/cable"`.
      def server
        @server ||= Server.new
      end

      # Whether `server` was built (mounted) in this process.
      def server_built?
        !@server.nil?
      end

      # The Rack app of the HTTP broadcast endpoint:
      # `mount AnyCable::RS.broadcast_endpoint => "/_broadcast"`.
      def broadcast_endpoint
        @broadcast_endpoint ||= BroadcastEndpoint.new
      end

      # The Rack app of the HTTP RPC endpoint, which serves this app's channels to another
      # WebSocket server (anycable-go, or anycable-rs with `rpc_host: http://...`):
      # `mount AnyCable::RS.http_rpc_endpoint => "/_anycable"` (see HTTPRPCEndpoint).
      def http_rpc_endpoint
        @http_rpc_endpoint ||= HTTPRPCEndpoint.new
      end

      # The Rack app of the Prometheus endpoint: `mount AnyCable::RS.metrics_endpoint => "/metrics"`.
      def metrics_endpoint
        @metrics_endpoint ||= MetricsEndpoint.new
      end

      # The Rack app of the health endpoint: `mount AnyCable::RS.health_endpoint => "/health"`.
      def health_endpoint
        @health_endpoint ||= HealthEndpoint.new
      end
    end
  end
end
