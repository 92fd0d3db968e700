# frozen_string_literal: true

require "active_support/json"
require_relative "serializer"

module AnyCable
  module RS
    module Rails
      # The state of one channel subscription (istate) or of the connection (cstate) during one
      # RPC call: the serialised values the WebSocket server sent, decoded lazily on first read,
      # and the values written during the call, serialised into the response as deltas.
      class State
        # istate of one identifier in a Disconnect request: a JSON object string of serialised values.
        def self.parse(json)
          new(json.to_s.empty? ? {} : ActiveSupport::JSON.decode(json))
        end

        def initialize(serialized = {})
          @serialized = serialized || {}
          @written = {}
        end

        # The value stored under name, or nil (an empty string is a deleted key).
        def read(name)
          string = @serialized[name.to_s]
          Serializer.load(string) unless string.nil? || string.empty?
        end

        def write(name, value)
          @written[name.to_s] = value
        end

        # Stores `string` under name as it is, not serialised: AnyCable's reserved keys.
        def write_raw(name, string)
          (@raw ||= {})[name.to_s] = string
        end

        # {"name" => "<serialised value>"} for every value written during the call.
        def changes
          changes = @written.transform_values { |value| Serializer.dump(value) }
          @raw ? changes.merge(@raw) : changes
        end
      end
    end
  end
end
