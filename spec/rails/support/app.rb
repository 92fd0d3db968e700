# frozen_string_literal: true

# A minimal in-memory Rails application for the RPC handler specs: Action Controller (cookies,
# params) and Action Cable, no database, no files written. Loaded only by spec/rails.
require "logger"
require "stringio"
begin
  require "rails"
rescue LoadError => e
  raise LoadError, "spec/rails needs Rails in the bundle (Gemfile: gem \"rails\", \">= 6.1\", \"< 8\"): #{e.message}"
end
require "action_controller/railtie"
require "action_cable/engine"
require "global_id/railtie"
require "anycable/rs/rails/rpc_handler"

module RPCHandlerSpec
  # Everything the app logs, for assertions on warnings and errors.
  LOG = StringIO.new

  class Application < Rails::Application
    config.root = __dir__
    config.eager_load = false
    config.cache_classes = true
    config.secret_key_base = "rpc-handler-spec-#{"0" * 64}"
    config.logger = ActiveSupport::Logger.new(LOG)
    config.log_level = :debug
    config.action_cable.connection_class = -> { RPCHandlerSpec::Connection }
  end
end

RPCHandlerSpec::Application.initialize!

require_relative "cable"
