# frozen_string_literal: true

require_relative "boot"

require "rails"
require "action_controller/railtie"
require "action_cable/engine"
require "action_view/railtie"
require "active_model/railtie"
require "global_id/railtie"
require "active_job/railtie" # turbo-rails 1.5 eager loads its jobs

Bundler.require(*Rails.groups)

# Which server answers /cable: anycable-rs (default) or stock Action Cable (the reference).
CABLE_SERVER = ENV.fetch("CABLE_SERVER", "").then { |name| name.empty? ? "anycable_rs" : name }
unless %w[action_cable anycable_rs].include?(CABLE_SERVER)
  abort "CABLE_SERVER must be action_cable or anycable_rs, not #{CABLE_SERVER.inspect}"
end
# CABLE_WITH_ANYCABLE_RAILS=before|after: AnyCable's Rails gem (anycable-rails), which apps
# moving from anycable-go keep for its helpers, is loaded too, before or after anycable-rs
# (spec/integration/anycable_rails_spec.rb). It comes from ../shared/vendor through $LOAD_PATH
# (README.md, "Upstream sources"); google-protobuf, which anycable-core loads, from the bundle.
WITH_ANYCABLE_RAILS = ENV.fetch("CABLE_WITH_ANYCABLE_RAILS", "")
unless ["", "before", "after"].include?(WITH_ANYCABLE_RAILS)
  abort "CABLE_WITH_ANYCABLE_RAILS must be before or after, not #{WITH_ANYCABLE_RAILS.inspect}"
end
unless WITH_ANYCABLE_RAILS.empty?
  vendor = File.expand_path("../../../../../shared/vendor", __dir__)
  libs = %w[anycable-rails-1.5.3 anycable-rb-1.5.1 anyway_config-2.5.4 ruby-next-core-1.1.2].map { |dir| "#{vendor}/#{dir}/lib" }
  missing = libs.reject { |lib| File.directory?(lib) }
  abort "CABLE_WITH_ANYCABLE_RAILS: missing #{missing.join(", ")} (README.md, \"Upstream sources\")" if missing.any?
  $LOAD_PATH.unshift(*libs)
end
# turbo-rails (Turbo Streams, spec/integration/turbo_spec.rb) from ../shared/vendor through
# $LOAD_PATH: 2.0 on Rails 7.1 and later, 1.5 on Rails 6.1. Without the folder the app runs
# without it, and the Turbo specs fail saying so. CABLE_TURBO_CUSTOM=1 customises the gem's
# channel (config/initializers/turbo_custom.rb).
TURBO_RAILS = File.expand_path(
  "../../../../../shared/vendor/turbo-rails-#{Rails.gem_version >= Gem::Version.new("7.1") ? "2.0.21" : "1.5.0"}", __dir__
)
if File.directory?(TURBO_RAILS)
  $LOAD_PATH.unshift("#{TURBO_RAILS}/lib")
  require "turbo-rails"
end
require "anycable-rails" if WITH_ANYCABLE_RAILS == "before"
require "anycable-rs" if CABLE_SERVER == "anycable_rs"
require "anycable-rails" if WITH_ANYCABLE_RAILS == "after"

module IntegrationApp
  # The channels the integration specs drive through real WebSocket clients.
  class Application < Rails::Application
    config.load_defaults Rails::VERSION::STRING.to_f
    config.root = File.expand_path("..", __dir__)
    config.eager_load = ENV["CABLE_EAGER_LOAD"] == "1" # as in production (spec/integration/anycable_rails_spec.rb)
    # bench/run's storm runs the app as production: classes loaded once (on first use: some
    # channels use anycable-rs' API and do not load under stock Action Cable), no reloading.
    config.cache_classes = true if Rails.env.production?
    config.hosts.clear
    config.secret_key_base = "integration-specs-only-#{"0" * 64}"
    config.logger = ActiveSupport::Logger.new($stdout)
    config.log_level = ENV.fetch("RAILS_LOG_LEVEL", "debug") # bench/run: warn

    if CABLE_SERVER == "anycable_rs"
      # The Railtie serves Action Cable's mount path (/cable) with anycable-rs (the test-app
      # shows the other way: `mount AnyCable::RS.server` in its routes).
      config.anycable_rs.mount = true
      # POST /_broadcast, AnyCable's HTTP broadcast endpoint (the key comes from ANYCABLE_SECRET).
      config.anycable_rs.broadcast_endpoint = true
    else
      config.action_cable.mount_path = nil # config/routes.rb mounts Action Cable's server
      config.action_cable.url = "/cable" # for `action_cable_meta_tag`
    end
    config.action_cable.allowed_request_origins = [%r{\Ahttp://(127\.0\.0\.1|localhost)(:\d+)?\z}]
  end
end
