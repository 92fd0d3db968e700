# frozen_string_literal: true

require "concurrent/map"
require_relative "state_attributes"

module AnyCable
  module RS
    module Rails
      # Prepended to ActionCable::Channel::Base. A channel whose connection was built by the RPC
      # handler (`anycable_rs?`) records its streams in the call's Socket, where the WebSocket
      # server picks them up, instead of subscribing to Action Cable's pubsub. Channels of a stock
      # Action Cable server take the original code paths.
      module ChannelExt
        # [channel class name, topic] pairs already warned about, so each warning is logged once.
        WARNED = Concurrent::Map.new

        # Class side, prepended to Channel::Base's singleton class.
        module ClassMethods
          # State accessors are public (channel specs read them) but are no actions a client may call.
          def action_methods
            super - state_attributes.flat_map { |name| [name, "#{name}="] }
          end
        end

        def anycable_rs?
          connection.respond_to?(:anycable_rs?) && connection.anycable_rs?
        end

        # The WebSocket server relays every broadcast as is: a callback, block or non-JSON coder
        # cannot run per message, so it is ignored (with a warning) and the stream still starts.
        # `whisper: true` (AnyCable's option) makes it the subscription's whisper stream: the
        # client's `whisper` commands go to its other subscribers (docs/hotwire.md).
        def stream_from(broadcasting, callback = nil, coder: nil, whisper: false, &block)
          return super(broadcasting, callback, coder: coder, &block) unless anycable_rs?

          if callback || block || (coder && coder != ActiveSupport::JSON)
            anycable_rs_warn_once(:stream_handler, "stream_from callbacks and coders are not supported by anycable-rs; " \
                                                   "broadcasts are relayed to the client unchanged")
          end
          broadcasting = String(broadcasting)
          connection.anycable_rs_socket.stream_from(broadcasting)
          connection.anycable_rs_socket.whisper(identifier, broadcasting) if whisper
          logger.info "#{self.class.name} is streaming from #{broadcasting}"
        end

        def stream_for(model, callback = nil, coder: nil, whisper: false, &block)
          return super(model, callback, coder: coder, &block) unless anycable_rs?

          stream_from(broadcasting_for(model), callback || block, coder: coder, whisper: whisper)
        end

        # AnyCable's presence API: enters the presence set of `stream` (default: the first stream
        # this call started) as `id` (default: the connection's identifier), with `info` (anything
        # JSON) for the others to see. They get a `presence` join event; clients can ask who is
        # there (docs/hotwire.md). Leaving the channel, or disconnecting for presence_ttl, leaves.
        def join_presence(stream = nil, id: user_presence_id, info: user_presence_info)
          return unless anycable_rs?

          socket = connection.anycable_rs_socket
          stream ||= socket.streams.first || raise(ArgumentError,
                                                   "join_presence needs a stream: stream_from one first, or name it")
          socket.presence_join(identifier, String(stream), id, info)
        end

        # Leaves the subscription's presence set.
        def leave_presence(id = user_presence_id)
          return unless anycable_rs?

          connection.anycable_rs_socket.presence_leave(id)
        end

        def stop_stream_from(broadcasting)
          return super unless anycable_rs?

          broadcasting = String(broadcasting)
          connection.anycable_rs_socket.stop_stream_from(broadcasting)
          logger.info "#{self.class.name} stopped streaming from #{broadcasting}"
        end

        def stop_all_streams
          return super unless anycable_rs?

          connection.anycable_rs_socket.stop_all_streams
        end

        private

        # The presence id join_presence uses by default: the connection's identifiers.
        def user_presence_id
          connection.connection_identifier
        end

        # What join_presence shows the others by default: nothing.
        def user_presence_info
          nil
        end

        # istate of this subscription, for state_attr_accessor.
        def anycable_rs_state
          connection.anycable_rs_socket.istate(identifier) if anycable_rs?
        end

        def anycable_rs_warn_once(topic, message)
          return unless WARNED.put_if_absent([self.class.name, topic], true).nil?

          logger.warn "#{self.class.name}: #{message}"
        end
      end

      ActiveSupport.on_load(:action_cable_channel) do
        prepend ChannelExt
        singleton_class.prepend StateAttributes
        singleton_class.prepend ChannelExt::ClassMethods
      end
    end
  end
end
