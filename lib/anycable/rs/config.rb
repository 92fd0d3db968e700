# frozen_string_literal: true

require "erb"
require "yaml"
require "anycable/rs/presets"

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
    # Every setting is declared once, in the engine (REFERENCE). A few only the Ruby side uses
    # (the HTTP broadcast endpoint's `broadcast_key`, the HTTP RPC endpoint's
    # `http_rpc_mount_path`, ...): the engine validates them but is not built from them.
    # Secrets (`secret`, `http_rpc_secret`, `broadcast_key`, ...) never appear in `to_h` or
    # `inspect`, so a config can be logged safely.
    #
    # Config.load layers them as AnyCable does: defaults (presets on top of them) <
    # config/anycable.yml (ERB, per environment) < ANYCABLE_* variables; `configure` then
    # assigns on top. Unknown keys are not fatal there: each gives a warning (see #warnings)
    # naming the nearest known key.
    class Config
      # Every setting, as the engine's table declares it once (ext/engine/src/config/mod.rs):
      # Hashes with "key", "env" (the variables it is read from, the first winning), "default"
      # (nil: unset, and for every secret; durations in seconds), "description", "secret" and
      # "ruby_only" (used by this side only: the engine validates it and is not built from it).
      REFERENCE = Native::EngineConfig.reference.each { |entry| entry.each_value(&:freeze).freeze }.freeze
      SECRETS = REFERENCE.select { |entry| entry["secret"] }.map { |entry| entry["key"] }.freeze
      FILTERED = "[FILTERED]"
      # Settings whose default is worked out when the settings load (the reference shows them
      # as unset).
      COMPUTED_DEFAULTS = %w[max_connections].freeze

      def self.keys
        @keys ||= REFERENCE.map { |entry| entry["key"] }.freeze
      end

      # The settings the engine is built from.
      def self.engine_keys
        @engine_keys ||= REFERENCE.reject { |entry| entry["ruby_only"] }.map { |entry| entry["key"] }.freeze
      end

      # Every setting for the configuration reference (docs/configuration.md, the install
      # generator's config/anycable.yml), in the documentation's order: REFERENCE with the
      # computed defaults shown as unset.
      def self.reference
        REFERENCE.map { |entry| COMPUTED_DEFAULTS.include?(entry["key"]) ? entry.merge("default" => nil) : entry }
      end

      # ANYCABLE_* variables that are not settings.
      NOT_SETTINGS = /\AANYCABLE_(CONF\z|RS_)/
      # Descriptors kept free for Redis, RPC, the database, logs and Puma itself: 10 % + 100.
      HEADROOM = ->(soft_limit) { (soft_limit / 10) + 100 }

      # The settings of this process: defaults < presets < the YAML file < ANYCABLE_* (+REDIS_URL).
      # path: ANYCABLE_CONF, else config/anycable.yml under Rails.root (or the working directory);
      # a missing file is fine. environment: Rails.env, else RAILS_ENV / RACK_ENV / development.
      def self.load(env = ENV, path: nil, environment: nil)
        warnings = []
        path ||= default_path(env)
        file = read_file(path, environment || environment_name(env))
        from_file = known_settings(file, "in #{path}", warnings)
        new(from_file.merge(env_settings(env, warnings)), env).tap { |config| config.warnings.concat(warnings) }
      end

      # Settings given in environment variables only: ANYCABLE_<KEY>, and REDIS_URL for redis_url.
      def self.from_env(env = ENV)
        warnings = []
        new(env_settings(env, warnings), env).tap { |config| config.warnings.concat(warnings) }
      end

      def self.env_settings(env, warnings)
        settings = {}
        REFERENCE.each do |entry|
          value = entry["env"].lazy.filter_map { |name| env[name] }.first
          settings[entry["key"]] = value unless value.nil?
        end
        env.each_key do |name|
          next unless name.start_with?("ANYCABLE_") && !name.match?(NOT_SETTINGS)

          key = name.delete_prefix("ANYCABLE_").downcase
          warnings << unknown_key(key, "variable #{name}") unless keys.include?(key)
        end
        settings
      end

      def self.default_path(env)
        return env["ANYCABLE_CONF"] if env["ANYCABLE_CONF"]
        return ::Rails.root.join("config", "anycable.yml").to_s if defined?(::Rails.root) && ::Rails.root

        File.join("config", "anycable.yml")
      end

      def self.environment_name(env)
        return ::Rails.env.to_s if defined?(::Rails.env) && ::Rails.respond_to?(:env)

        env["RAILS_ENV"] || env["RACK_ENV"] || "development"
      end

      # The file's settings for `environment`: a file whose top level holds sections (hashes:
      # `default`, `development`, `production`, ...) gives `default` merged with that
      # environment's section; a flat file applies to every environment. A section whose lines
      # are all commented out (`development:` alone, nil) is an empty section, not a setting.
      def self.read_file(path, environment)
        return {} unless File.file?(path)

        data = YAML.safe_load(ERB.new(File.read(path)).result, aliases: true) || {}
        raise ConfigError, "#{path}: expected a mapping of settings" unless data.is_a?(Hash)
        return data unless data.any? { |key, value| value.is_a?(Hash) || (value.nil? && !keys.include?(key.to_s)) }

        section = ->(name) { data[name].is_a?(Hash) ? data[name] : {} }
        section.call("default").merge(section.call(environment))
      rescue Psych::Exception, SystemCallError => e
        raise ConfigError, "cannot read #{path}: #{e.message}"
      end

      # Known settings of `settings`; each unknown one adds a warning and is left out.
      def self.known_settings(settings, where, warnings)
        settings.transform_keys(&:to_s).select do |key, _|
          keys.include?(key).tap { |known| warnings << unknown_key(key, where) unless known }
        end
      end

      def self.unknown_key(key, where)
        nearest = DidYouMean::SpellChecker.new(dictionary: keys).correct(key).first
        "unknown setting `#{key}` (#{where}) ignored#{"; did you mean `#{nearest}`?" if nearest}"
      end

      # The default of max_connections: the open-files soft limit minus HEADROOM (0, no limit,
      # when the limit is unlimited).
      def self.default_max_connections
        soft, = Process.getrlimit(:NOFILE)
        return 0 if soft == Process::RLIM_INFINITY || soft >= 10_000_000

        [soft - HEADROOM.call(soft), 1].max
      rescue NotImplementedError, SystemCallError
        0
      end

      # Problems found while loading (unknown keys, unknown presets), to log once.
      attr_reader :warnings

      # env: where presets are detected (none detected in an empty one).
      def initialize(settings = {}, env = {})
        @settings = {}
        @env = env
        @warnings = []
        update(settings)
      end

      # Applies several settings at once; nothing changes if one of them is bad. Settings left
      # unset (nil) take the defaults of the active presets.
      def update(settings)
        merged = @settings.merge(settings.transform_keys(&:to_s))
        merged["presets"] = merged["presets"].join(",") if merged["presets"].is_a?(Array)
        given = automatic_defaults(merged["presets"]).merge(merged.compact)
        engine = Native::EngineConfig.new(given).to_h
        @effective = engine.merge(given_secrets(engine, given))
        @settings = merged
        self
      end

      # The presets in effect (see Presets).
      def active_presets
        Presets.active(presets, @env).first
      end

      def preset?(name)
        active_presets.include?(name.to_s)
      end

      # Raises ConfigError when a setting lacks another one it needs: a Redis broadcast source
      # (`broadcast_adapter: redis`, `action_cable_redis`) without `redis_url`, `broker: redis`
      # without `broadcast_adapter: redis`. Not checked on
      # assignment, so settings can be given one at a time in any order (as in the engine).
      def check!
        if broker == "redis" && broadcast_adapter != "redis"
          raise ConfigError, "`broadcast_adapter: redis` must be set: broker is redis (broadcasts get their " \
                             "stream position as they pass through Redis)"
        end
        return self if redis_url

        if broadcast_adapter == "redis"
          raise ConfigError, "`redis_url` must be set: broadcast_adapter is redis (set redis_url or REDIS_URL)"
        elsif action_cable_redis
          raise ConfigError, "`redis_url` must be set: action_cable_redis is on (set redis_url or REDIS_URL)"
        end

        self
      end

      # Whether `key` was given (the file, ANYCABLE_* / REDIS_URL, an assignment), not defaulted
      # (a preset's value counts as a default).
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

      # The effective settings (defaults included), String keys; secrets, and passwords in URLs,
      # show as "[FILTERED]".
      def to_h
        @effective.to_h do |key, value|
          value = FILTERED if SECRETS.include?(key) && value
          value = value.sub(%r{(://[^/@]*:)[^/@]+@}, "\\1#{FILTERED}@") if value.is_a?(String)
          [key, value]
        end
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

      # max_connections from the open-files limit, under the active presets' defaults.
      def automatic_defaults(presets)
        names, unknown = Presets.active(presets, @env)
        unknown.each do |name|
          message = "unknown preset `#{name}` ignored (known: #{Presets::TABLE.keys.join(", ")}, none)"
          @warnings << message unless @warnings.include?(message)
        end
        { "max_connections" => self.class.default_max_connections }.merge(Presets.defaults(names, @env))
      end

      # The engine shows secrets as "[FILTERED]" (its to_h can be logged); the value is the one
      # given, which the engine accepted (a string; blanks around it dropped, as there).
      def given_secrets(engine, given)
        SECRETS.select { |key| engine[key] == FILTERED }.to_h { |key| [key, given[key].to_s.strip] }
      end

      # `config.ping_intervl = 3`: a name near a setting's gets the ConfigError an unknown key
      # gets anywhere, naming the setting, rather than a NoMethodError (other names, such as
      # Ruby's `to_hash` probes, still get Ruby's NoMethodError).
      def method_missing(name, *args)
        key = name.to_s.delete_suffix("=")
        nearest = DidYouMean::SpellChecker.new(dictionary: self.class.keys).correct(key).first
        return super if nearest.nil? || self.class.keys.include?(key)

        raise ConfigError, "unknown setting `#{key}`; did you mean `#{nearest}`?"
      end

      def respond_to_missing?(name, include_private = false)
        super
      end
    end
  end
end
