# frozen_string_literal: true

# Sequential `perform` round trips through a real Puma (A) of the integration spec app, with
# channel logic in-process, over gRPC (B = `anycable-rs rpc`) and over HTTP RPC (B = a second
# Puma serving /_anycable) — the same setup as `CABLE_RPC=grpc|http` integration runs.
#
#   bundle exec ruby bench/remote_rpc.rb [N]     # from the repository root
ROOT = File.expand_path("..", __dir__)
require "json"
require "net/http"
require_relative "#{ROOT}/spec/integration/support/puma_server"
require_relative "#{ROOT}/spec/integration/support/raw_cable_client"
require_relative "#{ROOT}/spec/integration/support/remote_rpc"

n = Integer(ARGV[0] || 500)
%w[inprocess grpc http].each do |mode|
  ENV["CABLE_RPC"] = mode
  puma = IntegrationSupport::PumaServer.new(env: { "CABLE_SERVER" => "anycable_rs", "RAILS_LOG_LEVEL" => "warn" }).start
  begin
    client = IntegrationSupport::RawCableClient.new(puma.cable_url,
                                                    headers: { "Origin" => puma.http_origin, "Cookie" => "user=rtt" })
    client.wait_for { |m| m["type"] == "welcome" }
    identifier = JSON.generate(channel: "ActionsChannel", tag: "rtt")
    client.send_json(command: "subscribe", identifier: identifier)
    client.wait_for { |m| m["type"] == "confirm_subscription" }
    data = JSON.generate(action: "ping_me")
    perform = lambda do
      client.send_json(command: "message", identifier: identifier, data: data)
      client.wait_for { |m| m["message"] == { "pong" => "rtt" } }
    end
    50.times { perform.call }
    times = Array.new(n) do
      t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      perform.call
      Process.clock_gettime(Process::CLOCK_MONOTONIC) - t
    end.sort
    total = times.sum
    ms = ->(q) { (times[(n * q).floor] * 1000).round(2) }
    puts "#{mode.ljust(9)} #{n} performs: #{(n / total).round}/s  p50 #{ms.call(0.5)} ms  " \
         "p90 #{ms.call(0.9)} ms  p99 #{ms.call(0.99)} ms"
    client.close
  ensure
    puma.stop
  end
end
