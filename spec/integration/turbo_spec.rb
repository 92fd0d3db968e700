# frozen_string_literal: true

require "net/http"
require "tmpdir"
require_relative "support/integration_helper"
require_relative "support/browser"

# Turbo Streams with the real turbo-rails (../shared/vendor; 2.0 on Rails >= 7.1, 1.5 on 6.1):
# `turbo_stream_from` pages in headless Chromium with turbo-rails' own turbo.js, signed names
# from Turbo::StreamsChannel, broadcasts from a model with Turbo::Broadcastable. Under
# anycable-rs the subscribes of the gem's own channel are answered without a Ruby call
# (docs/hotwire.md); a customised channel runs in Ruby; AnyCable's `$pubsub` streams too.
RSpec.describe "Turbo Streams (turbo-rails)", integration: true do
  def get(origin, path)
    uri = URI("#{origin}#{path}")
    response = Net::HTTP.get_response(uri)
    return response.body if response.code == "200"

    raise "GET #{path}: #{response.code} (is ../shared/vendor/turbo-rails-* there? README, \"Upstream sources\")"
  end

  def signed(room, origin: server.http_origin)
    JSON.parse(get(origin, "/rooms/#{room}/signed"))
  end

  def say(room, body, origin: server.http_origin)
    response = Net::HTTP.post_form(URI("#{origin}/rooms/#{room}/messages"), "body" => body)
    raise "POST message: #{response.code}" unless response.code == "204"
  end

  def rpc_calls(origin = server.http_origin)
    JSON.parse(get(origin, "/stats")).fetch("rpc_call_total", 0)
  end

  # The client, connected (its connect call made).
  def welcomed(client)
    client.connect
    client.wait_for("frame") { |event| event.dig("data", "type") == "welcome" }
    client
  end

  def tampered(signed_name)
    signed_name.sub(/.\z/) { |last| last == "0" ? "1" : "0" }
  end

  # The engine answers Turbo subscribes itself under anycable-rs with the app's channels here;
  # over gRPC or HTTP RPC they are the RPC server's calls.
  def fast_path?
    !stock_action_cable? && ENV["CABLE_RPC"].to_s.empty?
  end

  it "confirms a signed stream, rejects a tampered one and delivers a model's broadcasts" do
    room = unique("room")
    names = signed(room)
    client = welcomed(node_client)
    calls = rpc_calls unless stock_action_cable?

    client.subscribe!("room", { channel: "Turbo::StreamsChannel", signed_stream_name: names.fetch("turbo") })
    client.subscribe("forged", { channel: "Turbo::StreamsChannel", signed_stream_name: tampered(names["turbo"]) })
    client.wait_for("rejected", sub: "forged")
    say(room, "hello <b>turbo</b>")

    html = client.wait_for_received("room")
    expect(html).to start_with('<turbo-stream action="append" target="messages">')
    expect(html).to include("<p id=\"message_", "hello &lt;b&gt;turbo&lt;/b&gt;")
    expect(rpc_calls - calls).to eq(0) if fast_path?
    client.unsubscribe("room")
    expect(rpc_calls - calls).to eq(0) if fast_path?
  end

  it "updates the other browser's page without a reload when one posts" do
    room = unique("room")
    alice, bob = Array.new(2) { IntegrationSupport::Browser.new }
    [alice, bob].each_with_index do |browser, i|
      browser.visit("#{server.http_origin}/rooms/#{room}?user=#{%w[alice bob][i]}")
      browser.wait_until("the page's Turbo stream is subscribed") do
        browser.driver.find_elements(css: "turbo-cable-stream-source[connected]").any?
      end
    end
    bob.driver.execute_script("window.sameDocument = true")

    alice.driver.find_element(id: "body").send_keys("hi from alice")
    alice.driver.find_element(css: "#say button").click
    [alice, bob].each do |browser|
      text = browser.wait_until("the message on the page") do
        browser.driver.find_elements(css: "#messages .message").map(&:text).first
      end
      expect(text).to eq("hi from alice")
    end
    expect(bob.driver.execute_script("return window.sameDocument")).to be(true)
  ensure
    [alice, bob].compact.each(&:quit)
  end

  context "when the app customises Turbo::StreamsChannel", :anycable_rs_only do
    before(:all) do
      @calls_log = File.join(Dir.mktmpdir("turbo-calls"), "calls.log")
      env = { "CABLE_SERVER" => "anycable_rs", "CABLE_TURBO_CUSTOM" => "1", "CABLE_CALLS_LOG" => @calls_log,
              "ANYCABLE_SECRET" => SecureRandom.hex(16) }
      @puma = IntegrationSupport::PumaServer.new(env: env, remote_rpc: false).start
    end

    after(:all) { @puma&.stop }

    def client_of(puma)
      IntegrationSupport::NodeCableClient.new(url: puma.cable_url, origin: puma.http_origin, cookie: "user=#{unique("u")}")
                                         .tap { |client| integration_clients << client }
    end

    it "runs the app's subscribed for every Turbo subscribe" do
      client = client_of(@puma)
      names = signed(unique("room"), origin: @puma.http_origin)
      client.subscribe("forbidden",
                       { channel: "Turbo::StreamsChannel", signed_stream_name: names.fetch("turbo"), forbidden: true })
      client.wait_for("rejected", sub: "forbidden")
      client.subscribe!("allowed", { channel: "Turbo::StreamsChannel", signed_stream_name: names["turbo"] })

      calls = File.readlines(@calls_log).map { |line| JSON.parse(line)["call"] }
      expect(calls.count("turbo_subscribe")).to eq(2)
      expect(@puma.log).to include("Turbo::StreamsChannel subscribes run the channel in Ruby")
    end

    it "answers AnyCable's signed $pubsub streams without the app and refuses public ones" do
      client = welcomed(client_of(@puma))
      room = unique("room")
      names = signed(room, origin: @puma.http_origin)
      calls = rpc_calls(@puma.http_origin)
      client.subscribe!("pubsub", { channel: "$pubsub", signed_stream_name: names.fetch("pubsub") })
      client.subscribe("public", { channel: "$pubsub", stream_name: "room:#{room}" })
      client.wait_for("rejected", sub: "public")
      client.subscribe("forged", { channel: "$pubsub", signed_stream_name: tampered(names["pubsub"]) })
      client.wait_for("rejected", sub: "forged")
      @puma.broadcast("room:#{room}", { "to" => "pubsub" })

      expect(client.wait_for_received("pubsub")).to eq("to" => "pubsub")
      expect(rpc_calls(@puma.http_origin) - calls).to eq(0)
    end
  end
end
