# frozen_string_literal: true

require_relative "request_env"
require_relative "identifiers"

module AnyCable
  module RS
    module Rails
      # Builds the app's own connection object (ActionCable.server.config.connection_class, looked
      # up on every call so code reloading works) for one RPC call, attached to the call's Socket.
      module ConnectionFactory
        class << self
          # env: the RPC request's Env Hash; identifiers: the JSON from a previous Connect, if any.
          def build(env, socket, identifiers: nil)
            server = ActionCable.server
            connection = server.config.connection_class.call.new(server, RequestEnv.build(env))
            connection.anycable_rs_socket = socket
            Identifiers.restore(connection, identifiers)
            connection
          end
        end
      end
    end
  end
end
