# frozen_string_literal: true

require_relative "boot"

require "rails"
require "action_controller/railtie"
require "action_view/railtie"
require "action_cable/engine"

Bundler.require(*Rails.groups)

module TestApp
  # A small chat: pick a name and a room, talk to everyone else in that room.
  class Application < Rails::Application
    config.load_defaults Rails::VERSION::STRING.to_f
    config.eager_load = false
    config.hosts.clear
    config.logger = ActiveSupport::Logger.new($stdout) if ENV["RAILS_LOG_TO_STDOUT"].present?

    # anycable-rs serves /cable (config/routes.rb): Action Cable's own server is not mounted.
    config.action_cable.mount_path = nil
    config.action_cable.url = "/cable"

    # Browsers on localhost or 127.0.0.1 (any port: the demo, Capybara's random port).
    config.action_cable.allowed_request_origins = [%r{\Ahttps?://(localhost|127\.0\.0\.1)(:\d+)?\z}]
  end
end
