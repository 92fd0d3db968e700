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
    # A few settings only the Ruby side uses (the HTTP broadcast endpoint's `secret` and
    # `broadcast_key`) are kept here and never handed to the engine. Secrets never appear in
    # `to_h` or `inspect`, so a config can be logged safely.
    class Config
      # Ruby-side settings and their defaults (nil: not set).
      RUBY_DEFAULTS = {
        # The application secret AnyCable derives other keys from (broadcast_key: PROTOCOL §3).
        "secret" => nil,
        # The Bearer token of POST /_broadcast; default: hex HMAC-SHA256(secret, "broadcast-cable").
        "broadcast_key" => nil
      }.freeze
      SECRETS = %w[secret broadcast_key].freeze
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
        engine = Native::EngineConfig.new(merged.reject { |key, _| ruby.key?(key) }).to_h
        @effective = engine.merge(ruby_settings(ruby))
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

      # Ruby-side settings are strings; an empty one means "not set" (`ANYCABLE_SECRET=`).
      def ruby_settings(given)
        RUBY_DEFAULTS.slice(*self.class.ruby_keys).merge(given) do |key, _default, value|
          unless value.nil? || value.is_a?(String) || value.is_a?(Symbol)
            raise ConfigError, "invalid value of class #{value.class} for `#{key}`: expected a string"
          end

          value.to_s.strip.empty? ? nil : value.to_s
        end
      end
    end
  end
end
