# frozen_string_literal: true

require "anycable/rs/rails/identifiers"

module AnyCable
  module RS
    module Rails
      module Compat
        # `ActionCable.server.remote_connections.where(current_user: user).disconnect`, as Rails 6.1
        # to 7.2 implement it, broadcasts `{"type":"disconnect"}` to the internal channel
        # `action_cable/<connection_identifier>`, which every Action Cable connection subscribes
        # to. anycable-rs connections subscribe to no such channel: with `adapter: anycable_rs`,
        # the disconnect becomes an AnyCable remote disconnect by identifiers JSON (the same
        # JSON the connection recorded at connect: `identified_by` order, GlobalID params for
        # records), through Redis to every process or to this process's node.
        #
        # Relies on RemoteConnection's internals: the `server` reader (protected), `identifiers`
        # and one instance variable per identifier. Rails 6.1's #disconnect takes no argument.
        module RemoteDisconnect
          def self.install!
            target = ::ActionCable::RemoteConnections::RemoteConnection
            target.prepend(self) unless target <= self
          end

          def self.anycable_rs_adapter?(server)
            pubsub = server.pubsub
            defined?(::ActionCable::SubscriptionAdapter::AnycableRs) &&
              pubsub.is_a?(::ActionCable::SubscriptionAdapter::AnycableRs)
          end

          def disconnect(reconnect: true)
            unless RemoteDisconnect.anycable_rs_adapter?(server)
              return reconnect == true ? super() : super(reconnect: reconnect)
            end

            AnyCable::RS.disconnect_remote(Identifiers.dump_remote(self), reconnect: reconnect)
          end
        end
      end
    end
  end
end
