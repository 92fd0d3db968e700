# frozen_string_literal: true

module AnyCable
  module RS
    module Rails
      # An app that keeps stock Action Cable's `adapter: redis` in config/cable.yml publishes
      # with Action Cable's own Redis adapter: one Redis channel per stream (`<channel_prefix>
      # <stream>`) and `<channel_prefix>action_cable/<connection id>` for remote disconnects.
      # This points the engine at the same Redis (url, channel_prefix, ssl_params of cable.yml)
      # and turns on that format (`action_cable_redis`), so those publishers reach anycable-rs
      # clients in every process. Broadcasts made with AnyCable::RS.broadcast go through the
      # same Redis in AnyCable's format (`broadcast_adapter: redis`), unless set otherwise.
      #
      # Settings given explicitly (ANYCABLE_*, AnyCable::RS.configure) win, except redis_url:
      # Action Cable's publishers use cable.yml's url, so the engine must listen there.
      module ActionCableRedis
        # redis-rb's own default, which Action Cable's adapter uses when cable.yml has no url.
        DEFAULT_URL = "redis://localhost:6379"

        # Applies cable.yml's settings to `config`; returns whether the adapter is redis.
        def self.apply(cable, config:, logger:)
          cable = (cable || {}).to_h.transform_keys(&:to_s)
          return false unless cable["adapter"].to_s == "redis"
          return false if config.set?(:action_cable_redis) && !config.action_cable_redis

          settings = settings_for(cable, config)
          if config.redis_url && settings["redis_url"] != config.redis_url
            logger.info("anycable-rs: using cable.yml's Redis url for broadcasts instead of redis_url " \
                        "(Action Cable's redis adapter publishes there)")
          end
          config.update(settings)
          logger.info("anycable-rs: cable.yml uses Action Cable's redis adapter: its broadcasts and remote " \
                      "disconnects reach anycable-rs clients (channel_prefix #{config.channel_prefix.inspect})")
          true
        end

        def self.settings_for(cable, config)
          settings = { "action_cable_redis" => true, "redis_url" => cable["url"] || config.redis_url || DEFAULT_URL }
          settings["channel_prefix"] = cable["channel_prefix"].to_s unless config.set?(:channel_prefix)
          settings["broadcast_adapter"] = "redis" unless config.set?(:broadcast_adapter)
          settings.merge(tls_settings(cable["ssl_params"], config))
        end

        # ssl_params of cable.yml (as given to redis-rb) mapped to the engine's TLS settings.
        def self.tls_settings(ssl_params, config)
          ssl_params = (ssl_params || {}).to_h.transform_keys(&:to_s)
          settings = {}
          if ssl_params.key?("verify_mode") && !config.set?(:redis_tls_verify)
            require "openssl"
            settings["redis_tls_verify"] = ssl_params["verify_mode"] != OpenSSL::SSL::VERIFY_NONE
          end
          if ssl_params["ca_file"] && !config.set?(:redis_tls_ca_cert_path)
            settings["redis_tls_ca_cert_path"] = ssl_params["ca_file"]
          end
          settings
        end
      end
    end
  end
end
