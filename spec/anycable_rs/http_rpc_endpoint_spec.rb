# frozen_string_literal: true

require "json"
require "logger"
require "openssl"
require "rack/mock"
require "stringio"

# The Rack side of the HTTP RPC endpoint; end to end through Puma in spec/integration/http_rpc_spec.rb.
RSpec.describe AnyCable::RS::HTTPRPCEndpoint do
  subject(:endpoint) do
    described_class.new(config: -> { config }, handler: -> { handler }, logger: -> { Logger.new(log) },
                        max_body_size: 512)
  end

  # Records every call and answers as the Rails handler does.
  let(:handler_class) do
    Class.new do
      attr_reader :calls

      def initialize
        @calls = []
      end

      def connect(request)
        @calls << [:connect, request]
        { "status" => 1, "identifiers" => '{"user":"ann"}', "transmissions" => [{ type: "welcome", sid: request["sid"] }.to_json],
          "error_msg" => "", "env" => { "cstate" => {}, "istate" => {} } }
      end

      def command(request)
        @calls << [:command, request]
        { "status" => 1, "streams" => ["chat:1"], "transmissions" => [], "env" => { "cstate" => {}, "istate" => { "a" => "1" } } }
      end

      def disconnect(request)
        @calls << [:disconnect, request]
        { "status" => 1, "error_msg" => "" }
      end
    end
  end
  let(:handler) { handler_class.new }
  let(:config) { AnyCable::RS::Config.new(secret: "s3cr3t") }
  let(:log) { StringIO.new }
  # `echo -n rpc-cable | openssl dgst -sha256 -hmac s3cr3t`, as AnyCable derives the HTTP RPC secret.
  let(:derived) { "4b7da2749fe2a4534cec0d2acbd16277a800cf2acd31158ac4edae4a62a8f18d" }
  let(:app) { Rack::URLMap.new("/_anycable" => endpoint) }

  def post(path, body, secret: derived, method: "POST", **headers)
    env = { method: method, input: body.b, "CONTENT_TYPE" => "application/json" }
    env["HTTP_AUTHORIZATION"] = "Bearer #{secret}" if secret
    response = Rack::MockRequest.new(app).request(method, "/_anycable#{path}", env.merge(headers))
    [response.status, response.body, response.headers]
  end

  def connect_body
    JSON.generate("env" => { "url" => "http://example.com/cable", "headers" => { "cookie" => "user=ann" } })
  end

  it "derives the default secret from secret as AnyCable does" do
    expect(described_class.derive_secret("s3cr3t")).to eq(derived)
    expect(OpenSSL::HMAC.hexdigest("SHA256", "s3cr3t", "rpc-cable")).to eq(derived)
  end

  it "answers connect with the handler's reply, passing the sid of x-anycable-meta-sid" do
    meta = { "HTTP_X_ANYCABLE_META_SID" => "n1-5", "HTTP_X_ANYCABLE_META_PROTOV" => "v1" }
    status, body, headers = post("/connect", connect_body, **meta)
    expect([status, headers["content-type"]]).to eq([200, "application/json"])
    reply = JSON.parse(body)
    expect(reply).to include("status" => 1, "identifiers" => '{"user":"ann"}')
    expect(JSON.parse(reply["transmissions"].first)).to eq("type" => "welcome", "sid" => "n1-5")
    name, request = handler.calls.last
    expect(name).to eq(:connect)
    expect(request).to eq("env" => { "url" => "http://example.com/cable", "headers" => { "cookie" => "user=ann" },
                                     "cstate" => {}, "istate" => {} }, "sid" => "n1-5")
  end

  it "fills in the fields protobuf-JSON leaves out, and takes lowerCamelCase names" do
    expect(post("/command", '{"command":"subscribe","identifier":"{}","connectionIdentifiers":"{\"u\":1}"}').first)
      .to eq(200)
    expect(handler.calls.last.last).to eq(
      "command" => "subscribe", "identifier" => "{}", "connection_identifiers" => '{"u":1}', "data" => "",
      "env" => { "url" => "", "headers" => {}, "cstate" => {}, "istate" => {} }
    )
    status, body, = post("/disconnect/", "{}") # a trailing slash is fine
    expect([status, JSON.parse(body)]).to eq([200, { "status" => 1, "error_msg" => "" }])
    expect(handler.calls.last.last).to include("identifiers" => "", "subscriptions" => [])
    post("/connect", '{"env":{},"sid":"from-the-body"}')
    expect(handler.calls.last.last).not_to have_key("sid") # metadata comes as a header only
  end

  it "prefers http_rpc_secret to the one derived from secret" do
    config.http_rpc_secret = "explicit"
    expect(post("/connect", connect_body, secret: "explicit").first).to eq(200)
    expect(post("/connect", connect_body, secret: derived).first).to eq(401)
  end

  it "answers 401 to a missing, malformed or wrong secret, in constant time, logging once which setting to fix" do
    allow(OpenSSL).to receive(:secure_compare).and_call_original
    expect(post("/connect", connect_body, secret: nil)).to start_with(401, "Invalid or missing HTTP RPC secret")
    expect(post("/connect", connect_body, secret: "#{derived}x").first).to eq(401)
    expect(post("/command", "{}", secret: nil, "HTTP_AUTHORIZATION" => "Basic #{derived}").first).to eq(401)
    expect(OpenSSL).to have_received(:secure_compare).with("#{derived}x", derived)
    expect(handler.calls).to be_empty
    line = "the WebSocket server's http_rpc_secret (or the secret it derives it from) must match"
    expect(log.string.scan(line).size).to eq(1)

    expect(post("/connect", connect_body, secret: nil, "HTTP_AUTHORIZATION" => "bearer  #{derived} ").first).to eq(200)
    post("/connect", connect_body, secret: "stale")
    expect(log.string.scan(line).size).to eq(2) # told again after requests got through
    expect(log.string).not_to include(derived, "s3cr3t", "stale")
  end

  it "answers 401 when no secret is configured, and logs once which settings to set" do
    config.secret = nil
    2.times do
      expect(post("/connect", connect_body, secret: "guess")).to start_with(401, "HTTP RPC is not configured on this server")
    end
    expect(log.string.scan("Set http_rpc_secret (ANYCABLE_HTTP_RPC_SECRET), or secret (ANYCABLE_SECRET)").size).to eq(1)
    expect(handler.calls).to be_empty
  end

  it "answers 404 to other paths and 405 to other methods, before checking the secret" do
    expect(post("/broadcast", "{}", secret: nil)).to start_with(404)
    expect(post("", "{}", secret: nil)).to start_with(404)
    status, body, headers = post("/connect", "", method: "GET", secret: nil)
    expect([status, body, headers["allow"]]).to eq([405, "Only POST is allowed", "POST"])
  end

  it "answers 413 to a body over the limit" do
    expect(post("/connect", JSON.generate("env" => { "url" => "x" * 600 })).first).to eq(413)
    input = StringIO.new("x" * 1000) # no Content-Length (chunked): read at most one byte past the limit
    allow(input).to receive(:read).and_call_original
    status, = endpoint.call("REQUEST_METHOD" => "POST", "PATH_INFO" => "/connect", "rack.input" => input,
                            "HTTP_AUTHORIZATION" => "Bearer #{derived}")
    expect(status).to eq(413)
    expect(input).to have_received(:read).with(513)
  end

  {
    "not json" => "not JSON",
    "\xff\xfe" => "not UTF-8",
    "[1]" => "expected a JSON object (the command request message)",
    '{"command":1}' => "command must be a string",
    '{"env":"x"}' => "env must be an object",
    '{"env":{"headers":{"cookie":1}}}' => "env.headers must be an object of strings",
    '{"env":{"istate":[]}}' => "env.istate must be an object of strings"
  }.each do |body, reason|
    it "answers 422 #{reason.inspect} to #{body.inspect}" do
      status, text, = post("/command", body)
      expect([status, text]).to eq([422, "Invalid request body: #{reason}"])
      expect(handler.calls).to be_empty
    end
  end

  it "answers 422 to a disconnect whose subscriptions are not strings" do
    expect(post("/disconnect", '{"subscriptions":[1]}'))
      .to start_with(422, "Invalid request body: subscriptions must be an array of strings")
  end

  it "answers status ERROR when the handler raises, so the WebSocket server does not retry" do
    allow(handler).to receive(:command).and_raise(ArgumentError, "boom")
    status, body, = post("/command", "{}")
    expect([status, JSON.parse(body)]).to eq([200, { "status" => 0, "error_msg" => "ArgumentError: boom" }])
    expect(log.string).to include("anycable-rs: HTTP RPC command failed: ArgumentError: boom")
  end

  it "is mountable as AnyCable::RS.http_rpc_endpoint, at http_rpc_mount_path by the Railtie" do
    expect(AnyCable::RS.http_rpc_endpoint).to be_a(described_class)
    expect(AnyCable::RS.http_rpc_endpoint).to equal(AnyCable::RS.http_rpc_endpoint)
    expect(AnyCable::RS::Config.new.http_rpc_mount_path).to eq("/_anycable")
  end
end
