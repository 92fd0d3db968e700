# frozen_string_literal: true

module AnyCable
  module RS
    # Broadcasting from the app, as `AnyCable::RS.broadcast` and friends (AnyCable::RS extends
    # it): to Redis or this process's node, batched, with a client left out, and remote
    # disconnects. Broadcaster decides where each goes.
    module Broadcasting
      # Sends `data` (a String, usually JSON; anything else is encoded as JSON) to every
      # subscriber of `stream`: through Redis to every process when `broadcast_adapter` is
      # `redis` (also from a console, `rails runner` or a job worker), else to this process's
      # clients (see Broadcaster). Returns at once; delivery happens on the nodes' threads.
      #
      # exclude_socket: the `sid` a client got in its welcome message; that client is skipped.
      # Defaults to the one given to with_socket_id around this call.
      def broadcast(stream, data, exclude_socket: current_socket_id)
        data = data.to_json unless data.is_a?(String)
        broadcaster.broadcast(stream.to_s, data, exclude_socket: exclude_socket&.to_s)
      end

      # Sends the broadcasts made in the block (on this thread) together at its end: one
      # PUBLISH of a JSON array with Redis, one call into the node without.
      #
      #   AnyCable::RS.batch_broadcasts do
      #     posts.each { |post| PostsChannel.broadcast_to(post, post.as_json) }
      #   end
      def batch_broadcasts(&)
        broadcaster.batch(&)
      end

      # Closes, in every process, the connections whose identifiers JSON (see
      # Rails::Identifiers.dump) is `identifiers`; clients are told `remote` and whether to
      # reconnect. `ActionCable.server.remote_connections.where(...).disconnect` comes here
      # with `adapter: anycable_rs`.
      def disconnect_remote(identifiers, reconnect: true)
        broadcaster.disconnect(identifiers.to_s, reconnect: reconnect ? true : false)
      end

      # Excludes the client with this session id from the broadcasts made in the block (e.g. a
      # controller action acting for the client that sent `X-Socket-ID`):
      #
      #   around_action { |_, action| AnyCable::RS.with_socket_id(request.headers["X-Socket-ID"], &action) }
      def with_socket_id(sid)
        previous = Thread.current[SOCKET_ID]
        Thread.current[SOCKET_ID] = sid.to_s.empty? ? nil : sid.to_s
        yield
      ensure
        Thread.current[SOCKET_ID] = previous
      end

      def current_socket_id
        Thread.current[SOCKET_ID]
      end

      # Routes broadcasts: Redis or this process's node.
      def broadcaster
        @broadcaster ||= Broadcaster.new(config: -> { config }, node: -> { running_node }, logger: -> { logger })
      end
    end
  end
end
