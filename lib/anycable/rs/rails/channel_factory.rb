# frozen_string_literal: true

require "active_support/json"
require "active_support/core_ext/hash/indifferent_access"
require "active_support/core_ext/string/inflections"

module AnyCable
  module RS
    module Rails
      # Finds and instantiates the channel named by a subscription identifier, the way Action
      # Cable's Connection::Subscriptions does: the identifier's "channel" key must name a subclass
      # of ActionCable::Channel::Base, and the decoded identifier becomes the channel's params.
      module ChannelFactory
        class << self
          # The channel instance, or nil when the identifier names no channel class.
          def build(connection, identifier)
            params = decode(identifier)
            channel_class = params[:channel].to_s.safe_constantize
            return unless channel_class.is_a?(Class) && channel_class <= ActionCable::Channel::Base

            channel_class.new(connection, identifier, params)
          end

          def channel_name(identifier)
            decode(identifier)[:channel]
          end

          private

          def decode(identifier)
            ActiveSupport::JSON.decode(identifier).with_indifferent_access
          end
        end
      end
    end
  end
end
