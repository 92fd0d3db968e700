# frozen_string_literal: true

require "json"
require "securerandom"

ROOT = File.expand_path("../../..", __dir__) unless defined?(ROOT)

require_relative "puma_server"
require_relative "node_cable_client"
require_relative "raw_cable_client"
require_relative "remote_rpc"

module IntegrationSupport
  class << self
    # The one Puma of this run, started on first use and stopped after the suite. A failed
    # boot is not retried: every later example fails at once with the same error.
    def server
      raise @boot_error if @boot_error

      @server ||= begin
        at_exit { stop_server } # also when the run is interrupted before after(:suite)
        PumaServer.new.start
      end
    rescue StandardError => e
      @boot_error = e
      raise
    end

    # The running server, if any, without starting one.
    def started_server
      @server
    end

    def stop_server
      @server&.stop
      @server = nil
    end

    # "anycable_rs" (the default) or "action_cable" (stock Action Cable, the reference).
    def cable_server
      ENV["CABLE_SERVER"].to_s.empty? ? "anycable_rs" : ENV.fetch("CABLE_SERVER")
    end
  end

  # Helpers for `integration: true` examples. Clients made here are stopped after each example.
  module Helpers
    def server
      IntegrationSupport.server
    end

    def stock_action_cable?
      IntegrationSupport.cable_server == "action_cable"
    end

    # A name no other example uses, for users, streams and rooms.
    def unique(prefix)
      "#{prefix}-#{SecureRandom.hex(4)}"
    end

    # A stock @rails/actioncable client (Node) with the `user` cookie set (nil: no cookie).
    def node_client(user: unique("user"), query: nil, origin: server.http_origin, headers: {}, name: user || "anonymous")
      NodeCableClient.new(
        url: server.cable_url(query), origin: origin, cookie: user && "user=#{user}", headers: headers, name: name
      ).tap { |client| integration_clients << client }
    end

    # A raw WebSocket client; performs the handshake with `headers` (Origin and Cookie default
    # to an allowed origin and a fresh user).
    def raw_client(query: nil, headers: {}, **options)
      defaults = { "Origin" => server.http_origin, "Cookie" => "user=#{unique("raw")}" }
      RawCableClient.new(server.cable_url(query), headers: defaults.merge(headers), **options)
                    .tap { |client| integration_clients << client }
    end

    # Subscribes a raw client and waits for the confirmation; returns the identifier string.
    def raw_subscribe(client, params)
      identifier = JSON.generate(params)
      client.send_json(command: "subscribe", identifier: identifier)
      client.wait_for { |m| m["identifier"] == identifier && m["type"] == "confirm_subscription" }
      identifier
    end

    # A Node client listening on the "log" stream, where `unsubscribed` and `disconnect` report.
    def log_listener
      node_client(name: "log-listener").tap { |client| client.subscribe!("log", { channel: "LogChannel" }) }
    end

    def integration_clients
      @integration_clients ||= []
    end
  end
end

RSpec.configure do |config|
  config.include IntegrationSupport::Helpers, integration: true

  # In a remote RPC mode (CABLE_RPC=grpc|http) the channels run in another process than the
  # WebSocket server: examples that look at the server's own process (`in_process_rpc`: which
  # Puma worker ran a channel) do not apply, and those that start RPC servers of their own
  # (`own_rpc_servers`) already ran in the default mode.
  if IntegrationSupport::RemoteRpc.remote?
    config.filter_run_excluding(in_process_rpc: true)
    config.filter_run_excluding(own_rpc_servers: true)
  end

  config.after(:each, integration: true) do
    integration_clients.each do |client|
      client.is_a?(IntegrationSupport::NodeCableClient) ? client.stop : client.close
    end
  end

  config.after(:suite) { IntegrationSupport.stop_server }

  # Print the app's log when an integration example fails: most failures are explained there.
  config.after(:each, integration: true) do |example|
    running = IntegrationSupport.started_server
    if running && example.exception && ENV["INTEGRATION_LOG"] != "0"
      warn "\n--- tail of #{running.log_path} ---\n#{running.log.lines.last(60).join}--- end of log ---"
      rpc = running.rpc_server
      warn "\n--- tail of #{rpc.log_path} (RPC) ---\n#{rpc.log.lines.last(40).join}--- end of log ---" if rpc
    end
  end
end
