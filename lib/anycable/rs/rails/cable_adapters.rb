# frozen_string_literal: true

module AnyCable
  module RS
    module Rails
      # What config/cable.yml's adapter means for anycable-rs clients, checked at boot, so that
      # no broadcast vanishes without a word:
      #
      # - `anycable_rs`: the adapter of this gem.
      # - `redis`: stock Action Cable's Redis format, received in every process (ActionCableRedis);
      #   published by anycable-rs where Rails' adapter refuses the redis-rb (ActionCableRedis81).
      # - `async`, `test`, `inline` (Rails' defaults for development and test): broadcasts made
      #   in this process reach its anycable-rs clients too (Mirror), as they would reach Action
      #   Cable's own connections; they never leave the process, as under Action Cable.
      # - `any_cable` / `anycable` (AnyCable's Rails gem): its broadcasts go out through AnyCable's
      #   broadcast adapter, which reaches anycable-rs when it takes broadcasts from Redis or HTTP
      #   (`broadcast_adapter: redis` or `http`).
      # - anything else (`postgresql`, `solid_cable`, ...): boot stops with a ConfigError naming
      #   the fix, since broadcasts of other processes would never arrive.
      module CableAdapters
        IN_PROCESS = %w[async test inline].freeze
        ANYCABLE = %w[any_cable anycable].freeze

        # Prepended to ActionCable::SubscriptionAdapter::Inline (async and test inherit it).
        module Mirror
          def broadcast(channel, payload)
            super
            AnyCable::RS.broadcast(channel, payload)
          end
        end

        # Checks `cable` (ActionCable.server.config.cable) against `config`; installs Mirror for
        # the in-process adapters. Returns the adapter's name.
        def self.apply(cable, config:, logger:)
          adapter = (cable || {}).to_h.transform_keys(&:to_s)["adapter"].to_s
          if IN_PROCESS.include?(adapter)
            install_mirror
            logger.info("anycable-rs: cable.yml's `#{adapter}` adapter: broadcasts made in this process reach its " \
                        "anycable-rs clients (use `adapter: anycable_rs` to reach every process)")
          elsif adapter == "redis"
            require "anycable/rs/rails/compat/action_cable_redis_8_1"
            Compat::ActionCableRedis81.install!
          elsif adapter != "anycable_rs" && !anycable_reaches_us?(adapter, config)
            raise ConfigError, unsupported(adapter)
          end
          adapter
        end

        # AnyCable's Rails gem publishes through its broadcast adapter: anycable-rs hears it when
        # it takes broadcasts from the same Redis or HTTP endpoint.
        def self.anycable_reaches_us?(adapter, config)
          ANYCABLE.include?(adapter) && %w[redis http].include?(config.broadcast_adapter)
        end

        def self.install_mirror
          require "action_cable/subscription_adapter/inline"
          inline = ::ActionCable::SubscriptionAdapter::Inline
          inline.prepend(Mirror) unless inline <= Mirror
        end

        def self.unsupported(adapter)
          shown = adapter.empty? ? "no adapter" : "the `#{adapter}` adapter"
          fix = if ANYCABLE.include?(adapter)
                  "set broadcast_adapter: redis (the Redis AnyCable's broadcast adapter publishes to)"
                else
                  "use `adapter: anycable_rs` (with broadcast_adapter: redis for several processes) or `adapter: redis`"
                end
          "config/cable.yml names #{shown} for #{::Rails.env}: its broadcasts do not reach anycable-rs clients; #{fix}"
        end
      end
    end
  end
end
