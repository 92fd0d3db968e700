# frozen_string_literal: true

require_relative "state"

module AnyCable
  module RS
    module Rails
      # Stands in for the WebSocket during one RPC call: collects what the app's connection and
      # channels do to it (transmissions, streams started and stopped, close) and carries the
      # call's cstate/istate. The handler turns it into the RPC response; nothing outlives the call.
      #
      # Streams are recorded in the order the WebSocket server applies them (stop_streams, then
      # stopped_streams, then streams), so the net effect of one call is what the channel meant.
      class Socket
        WHISPER_STREAM = "$w"
        PRESENCE_STREAM = "$p"

        # The presence change of this call (`join_presence` / `leave_presence`), if any:
        # {"type" => "join" | "leave", "id" => String, "info" => JSON String}.
        attr_reader :transmissions, :streams, :stopped_streams, :cstate, :presence

        def initialize(cstate: {})
          @transmissions = []
          @streams = []
          @stopped_streams = []
          @stop_streams = false
          @closed = false
          @cstate = State.new(cstate)
          @istates = {}
          @presence = nil
        end

        # message: an encoded Action Cable message (JSON string).
        def transmit(message)
          @transmissions << message
        end

        def stream_from(broadcasting)
          @streams << broadcasting unless @streams.include?(broadcasting)
        end

        def stop_stream_from(broadcasting)
          @streams.delete(broadcasting)
          @stopped_streams << broadcasting unless @stopped_streams.include?(broadcasting)
        end

        def stop_all_streams
          @streams.clear
          @stopped_streams.clear
          @stop_streams = true
        end

        def stop_streams?
          @stop_streams
        end

        def close
          @closed = true
        end

        def closed?
          @closed
        end

        # The State of the subscription with this identifier (empty unless restored).
        def istate(identifier)
          @istates[identifier] ||= State.new
        end

        def restore_istate(identifier, state)
          @istates[identifier] = state
        end

        # Makes `broadcasting` the whisper stream of `identifier`'s subscription: AnyCable's
        # reserved istate key `$w`, holding the stream name as is.
        def whisper(identifier, broadcasting)
          istate(identifier).write_raw(WHISPER_STREAM, broadcasting)
        end

        # Enters `broadcasting`'s presence set as `id` (the subscription streams from it and it
        # becomes its presence stream, istate `$p`); `info` (anything JSON) is what the others see.
        def presence_join(identifier, broadcasting, id, info)
          raise ArgumentError, "a presence id is required" if id.to_s.empty?

          stream_from(broadcasting)
          istate(identifier).write_raw(PRESENCE_STREAM, broadcasting)
          info = info.to_json unless info.nil? || info.is_a?(String)
          @presence = { "type" => "join", "id" => id.to_s, "info" => info.to_s }
        end

        # Leaves the subscription's presence set.
        def presence_leave(id)
          @presence = { "type" => "leave", "id" => id.to_s, "info" => "" }
        end
      end
    end
  end
end
