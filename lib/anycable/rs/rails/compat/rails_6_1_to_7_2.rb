# frozen_string_literal: true

module AnyCable
  module RS
    module Rails
      # The private Action Cable methods the RPC handler relies on, as they are in Rails 6.1 to 7.2.
      # Everything else the handler does goes through public Action Cable API.
      module Compat
        # Channel::Base#subscription_rejected? (private): did `subscribed` call `reject`?
        def self.subscription_rejected?(channel)
          channel.send(:subscription_rejected?)
        end

        # Channel::PeriodicTimers#start_periodic_timers (private, an after_subscribe callback) would
        # start Action Cable's event loop thread; a stateless call has no lifetime to run timers in.
        module PeriodicTimers
          private

          def start_periodic_timers
            return super unless anycable_rs?

            if self.class.periodic_timers.any?
              anycable_rs_warn_once(:periodic_timers, "`periodically` timers are not run by anycable-rs")
            end
          end
        end
      end

      ActiveSupport.on_load(:action_cable_channel) { prepend Compat::PeriodicTimers }
    end
  end
end
