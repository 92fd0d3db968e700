# frozen_string_literal: true

require "net/http"
require "tmpdir"
require_relative "support/integration_helper"

# JWT identification (docs/hotwire.md): tokens made by AnyCable::JWT.encode in the app, verified
# by the engine with `secret`: the client is welcomed with the token's identifiers and the
# connection's `connect` never runs; an expired token gets `token_expired` and no reconnect.
RSpec.describe "JWT identification", :anycable_rs_only, integration: true do
  before(:all) do
    @calls_log = File.join(Dir.mktmpdir("jwt-calls"), "calls.log")
    env = { "CABLE_SERVER" => "anycable_rs", "CABLE_CALLS_LOG" => @calls_log, "ANYCABLE_SECRET" => SecureRandom.hex(16) }
    @puma = IntegrationSupport::PumaServer.new(env: env).start
  end

  after(:all) { @puma&.stop }

  def token(user, expired: false)
    response = Net::HTTP.get_response(URI("#{@puma.http_origin}/token?user=#{user}#{"&expired=1" if expired}"))
    raise "GET /token: #{response.code} #{response.body}" unless response.code == "200"

    response.body
  end

  def client(query)
    IntegrationSupport::NodeCableClient.new(url: @puma.cable_url(query), origin: @puma.http_origin)
                                       .tap { |client| integration_clients << client }
  end

  def connect_calls(user)
    return 0 unless File.exist?(@calls_log)

    File.readlines(@calls_log).count { |line| JSON.parse(line).values_at("call", "user") == ["connect", user] }
  end

  it "identifies the connection from the token, without calling connect" do
    user = unique("user")
    alice = client("jid=#{token(user)}")
    alice.subscribe!("echo", { channel: "EchoChannel" })

    seen = alice.wait_for_received("echo")
    expect(seen.dig("channel", "user")).to eq(user)
    expect(seen["connect"]).to eq("via" => "jwt")
    expect(connect_calls(user)).to eq(0)
  end

  it "refuses an expired token with token_expired, and the client does not come back" do
    client = client("jid=#{token(unique("user"), expired: true)}")
    client.connect

    frame = client.wait_for("frame") { |event| event.dig("data", "type") == "disconnect" }
    expect(frame["data"]).to eq("type" => "disconnect", "reason" => "token_expired", "reconnect" => false)
    client.wait_for("close")
    expect(client.select("open").size).to eq(1)
  end

  it "leaves a connection without a token to connect" do
    user = unique("user")
    bob = IntegrationSupport::NodeCableClient.new(url: @puma.cable_url, origin: @puma.http_origin, cookie: "user=#{user}")
    integration_clients << bob
    bob.subscribe!("echo", { channel: "EchoChannel" })

    expect(bob.wait_for_received("echo").dig("channel", "user")).to eq(user)
    expect(connect_calls(user)).to eq(1)
  end
end
