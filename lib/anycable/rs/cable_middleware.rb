# frozen_string_literal: true

module AnyCable
  module RS
    # Serves the cable path at the top of the app's middleware stack
    # (`config.anycable_rs.mount = true`): a WebSocket upgrade reaches AnyCable::RS.server before
    # any other middleware or the router runs, since nothing the app's middleware does to a
    # request is seen by the channels (the node hands them the request's URL and headers, as
    # they came). A reconnect storm then costs Puma the least Ruby per client: in
    # bench/README.md's storm, 9,000 JWT clients were confirmed in 2.8 s this way and 16.5 s
    # through the router. Every other request goes on to the app.
    class CableMiddleware
      def initialize(app, path, server = RS.server)
        @app = app
        @paths = [path, "#{path.chomp("/")}/"].uniq.freeze
        @server = server
      end

      def call(env)
        @paths.include?(env["PATH_INFO"]) ? @server.call(env) : @app.call(env)
      end
    end
  end
end
