# frozen_string_literal: true

module AnyCable
  module RS
    # Rails integration: logs to Rails.logger, runs the app's channels through the in-process
    # handler, and with `config.anycable_rs.mount = true` serves Action Cable's mount path
    # (`config.action_cable.mount_path`, "/cable" by default) with anycable-rs instead of
    # Action Cable's own server, ahead of the app's middleware (CableMiddleware); `:routes`
    # mounts it as the first route instead, behind the app's middleware.
    #
    # `config.anycable_rs.broadcast_endpoint` mounts the HTTP broadcast endpoint: `true` at
    # "/_broadcast", a String at that path, `false` never; unset (nil), it is mounted at
    # "/_broadcast" when `broadcast_adapter` is `http`. (Or mount it yourself in routes.rb:
    # `mount AnyCable::RS.broadcast_endpoint => "/_broadcast"`.)
    #
    # The Prometheus endpoint is mounted at `metrics_http` and the health endpoint at
    # `health_path` when those settings are given (neither is by default).
    #
    # `config.anycable_rs.http_rpc_endpoint` mounts the HTTP RPC endpoint (this app's channels
    # served to anycable-go or another anycable-rs): `true` at `http_rpc_mount_path`
    # ("/_anycable"), a String at that path, `false` never; unset (nil), it is mounted at
    # `http_rpc_mount_path` when that setting is given (ANYCABLE_HTTP_RPC_MOUNT_PATH, as
    # AnyCable's Rails integration does). (Or: `mount AnyCable::RS.http_rpc_endpoint => "/_anycable"`.)
    class Railtie < ::Rails::Railtie
      BROADCAST_PATH = "/_broadcast"

      config.anycable_rs = ActiveSupport::OrderedOptions.new
      config.anycable_rs.mount = false
      config.anycable_rs.broadcast_endpoint = nil
      config.anycable_rs.http_rpc_endpoint = nil

      initializer "anycable_rs.logger" do
        AnyCable::RS.logger = ::Rails.logger if ::Rails.logger
      end

      # `signed_stream_name` and `action_cable_with_jwt_meta_tag` in views, unless AnyCable's
      # Rails gem brings its own.
      initializer "anycable_rs.helpers" do
        ActiveSupport.on_load(:action_view) do
          include AnyCable::RS::Streams::Helper unless method_defined?(:signed_stream_name)
          include AnyCable::RS::JWT::Helper unless method_defined?(:action_cable_with_jwt_meta_tag)
        end
      end

      # Puma workers that hang on shutdown under Ruby >= 3.3 (see PumaShutdownFix).
      initializer "anycable_rs.puma_shutdown_fix" do
        require "anycable/rs/puma_shutdown_fix"
        PumaShutdownFix.apply
      end

      initializer "anycable_rs.mount", before: "action_cable.routes" do |app|
        next unless app.config.anycable_rs.mount

        path = app.config.action_cable.mount_path || AnyCable::RS.config.path
        app.config.action_cable.mount_path = nil # Action Cable's server is not mounted
        app.config.action_cable.url ||= path # what `action_cable_meta_tag` tells clients
        if app.config.anycable_rs.mount == :routes
          app.config.after_initialize do
            app.routes.prepend { mount AnyCable::RS.server => path, internal: true, anchor: true }
          end
        else
          require "anycable/rs/cable_middleware"
          app.config.middleware.insert_before 0, CableMiddleware, path
        end
      end

      # AnyCable's Rails gem in the same app (see WithAnyCableRails).
      initializer "anycable_rs.with_anycable_rails", before: "anycable.disable_action_cable_mount" do |app|
        require "anycable/rs/rails/with_anycable_rails"
        next unless AnyCable::RS::Rails::WithAnyCableRails.loaded?

        AnyCable::RS::Rails::WithAnyCableRails.install!
        app.config.after_initialize do
          AnyCable::RS::Rails::WithAnyCableRails.keep_embedded_server_off!(AnyCable::RS.logger)
        end
      end

      # The HTTP endpoints the settings and options above ask for, each at its path.
      initializer "anycable_rs.endpoints" do |app|
        app.config.after_initialize do
          endpoints = Railtie.endpoints(app.config.anycable_rs)
          app.routes.prepend { endpoints.each { |endpoint, path| mount endpoint => path, internal: true } }
        end
      end

      # `state_attr_accessor` and the other channel and connection extensions exist as soon as a
      # channel class loads: eager loading and channel specs load channels without the server.
      initializer "anycable_rs.channel_extensions" do
        ActiveSupport.on_load(:action_cable_channel) { require "anycable/rs/rails/rpc_handler" }
      end

      # remote_connections.where(...).disconnect with `adapter: anycable_rs` (also in processes
      # that never load the adapter before calling it).
      initializer "anycable_rs.remote_connections" do
        ActiveSupport.on_load(:action_cable) do
          require "anycable/rs/rails/compat/remote_connections_6_1_to_7_2"
          AnyCable::RS::Rails::Compat::RemoteDisconnect.install!
        end
      end

      # cable.yml's adapter must reach anycable-rs clients (CableAdapters: one that cannot stops
      # the boot); `adapter: redis` (stock Action Cable publishers) configures the engine's Redis.
      # A Redis setup that cannot work (no redis_url, no redis gem) is reported at boot, not
      # only at the first broadcast; it does not stop the boot (an asset build has no Redis).
      initializer "anycable_rs.broadcasting" do |app|
        app.config.after_initialize do
          cable = defined?(::ActionCable.server) ? ::ActionCable.server.config.cable : nil
          Railtie.check_redis_setup(cable) # logs what cannot work
          if cable
            require "anycable/rs/rails/cable_adapters"
            AnyCable::RS::Rails::CableAdapters.apply(cable, config: AnyCable::RS.config, logger: AnyCable::RS.logger)
          end
        end
      end

      def self.check_redis_setup(cable)
        if cable
          require "anycable/rs/rails/action_cable_redis"
          AnyCable::RS::Rails::ActionCableRedis.apply(cable, config: AnyCable::RS.config, logger: AnyCable::RS.logger)
        end
        AnyCable::RS.config.check!
        AnyCable::RS::RedisPublisher.load_redis! if AnyCable::RS.broadcaster.redis?
      rescue AnyCable::RS::Error => e
        AnyCable::RS.logger.error("anycable-rs: #{e.message}")
      end

      # [Rack app, path] of every endpoint to mount: broadcast, HTTP RPC, metrics, health.
      def self.endpoints(options, config = AnyCable::RS.config)
        {
          AnyCable::RS.broadcast_endpoint => broadcast_path(options.broadcast_endpoint),
          AnyCable::RS.http_rpc_endpoint => http_rpc_path(options.http_rpc_endpoint, config),
          AnyCable::RS.metrics_endpoint => config.metrics_http,
          AnyCable::RS.health_endpoint => config.health_path
        }.compact
      end

      def self.http_rpc_path(setting, config = AnyCable::RS.config)
        case setting
        when String then setting
        when true then config.http_rpc_mount_path
        when nil then config.set?(:http_rpc_mount_path) ? config.http_rpc_mount_path : nil
        end
      end

      def self.broadcast_path(setting)
        case setting
        when String then setting
        when true then BROADCAST_PATH
        when nil then AnyCable::RS.config.broadcast_adapter == "http" ? BROADCAST_PATH : nil
        end
      end
    end
  end
end
