# frozen_string_literal: true

module AnyCable
  module RS
    # Defaults for a platform, applied under everything the app sets (config/anycable.yml,
    # ANYCABLE_*, `configure`): a preset never overrides an explicit setting. `presets` (a
    # comma-separated list, as in AnyCable) picks them; unset, they are detected from the
    # environment; `presets: none` turns them off.
    module Presets
      # One dyno: 512 MiB and a 10k open-files limit (≈ 9k connections); Heroku kills a dyno
      # 30 s after SIGTERM, so shutdown must finish sooner. Logs go to stdout (see RS.logger).
      # With Heroku Redis attached (REDIS_URL), broadcasts go through it to every dyno and the
      # broker keeps history and sessions there, so clients resume after every restart.
      TABLE = {
        "heroku" => {
          detect: ->(env) { (env["HEROKU_APP_ID"] && env["HEROKU_DYNO_ID"]) || env["DYNO"] },
          defaults: lambda do |env|
            defaults = { "max_connections" => 9000, "shutdown_timeout" => 25 }
            defaults.merge!("broadcast_adapter" => "redis", "broker" => "redis") if env["REDIS_URL"]
            defaults
          end
        }
      }.freeze

      # The presets `presets` selects (nil: the detected ones; "none": none), and the names it
      # holds that are not presets.
      def self.active(setting, env)
        return [TABLE.keys.select { |name| TABLE[name][:detect].call(env) }, []] if setting.nil?

        names = setting.to_s.split(",").map { |name| name.strip.downcase }.reject(&:empty?) - ["none"]
        names.partition { |name| TABLE.key?(name) }
      end

      # The defaults of `names` in `env`, later ones winning.
      def self.defaults(names, env)
        names.map { |name| TABLE.fetch(name)[:defaults].call(env) }.reduce({}, :merge)
      end
    end
  end
end
