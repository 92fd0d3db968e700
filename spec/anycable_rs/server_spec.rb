# frozen_string_literal: true

require "socket"
require "stringio"

# The Rack side of AnyCable::RS::Server; the WebSocket path end to end is in spec/integration.
RSpec.describe AnyCable::RS::Server do
  subject(:server) { described_class.new(config: AnyCable::RS::Config.new(allowed_origins: "*"), node: -> { node }) }

  let(:bridge) { AnyCable::RS::Native::Bridge.new(8) }
  let(:node) { AnyCable::RS::Native::Node.new(AnyCable::RS::Native::EngineConfig.new({}), bridge, 1, nil) }

  after { node.shutdown }
  let(:upgrade) do
    { "REQUEST_METHOD" => "GET", "HTTP_UPGRADE" => "websocket", "HTTP_CONNECTION" => "keep-alive, Upgrade",
      "HTTP_SEC_WEBSOCKET_KEY" => "dGhlIHNhbXBsZSBub25jZQ==", "HTTP_HOST" => "example.com", "PATH_INFO" => "/cable",
      "QUERY_STRING" => "t=1", "rack.url_scheme" => "https", "REMOTE_ADDR" => "10.0.0.1",
      "HTTP_COOKIE" => "a=b", "HTTP_SEC_WEBSOCKET_PROTOCOL" => "actioncable-v1-json, actioncable-unsupported" }
  end

  it "answers anything but a WebSocket upgrade as Action Cable does, with headers middleware may edit" do
    status, headers, body = server.call("REQUEST_METHOD" => "GET", "PATH_INFO" => "/cable")
    expect([status, body]).to eq([404, ["Page not found"]])
    expect(headers).not_to be_frozen
    expect { headers["x-request-id"] = "1" }.not_to raise_error
  end

  it "names the fix when the web server offers no full hijack" do
    expect { server.call(upgrade) }.to raise_error(AnyCable::RS::Error, /needs a web server with Rack full hijack/)
  end

  # Upgrades `env` through `server` on a real TCP socket; returns the 101 answer and the env
  # of the connect job the node queued for the bridge (answered, so the connection goes on).
  def hand_over(server, env = upgrade)
    listener = TCPServer.new("127.0.0.1", 0)
    client = TCPSocket.new("127.0.0.1", listener.addr[1])
    socket = listener.accept
    expect(server.call(env.merge("rack.hijack?" => true, "rack.hijack" => -> { socket }))).to eq([-1, {}, []])
    expect(socket).to be_closed # the node keeps its own duplicate of the descriptor
    response = client.readpartial(4096)
    job = bridge.take(1, 5).first
    expect(job.kind).to eq("connect")
    env = job.payload["env"]
    job.reply("status" => 2, "transmissions" => [])
    [response, env]
  ensure
    [client, listener].each { |io| io&.close }
  end

  it "hands a hijacked TCP socket and the request facts, every header included, to the node, which answers 101" do
    response, env = hand_over(server)
    expect(response).to start_with("HTTP/1.1 101 Switching Protocols\r\n")
    expect(response).to include("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                                "Sec-WebSocket-Protocol: actioncable-v1-json")
    expect(env).to include(
      "url" => "https://example.com/cable?t=1",
      "headers" => { "REMOTE_ADDR" => "10.0.0.1", "cookie" => "a=b", "upgrade" => "websocket", "host" => "example.com",
                     "connection" => "keep-alive, Upgrade", "sec-websocket-key" => "dGhlIHNhbXBsZSBub25jZQ==",
                     "sec-websocket-protocol" => "actioncable-v1-json, actioncable-unsupported" }
    )
  end

  it "hands only the configured headers over when the channels run on a remote RPC server" do
    config = AnyCable::RS::Config.new(allowed_origins: "*", rpc_host: "127.0.0.1:50051", headers: "cookie,x-api-key")
    remote = described_class.new(config: config, node: -> { node })
    _, env = hand_over(remote, upgrade.merge("HTTP_X_API_KEY" => "k", "HTTP_AUTHORIZATION" => "Bearer t"))
    expect(env["headers"]).to eq("REMOTE_ADDR" => "10.0.0.1", "cookie" => "a=b", "x-api-key" => "k")
  end

  it "refuses a Unix socket with a clear HTTP error instead of failing later" do
    ours, theirs = UNIXSocket.pair
    env = upgrade.merge("rack.hijack?" => true, "rack.hijack" => -> { ours })
    expect(server.call(env)).to eq([-1, {}, []])
    expect(theirs.read).to start_with("HTTP/1.1 500").and include("bind Puma to tcp://")
  ensure
    theirs&.close
  end

  describe "max_connections" do
    subject(:limited) do
      described_class.new(config: AnyCable::RS::Config.new(allowed_origins: "*", max_connections: 10), node: -> { counter })
    end

    let(:counter) { Struct.new(:connections).new(0) }
    let(:log) { StringIO.new }

    before { AnyCable::RS.logger = Logger.new(log) }
    after { AnyCable::RS.logger = nil }

    it "answers 503 over the limit with one log line per 10 s, and warns once at 90 %" do
      counter.connections = 8
      # Under the limit (the 9th of 10 is 90 %): on to the hijack, which this env does not offer.
      expect { limited.call(upgrade) }.to raise_error(AnyCable::RS::Error, /full hijack/)
      counter.connections = 10
      3.times do
        status, headers, body = limited.call(upgrade)
        expect([status, headers["retry-after"], body]).to eq([503, "5", ["Too many connections, retry later"]])
      end
      expect(log.string.scan("refused 1 WebSocket upgrade(s) with 503").size).to eq(1)
      expect(log.string.scan("over 90 %").size).to eq(1)

      allow(Process).to receive(:clock_gettime).and_call_original
      later = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 11
      allow(Process).to receive(:clock_gettime).with(Process::CLOCK_MONOTONIC).and_return(later)
      limited.call(upgrade)
      expect(log.string).to include("refused 3 WebSocket upgrade(s) with 503")
    end

    it "answers 503 on the socket when the node refuses a concurrent upgrade over the limit" do
      counter.connections = 0
      def counter.accept(*) = false
      listener = TCPServer.new("127.0.0.1", 0)
      client = TCPSocket.new("127.0.0.1", listener.addr[1])
      socket = listener.accept
      expect(limited.call(upgrade.merge("rack.hijack?" => true, "rack.hijack" => -> { socket }))).to eq([-1, {}, []])
      expect(client.read).to start_with("HTTP/1.1 503 Service Unavailable").and include("Too many connections")
      expect(log.string).to include("max_connections (10) reached")
    ensure
      [client, listener].each { |io| io&.close }
    end
  end
end
