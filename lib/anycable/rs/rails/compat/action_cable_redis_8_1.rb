# frozen_string_literal: true

require "action_cable/subscription_adapter/base"
require "anycable/rs/redis_publisher"

module AnyCable
  module RS
    module Rails
      module Compat
        # Rails 8.1.3's Action Cable redis adapter asks for redis-rb below 6
        # (`gem "redis", ">= 4", "< 6"` in action_cable/subscription_adapter/redis.rb), so with
        # redis-rb 6 in the bundle `adapter: redis` raises Gem::LoadError at the first broadcast.
        # Under anycable-rs that adapter only ever publishes (anycable-rs' node does the
        # subscribing, CableAdapters), so its broadcasts then go out in the same format through
        # anycable-rs' own Redis client, which speaks redis-rb 4 to 6:
        # PUBLISH <channel_prefix>:<broadcasting> <payload>.
        module ActionCableRedis81
          # Prepended to ActionCable::Server::Configuration.
          module PubsubAdapter
            def pubsub_adapter
              super
            rescue Gem::LoadError => e
              raise unless cable&.fetch("adapter", nil).to_s == "redis" && e.message.include?("redis")

              AnyCable::RS.logger.info("anycable-rs: Action Cable's redis adapter does not load with this redis-rb " \
                                       "(#{e.message.lines.first.strip}); cable.yml's broadcasts go out through " \
                                       "anycable-rs' Redis client in Action Cable's format")
              Publisher
            end
          end

          # Publishes as Action Cable's redis adapter does; subscribing is the node's job.
          class Publisher < ::ActionCable::SubscriptionAdapter::Base
            def broadcast(channel, payload)
              prefix = @server.config.cable&.fetch("channel_prefix", nil).to_s
              publisher.publish(prefix.empty? ? channel : "#{prefix}:#{channel}", payload)
            end

            def subscribe(channel, _callback, _success_callback = nil)
              raise AnyCable::RS::Error, "Action Cable's own server cannot stream #{channel.inspect} through " \
                                         "anycable-rs' Redis publisher: mount AnyCable::RS.server at your cable path"
            end

            def unsubscribe(_channel, _callback); end

            def shutdown
              @publisher&.close
            end

            private

            def publisher
              @publisher ||= begin
                config = AnyCable::RS.config
                AnyCable::RS::RedisPublisher.new(url: config.redis_url, logger: AnyCable::RS.logger,
                                                 tls_verify: config.redis_tls_verify,
                                                 ca_path: config.redis_tls_ca_cert_path)
              end
            end
          end

          def self.install!
            target = ::ActionCable::Server::Configuration
            target.prepend(PubsubAdapter) unless target <= PubsubAdapter
          end
        end
      end
    end
  end
end
