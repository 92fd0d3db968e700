# frozen_string_literal: true

require_relative "support/integration_helper"
require_relative "support/blackhole"

# Clients that vanish without a FIN or flood the server with garbage, against a real Puma
# with short timeouts: each is dealt with alone, other clients keep being served and the app
# keeps answering.
RSpec.describe "Vanishing and hostile clients", integration: true, anycable_rs_only: true do
  let(:puma) do
    env = { "CABLE_SERVER" => "anycable_rs", "ANYCABLE_PING_INTERVAL" => "1", "ANYCABLE_WRITE_TIMEOUT" => "2",
            "ANYCABLE_MAX_INVALID_COMMANDS" => "5" }
    IntegrationSupport::PumaServer.new(env: env).start
  end

  after { puma.stop }

  def connect(user: unique("user"), local_host: nil)
    IntegrationSupport::RawCableClient.new(
      puma.cable_url, headers: { "Origin" => puma.http_origin, "Cookie" => "user=#{user}" }, local_host: local_host
    ).tap do |client|
      integration_clients << client
      client.wait_for { |m| m["type"] == "welcome" }
    end
  end

  def expect_up
    expect(Net::HTTP.get_response(URI("#{puma.http_origin}/up")).code).to eq("200")
  end

  it "runs a vanished client's disconnect callbacks within 3 pings and 5 s, through TCP_USER_TIMEOUT" do
    observer = connect
    raw_subscribe(observer, { channel: "LogChannel" })
    bystander = connect
    feed = unique("feed")
    raw_subscribe(bystander, { channel: "StreamsChannel", feeds: [feed] })
    vanishing = unique("vanishing")
    raw_subscribe(connect(user: vanishing, local_host: "127.0.0.2"), { channel: "StreamsChannel", feeds: [feed] })

    IntegrationSupport::Blackhole.drop("127.0.0.2") do
      cut = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      # ping_interval 1 s: within 3 pings and 5 s.
      observer.wait_for(timeout: 8) do |m|
        m.dig("message", "event") == "disconnect" && m.dig("message", "user") == vanishing
      end
      noticed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - cut
      expect(noticed).to be > 1, "noticed by the timeout, not at once"
    end
    puma.broadcast("feed:#{feed}", { "after" => true })
    expect(bystander.wait_for { |m| m["message"] == { "after" => true } }).to be_truthy
    expect_up
  end

  it "closes a client past max_invalid_commands with invalid_request and serves the others" do
    bystander = connect
    feed = unique("feed")
    raw_subscribe(bystander, { channel: "StreamsChannel", feeds: [feed] })
    flooder = connect
    6.times { |i| flooder.send_text(i.even? ? "not json #{i}" : JSON.generate(command: "dance", identifier: "{}")) }

    expect(flooder.wait_for { |m| m["type"] == "disconnect" })
      .to eq("type" => "disconnect", "reason" => "invalid_request", "reconnect" => false)
    flooder.wait_closed
    puma.broadcast("feed:#{feed}", { "still" => "here" })
    expect(bystander.wait_for { |m| m["message"] == { "still" => "here" } }).to be_truthy
    expect(puma.log).to include("too many invalid commands (max_invalid_commands), disconnected")
    expect_up
  end
end
