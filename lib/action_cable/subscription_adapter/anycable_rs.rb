# frozen_string_literal: true

require "action_cable/subscription_adapter/base"
require "anycable/rs"
require "anycable/rs/rails/compat/remote_connections_6_1_to_7_2"

module ActionCable
  module SubscriptionAdapter
    # `adapter: anycable_rs` in config/cable.yml: `ActionCable.server.broadcast` and
    # `broadcast_to` go through AnyCable::RS.broadcast without waiting for delivery — through
    # Redis to every process when `broadcast_adapter: redis` is set (also from consoles, runners
    # and job workers), else to this process's hub. `remote_connections.where(...).disconnect`
    # becomes an AnyCable remote disconnect (see Rails::Compat::RemoteDisconnect).
    #
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

AnyCable::RS::Rails::Compat::RemoteDisconnect.install!
