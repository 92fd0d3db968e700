# frozen_string_literal: true

require "action_cable/subscription_adapter/base"
require "anycable/rs"

module ActionCable
  module SubscriptionAdapter
    # `adapter: anycable_rs` in config/cable.yml: `ActionCable.server.broadcast` and
    # `broadcast_to` hand the message to anycable-rs' hub without waiting for delivery.
    # Subscribing is the hub's job: channels served by `AnyCable::RS.server` never call
    # `subscribe` here; Action Cable's own server cannot use this adapter.
    class AnycableRs < Base
      def broadcast(channel, payload)
        AnyCable::RS.broadcast(channel, payload)
      end

      def subscribe(channel, _message_callback, _success_callback = nil)
        raise AnyCable::RS::Error,
              "the anycable_rs adapter only works with anycable-rs' server, but Action Cable's own server " \
              "tried to stream #{channel.inspect}: mount AnyCable::RS.server at your cable path " \
              "(or set config.anycable_rs.mount = true) instead of ActionCable.server"
      end

      def unsubscribe(_channel, _message_callback); end

      def shutdown; end
    end
  end
end
