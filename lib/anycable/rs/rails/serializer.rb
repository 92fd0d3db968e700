# frozen_string_literal: true

require "active_support/json"
require "active_support/core_ext/hash/indifferent_access"

module AnyCable
  module RS
    module Rails
      # Turns connection/channel state values into the strings AnyCable keeps in cstate/istate
      # and back: a GlobalID param for objects that have one (records), JSON for everything else.
      # This is the encoding the `anycable-rails` gem uses, so state survives a switch of RPC server.
      module Serializer
        # A GlobalID string: "gid://app/Model/1" or its URL-safe Base64 form (GlobalID#to_param),
        # which always starts with "Z2lkOi8v" ("gid://" encoded).
        GLOBAL_ID_PREFIXES = ["gid://", "Z2lkOi8v"].freeze

        class << self
          def dump(value)
            value.respond_to?(:to_gid_param) ? value.to_gid_param : ActiveSupport::JSON.encode(value)
          end

          def load(string)
            return locate(string) if global_id?(string)

            value = ActiveSupport::JSON.decode(string)
            value.is_a?(Hash) ? value.with_indifferent_access : value
          end

          # True for strings that name a record through GlobalID (when GlobalID is loaded at all).
          def global_id?(value)
            return false unless defined?(::GlobalID::Locator) && value.is_a?(String)

            value.start_with?(*GLOBAL_ID_PREFIXES)
          end

          def locate(global_id)
            ::GlobalID::Locator.locate(global_id)
          end
        end
      end
    end
  end
end
