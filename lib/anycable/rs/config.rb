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
    class Config
      # Settings given in environment variables: ANYCABLE_<KEY>, and REDIS_URL for redis_url.
      def self.from_env(env = ENV)
        settings = {}
        Native::EngineConfig.defaults.each_key do |key|
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
        @effective = Native::EngineConfig.new(merged).to_h
        @settings = merged
        self
      end

      def [](key)
        key = key.to_s
        return @effective[key] if @effective.key?(key)

        Native::EngineConfig.new(key => nil) # raises ConfigError naming the nearest known key
      end

      def []=(key, value)
        update(key.to_s => value)
      end

      # The effective settings (defaults included), String keys.
      def to_h
        @effective.dup
      end

      Native::EngineConfig.defaults.each_key do |key|
        define_method(key) { @effective.fetch(key) }
        define_method("#{key}=") { |value| update(key => value) }
      end
      alias debug? debug
    end
  end
end
