# frozen_string_literal: true

require "net/http"
require "openssl"
require "tmpdir"
require_relative "support/integration_helper"

# The HTTP RPC endpoint end to end: a real Puma runs the app with ANYCABLE_HTTP_RPC_MOUNT_PATH
# set (so the Railtie mounts AnyCable::RS.http_rpc_endpoint there) and the specs play the
# WebSocket server (anycable-go, or anycable-rs with `rpc_host: http://...`), POSTing
# protobuf-JSON as it does.
RSpec.describe "HTTP RPC endpoint", integration: true, anycable_rs_only: true do
  before(:context) do
    @secret = "integration-http-rpc-secret"
    @events = File.join(Dir.mktmpdir("http-rpc-events"), "events.log")
    env = { "CABLE_SERVER" => "anycable_rs", "ANYCABLE_SECRET" => @secret, "CABLE_EVENTS_LOG" => @events,
            "ANYCABLE_HTTP_RPC_MOUNT_PATH" => "/_anycable" }
    @puma = IntegrationSupport::PumaServer.new(env: env).start
  end

  after(:context) { @puma&.stop }

  let(:puma) { @puma }
  # AnyCable's default HTTP RPC secret: hex HMAC-SHA256(secret, "rpc-cable").
  let(:rpc_secret) { OpenSSL::HMAC.hexdigest("SHA256", @secret, "rpc-cable") }
  let(:user) { unique("user") }
  let(:env) do
    { "url" => "#{puma.http_origin}/cable", "headers" => { "cookie" => "user=#{user}", "REMOTE_ADDR" => "127.0.0.1" } }
  end

  def rpc(call, message, secret: rpc_secret, sid: nil)
    Net::HTTP.start("127.0.0.1", puma.port, open_timeout: 5, read_timeout: 10) do |http|
      request = Net::HTTP::Post.new("/_anycable/#{call}")
      request["Content-Type"] = "application/json"
      request["Authorization"] = "Bearer #{secret}" if secret
      request["X-AnyCable-Meta-Protov"] = "v1"
      request["X-AnyCable-Meta-Sid"] = sid if sid
      request.body = JSON.generate(message)
      http.request(request)
    end
  end

  def reply(response)
    expect([response.code, response["content-type"]]).to eq(["200", "application/json"])
    JSON.parse(response.body)
  end

  def events
    File.exist?(@events) ? File.readlines(@events).map { |line| JSON.parse(line) } : []
  end

  it "runs connect, subscribe, perform and disconnect through the app's own classes" do
    connected = reply(rpc(:connect, { "env" => env }, sid: "ext-42"))
    expect(connected["status"]).to eq(1)
    expect(JSON.parse(connected["transmissions"].first)).to eq("type" => "welcome", "sid" => "ext-42")
    identifiers = connected["identifiers"]
    expect(JSON.parse(identifiers)).to include("current_user" => user)

    feed = unique("feed")
    identifier = JSON.generate(channel: "StreamsChannel", feeds: [feed], tag: "http-rpc")
    base = { "identifier" => identifier, "connection_identifiers" => identifiers,
             "env" => env.merge("cstate" => connected.dig("env", "cstate") || {}) }
    subscribed = reply(rpc(:command, base.merge("command" => "subscribe")))
    expect(subscribed).to include("status" => 1, "streams" => ["feed:#{feed}"])
    expect(subscribed["transmissions"].map { |t| JSON.parse(t) })
      .to include("identifier" => identifier, "type" => "confirm_subscription")

    data = JSON.generate(action: "stop", feed: feed)
    performed = reply(rpc(:command, base.merge("command" => "message", "data" => data)))
    expect(performed).to include("status" => 1, "stopped_streams" => ["feed:#{feed}"])
    expect(performed["transmissions"].map { |t| JSON.parse(t) })
      .to eq([{ "identifier" => identifier, "message" => { "stopped" => feed } }])

    gone = reply(rpc(:disconnect, { "identifiers" => identifiers, "subscriptions" => [identifier],
                                    "env" => env.merge("istate" => { identifier => "{}" }) }))
    expect(gone["status"]).to eq(1)
    mine = events.select { |event| event["user"] == user }.map { |event| event.values_at("event", "tag") }
    expect(mine).to eq([%w[unsubscribed http-rpc], ["disconnect", nil]])
  end

  it "answers FAILURE with the unauthorized disconnect for a rejected connection" do
    rejected = reply(rpc(:connect, { "env" => env.merge("headers" => { "cookie" => "user=reject" }) }))
    expect(rejected["status"]).to eq(2)
    expect(rejected["transmissions"].map { |t| JSON.parse(t) })
      .to eq([{ "type" => "disconnect", "reason" => "unauthorized", "reconnect" => false }])
  end

  it "refuses a wrong secret with 401 and a log line naming the setting, never the secret" do
    response = rpc(:connect, { "env" => env }, secret: "not-the-secret")
    expect([response.code, response.body]).to eq(["401", "Invalid or missing HTTP RPC secret"])
    expect(rpc(:connect, { "env" => env }, secret: nil).code).to eq("401")
    expect(puma.log).to include("the WebSocket server's http_rpc_secret (or the secret it derives it from) must match")
    expect(puma.log).not_to include(rpc_secret, @secret, "not-the-secret")
  end

  it "answers 422 to a body that is not a request message, and 404 beside the three calls" do
    response = rpc(:command, { "env" => "nope" })
    expect([response.code, response.body]).to eq(["422", "Invalid request body: env must be an object"])
    expect(rpc(:subscribe, {}).code).to eq("404")
  end
end
