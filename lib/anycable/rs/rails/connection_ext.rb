# frozen_string_literal: true

require "active_support/json"
require_relative "state_attributes"

module AnyCable
  module RS
    module Rails
      # Prepended to ActionCable::Connection::Base. A connection built by the RPC handler carries
      # the call's Socket (`anycable_rs?` is true): what it transmits or closes goes into that
      # Socket instead of a WebSocket. Connections of a stock Action Cable server have no Socket
      # and behave exactly as before.
      module ConnectionExt
        attr_accessor :anycable_rs_socket

        def anycable_rs?
          !anycable_rs_socket.nil?
        end

        def transmit(cable_message)
          return super unless anycable_rs?

          anycable_rs_socket.transmit(ActiveSupport::JSON.encode(cable_message))
        end

        def close(reason: nil, reconnect: true)
          return super unless anycable_rs?

          transmit(type: ActionCable::INTERNAL[:message_types][:disconnect], reason: reason, reconnect: reconnect)
          anycable_rs_socket.close
        end

        private

        # cstate, for state_attr_accessor.
        def anycable_rs_state
          anycable_rs_socket&.cstate
        end
      end

      ActiveSupport.on_load(:action_cable_connection) do
        prepend ConnectionExt
        singleton_class.prepend StateAttributes
      end
    end
  end
end
