# frozen_string_literal: true

module AnyCable
  module RS
    # The health endpoint, a Rack app for load balancers and uptime checks: `GET` answers 200
    # "OK" while this process's tokio runtime runs tasks and, when channels run in-process, every
    # bridge worker thread is alive; 503 with the reason otherwise (also once shut down).
    #
    #   mount AnyCable::RS.health_endpoint => "/health"   # config/routes.rb
    #
    # or set `health_path: /health` and the Railtie mounts it.
    class HealthEndpoint
      def initialize(health: -> { RS.health })
        @health = health
      end

      def call(env)
        unless %w[GET HEAD].include?(env["REQUEST_METHOD"])
          return [405, { "content-type" => "text/plain", "allow" => "GET, HEAD" }, ["Only GET is allowed\n"]]
        end

        problem = @health.call
        status, text = problem ? [503, "#{problem}\n"] : [200, "OK\n"]
        [status, { "content-type" => "text/plain", "cache-control" => "no-store" },
         env["REQUEST_METHOD"] == "HEAD" ? [] : [text]]
      end
    end
  end
end
