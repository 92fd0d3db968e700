# frozen_string_literal: true

require_relative "support/integration_helper"

# max_connections through a real Puma: the upgrade over the limit gets 503, a slot frees up
# when a client leaves.
RSpec.describe "max_connections", integration: true, anycable_rs_only: true do
  let(:puma) do
    IntegrationSupport::PumaServer.new(env: { "CABLE_SERVER" => "anycable_rs", "ANYCABLE_MAX_CONNECTIONS" => "2" }).start
  end

  after { puma.stop }

  def connect
    IntegrationSupport::RawCableClient.new(
      puma.cable_url, headers: { "Origin" => puma.http_origin, "Cookie" => "user=#{unique("user")}" }
    ).tap { |client| integration_clients << client }
  end

  it "answers 503 to the upgrade over the limit, logs it once, and serves again after a close" do
    first, second = Array.new(2) { connect.tap { |c| c.wait_for { |m| m["type"] == "welcome" } } }
    third = connect
    expect(third.status).to eq(503)
    expect(third.response_body).to include("Too many connections")
    expect(connect.status).to eq(503)
    expect(puma.log.scan("max_connections (2) reached").size).to eq(1)
    expect(puma.log).to include("of max_connections (2) open, over 90 %")

    first.close
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    loop do
      client = connect
      break expect(client.wait_for { |m| m["type"] == "welcome" }).to include("type" => "welcome") if client.upgraded?
      raise "no slot freed after a close:\n#{puma.log}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.1
    end
    expect(second).not_to be_closed
  end
end
