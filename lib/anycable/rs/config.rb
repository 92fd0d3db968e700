# frozen_string_literal: true

module AnyCable
  module RS
    # The settings of anycable-rs, with AnyCable's names (`path`, `headers`, `ping_interval`,
    # `redis_url`, ...). Defaults and validation come from the engine, so Ruby and Rust can
    # never disagree on them: every assignment is checked at once and a bad value raises
    # ConfigError naming the key and what it accepts.
    #
    #   AnyCable::RS.configure do |config|
    #     config.ping_interval = 5
    #     config.headers = %w[cookie authorization]
    #   end
    #
    # A few settings only the Ruby side uses (the HTTP broadcast endpoint's `broadcast_key`,
    # the HTTP RPC endpoint's `http_rpc_mount_path`) are kept here and never handed to the
    # engine. Secrets (`secret`, `http_rpc_secret`, `broadcast_key`) never appear in `to_h` or
    # `inspect`, so a config can be logged safely.
    class Config
      # Ruby-side settings and their defaults (nil: not set).
      RUBY_DEFAULTS = {
        # The Bearer token of POST /_broadcast; default: hex HMAC-SHA256(secret, "broadcast-cable").
        "broadcast_key" => nil,
        # Where the Railtie mounts the HTTP RPC endpoint (see HTTPRPCEndpoint).
        "http_rpc_mount_path" => "/_anycable"
      }.freeze
      # Ruby-side settings that are paths (the others are optional strings).
      RUBY_PATHS = %w[http_rpc_mount_path].freeze
      SECRETS = %w[secret http_rpc_secret broadcast_key].freeze
      FILTERED = "[FILTERED]"

      # Every setting the engine knows (the Ruby-side ones are added only when it does not).
      def self.engine_keys
        @engine_keys ||= Native::EngineConfig.defaults.keys.freeze
      end

      def self.ruby_keys
        @ruby_keys ||= (RUBY_DEFAULTS.keys - engine_keys).freeze
      end

      def self.keys
        engine_keys + ruby_keys
      end

      # Settings given in environment variables: ANYCABLE_<KEY>, and REDIS_URL for redis_url.
      def self.from_env(env = ENV)
        settings = {}
        keys.each do |key|
          value = env["ANYCABLE_#{key.upcase}"]
          value ||= env["REDIS_URL"] if key == "redis_url"
          settings[key] = value unless value.nil?
        end
        new(settings)
      end

      def initialize(settings = {})
        @settings = {}
        update(settings)
      end

      # Applies several settings at once; nothing changes if one of them is bad.
      def update(settings)
        merged = @settings.merge(settings.transform_keys(&:to_s))
        check_ruby_key_spelling(merged.keys)
        ruby = merged.slice(*self.class.ruby_keys)
        given = merged.reject { |key, _| ruby.key?(key) }
        engine = Native::EngineConfig.new(given).to_h
        @effective = engine.merge(ruby_settings(ruby)).merge(engine_secrets(engine, given))
        @settings = merged
        self
      end

      # Raises ConfigError when a setting lacks another one it needs: a Redis broadcast source
      # (`broadcast_adapter: redis`, `action_cable_redis`) without `redis_url`. Not checked on
      # assignment, so settings can be given one at a time in any order (as in the engine).
      def check!
        return self if redis_url

        if broadcast_adapter == "redis"
          raise ConfigError, "`redis_url` must be set: broadcast_adapter is redis (set redis_url or REDIS_URL)"
        elsif action_cable_redis
          raise ConfigError, "`redis_url` must be set: action_cable_redis is on (set redis_url or REDIS_URL)"
        end

        self
      end

      # Whether `key` was given (by ANYCABLE_* / REDIS_URL or an assignment), not defaulted.
      def set?(key)
        !@settings[key.to_s].nil?
      end

      def [](key)
        key = key.to_s
        return @effective[key] if @effective.key?(key)

        Native::EngineConfig.new(key => nil) # raises ConfigError naming the nearest known key
      end

      def []=(key, value)
        update(key.to_s => value)
      end

      # The effective settings (defaults included), String keys; secrets show as "[FILTERED]".
      def to_h
        @effective.to_h { |key, value| [key, SECRETS.include?(key) && value ? FILTERED : value] }
      end

      # What the engine is built from (secrets included when the engine knows them).
      def engine_settings
        @effective.slice(*self.class.engine_keys)
      end

      def inspect
        "#<#{self.class.name} #{to_h.inspect}>"
      end
      alias to_s inspect

      keys.each do |key|
        define_method(key) { @effective.fetch(key) }
        define_method("#{key}=") { |value| update(key => value) }
      end
      alias debug? debug

      private

      # The engine names the nearest of its own keys; a misspelt Ruby-side key is named here.
      def check_ruby_key_spelling(keys)
        (keys - self.class.keys).each do |key|
          nearest = DidYouMean::SpellChecker.new(dictionary: self.class.keys).correct(key).first
          raise ConfigError, "unknown setting `#{key}`; did you mean `#{nearest}`?" if self.class.ruby_keys.include?(nearest)
        end
      end

      # Ruby-side settings are strings; an empty one means "not set" (`ANYCABLE_BROADCAST_KEY=`),
      # which for a path means its default.
      def ruby_settings(given)
        defaults = RUBY_DEFAULTS.slice(*self.class.ruby_keys)
        defaults.merge(given) do |key, default, value|
          unless value.nil? || value.is_a?(String) || value.is_a?(Symbol)
            raise ConfigError, "invalid value of class #{value.class} for `#{key}`: expected a string"
          end

          value = value.to_s.strip.empty? ? nil : value.to_s
          RUBY_PATHS.include?(key) ? ruby_path(key, value, default) : value
        end
      end

      def ruby_path(key, value, default)
        return default if value.nil?
        return value.strip if value.strip.start_with?("/")

        raise ConfigError, "invalid value #{value.inspect} for `#{key}`: expected a path starting with `/`"
      end

      # The engine shows secrets as "[FILTERED]" (its to_h can be logged); the value is the one
      # given, which the engine accepted (a string; blanks around it dropped, as there).
      def engine_secrets(engine, given)
        SECRETS.select { |key| engine[key] == FILTERED }.to_h { |key| [key, given[key].to_s.strip] }
      end
    end
  end
end
