# frozen_string_literal: true

module AnyCable
  module RS
    module Rails
      # Whether the engine may answer `Turbo::StreamsChannel` subscribes itself (the
      # `turbo_streams` setting, docs/hotwire.md): only while the channel is turbo-rails' own,
      # since the engine answers as turbo-rails' `subscribed` does and runs no app code. Any
      # customisation (a redefined `subscribed` or stream name check, `unsubscribed`, channel
      # callbacks, the connection's `before_command` callbacks) sends them through Ruby.
      module TurboStreams
        class << self
          # Turbo's signing key when the engine may answer Turbo subscribes, else nil (why is
          # logged at info).
          def key(logger)
            return unless defined?(::Turbo::Engine) && ::Turbo.respond_to?(:signed_stream_verifier_key)

            if (reason = customised)
              logger.info("anycable-rs: Turbo::StreamsChannel subscribes run the channel in Ruby: #{reason}")
              return
            end
            ::Turbo.signed_stream_verifier_key.to_s.b
          rescue ArgumentError, NameError => e # no key configured, or no channel
            logger.info("anycable-rs: Turbo::StreamsChannel subscribes run the channel in Ruby: #{e.message}")
            nil
          end

          # Why the app's Turbo::StreamsChannel is not the gem's own, or nil.
          def customised
            channel = ::Turbo::StreamsChannel
            %i[subscribed verified_stream_name_from_params].each do |name|
              where = channel.instance_method(name).source_location&.first
              return "#{channel}##{name} is defined in #{where}" unless gems_own?(where)
            end
            where = channel.method(:verified_stream_name).source_location&.first
            return "#{channel}.verified_stream_name is defined in #{where}" unless gems_own?(where)
            unless channel.instance_method(:unsubscribed).owner == ::ActionCable::Channel::Base
              return "#{channel}#unsubscribed is defined"
            end
            if added_callbacks?(channel, ::ActionCable::Channel::Base, :_subscribe_callbacks, :_unsubscribe_callbacks)
              return "#{channel} has subscribe callbacks"
            end
            if added_callbacks?(connection_class, ::ActionCable::Connection::Base, :_command_callbacks)
              return "the connection class has command callbacks"
            end

            nil
          end

          private

          def gems_own?(path)
            root = ::Turbo::Engine.root.to_s
            path&.start_with?("#{root}/")
          end

          # Whether `klass` has callbacks `names` that Action Cable's `base` class does not.
          def added_callbacks?(klass, base, *names)
            names.any? do |name|
              klass.respond_to?(name) && klass.public_send(name).map(&:filter) != base.public_send(name).map(&:filter)
            end
          end

          def connection_class
            ::ActionCable.server.config.connection_class.call
          end
        end
      end
    end
  end
end
