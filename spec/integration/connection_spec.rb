# frozen_string_literal: true

require_relative "support/integration_helper"

RSpec.describe "Connections (stock @rails/actioncable client)", integration: true do
  def frame_of_type(client, type, **options)
    client.wait_for("frame", **options) { |e| e.dig("data", "type") == type }
  end

  it "opens with the actioncable-v1-json subprotocol and sends a welcome" do
    client = node_client
    client.connect

    expect(client.wait_for("open")["protocol"]).to eq("actioncable-v1-json")
    welcome = frame_of_type(client, "welcome")["data"]
    # A server with session ids may add "sid"; nothing else.
    expect(welcome.except("sid")).to eq("type" => "welcome")
  end

  it "pings within a few seconds with the current unix time as an integer" do
    client = node_client
    client.connect

    ping = frame_of_type(client, "ping", timeout: 4)["data"]
    expect(ping.keys).to contain_exactly("type", "message")
    expect(ping["message"]).to be_an(Integer).and be_within(5).of(Time.now.to_i)
  end

  it "accepts an http://localhost origin as well as http://127.0.0.1" do
    client = node_client(origin: server.http_origin("localhost"))
    client.connect

    frame_of_type(client, "welcome")
  end

  shared_examples "a refused connection" do
    it "sends disconnect unauthorized without reconnect, closes, and never welcomes" do
      client.subscribe("gate", { channel: "GateChannel" })

      disconnect = frame_of_type(client, "disconnect")
      expect(disconnect["data"]).to eq("type" => "disconnect", "reason" => "unauthorized", "reconnect" => false)
      close = client.wait_for("close", after: disconnect["seq"])
      expect(close["code"]).to eq(1000)
      client.wait_for("disconnected", sub: "gate", willAttemptReconnect: false)
      expect(client.frames.map { |f| f["type"] }).not_to include("welcome", "confirm_subscription")
    end
  end

  context "without a user" do
    let(:client) { node_client(user: nil) }

    it_behaves_like "a refused connection"
  end

  context "when connect calls reject_unauthorized_connection (cookie user=reject)" do
    let(:client) { node_client(user: "reject") }

    it_behaves_like "a refused connection"
  end

  context "when the query string says user=reject (params are visible in connect)" do
    let(:client) { node_client(user: nil, query: "user=reject") }

    it_behaves_like "a refused connection"
  end

  describe "the request seen by connect and by channels" do
    # Stock Action Cable mounted at /cable sees the path as "/cable/" (script name + "/");
    # another server may report "/cable". The scheme is http for a ws:// request.
    def url_matcher(query)
      match(%r{\Ahttp://127\.0\.0\.1:#{server.port}/cable/?\?#{Regexp.escape(query)}\z})
    end

    it "exposes the URL, host, cookies, query params and headers" do
      client = node_client(user: "alice", query: "user=bob&x=1", headers: { "X-Api-Token" => "t0k3n" })
      client.subscribe!("echo", { channel: "EchoChannel" })

      info = client.received("echo").first
      expected = {
        "url" => url_matcher("user=bob&x=1"), "host" => "127.0.0.1", "token" => "t0k3n",
        "params" => { "user" => "bob", "x" => "1" }, "cookie" => "alice", "user" => "alice", "authorization" => nil
      }
      expect(info["connect"]).to match(expected)
      expect(info["channel"]).to match(expected)
    end

    # Action Cable gives connect the whole request. So does anycable-rs with the channels in
    # process; a remote RPC server gets only `headers` (here cookie and x-api-token), as
    # AnyCable passes them. Later commands see only `headers` under anycable-rs.
    it "gives connect every request header with the channels in process, and later commands the configured ones" do
      client = node_client(user: "dave", headers: { "Authorization" => "Bearer s3cr3t", "X-Api-Token" => "t1" })
      client.subscribe!("echo", { channel: "EchoChannel" })

      info = client.received("echo").first
      every_header = stock_action_cable? || IntegrationSupport::RemoteRpc.mode == "inprocess"
      expect(info["connect"]).to include("authorization" => every_header ? "Bearer s3cr3t" : nil, "token" => "t1")
      expect(info["channel"]).to include("authorization" => stock_action_cable? ? "Bearer s3cr3t" : nil, "token" => "t1")
    end

    it "identifies the user from a query parameter when there is no cookie" do
      client = node_client(user: nil, query: "user=carol")
      client.subscribe!("echo", { channel: "EchoChannel" })

      info = client.received("echo").first
      expect(info["connect"]).to include("user" => "carol", "cookie" => nil, "token" => nil, "url" => url_matcher("user=carol"))
      expect(info["channel"]).to eq(info["connect"])
    end
  end
end
