# frozen_string_literal: true

require "active_support/json"
require "active_support/core_ext/hash/indifferent_access"
require "active_support/core_ext/object/deep_dup"
require "active_support/core_ext/string/inflections"

module AnyCable
  module RS
    module Rails
      # Finds and instantiates the channel named by a subscription identifier, the way Action
      # Cable's Connection::Subscriptions does: the identifier's "channel" key must name a subclass
      # of ActionCable::Channel::Base, and the decoded identifier becomes the channel's params.
      module ChannelFactory
        # Distinct identifiers whose decoded params are kept (every command of a subscription
        # repeats its identifier). Past this many the cache starts over.
        CACHE_SIZE = 1024

        @params = {}

        class << self
          # The channel instance, or nil when the identifier names no channel class.
          def build(connection, identifier)
            params = decode(identifier).deep_dup
            channel_class = params[:channel].to_s.safe_constantize
            return unless channel_class.is_a?(Class) && channel_class <= ActionCable::Channel::Base

            channel_class.new(connection, identifier, params)
          end

          def channel_name(identifier)
            decode(identifier)[:channel]
          end

          private

          # The identifier's params, decoded once (frozen; callers dup what they hand out). Hash
          # reads and writes are atomic under the GVL.
          def decode(identifier)
            @params[identifier] ||= begin
              @params = {} if @params.size >= CACHE_SIZE
              ActiveSupport::JSON.decode(identifier).with_indifferent_access.freeze
            end
          end
        end
      end
    end
  end
end
