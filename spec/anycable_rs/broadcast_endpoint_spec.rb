# frozen_string_literal: true

require "json"
require "logger"
require "openssl"
require "stringio"

# The Rack side of POST /_broadcast; end to end through Puma in spec/integration.
RSpec.describe AnyCable::RS::BroadcastEndpoint do
  subject(:endpoint) do
    described_class.new(config: -> { config }, broadcaster: -> { broadcaster }, logger: -> { Logger.new(log) },
                        max_body_size: 256)
  end

  let(:config) { AnyCable::RS::Config.new(secret: "s3cr3t") }
  let(:broadcaster) { spy("broadcaster") }
  let(:log) { StringIO.new }
  # hex HMAC-SHA256("s3cr3t", "broadcast-cable"), as AnyCable derives the broadcast key.
  let(:derived_key) { OpenSSL::HMAC.hexdigest("SHA256", "s3cr3t", "broadcast-cable") }

  def post(body, key: derived_key, method: "POST", **env)
    env = { "REQUEST_METHOD" => method, "rack.input" => StringIO.new(body.b), "CONTENT_LENGTH" => body.bytesize.to_s }
          .merge(env)
    env["HTTP_AUTHORIZATION"] = "Bearer #{key}" if key
    status, headers, chunks = endpoint.call(env)
    [status, chunks.join, headers]
  end

  it "derives the default key from secret as AnyCable does" do
    expect(described_class.derive_key("s3cr3t")).to eq(derived_key)
    expect(derived_key).to match(/\A\h{64}\z/)
  end

  it "accepts a publication with the derived key: 201, delivered as sent" do
    body = '{"stream":"chat","data":"{\"text\":\"hi\"}","meta":{"exclude_socket":"sid-1"}}'
    expect(post(body).first).to eq(201)
    expect(broadcaster).to have_received(:publish_raw).with(body)
  end

  it "accepts batches and disconnect commands, alone or in a batch" do
    batch = '[{"stream":"a","data":"1"},{"command":"disconnect","payload":{"identifier":"{\"u\":\"1\"}"}}]'
    command = '{"command":"disconnect","payload":{"identifier":"{}","reconnect":false}}'
    expect(post(batch).first).to eq(201)
    expect(post(command).first).to eq(201)
    expect(post("[]").first).to eq(201)
    expect(broadcaster).to have_received(:publish_raw).with(batch)
    expect(broadcaster).to have_received(:publish_raw).with(command)
    expect(broadcaster).to have_received(:publish_raw).twice # the empty batch asks for nothing
  end

  it "prefers broadcast_key to the derived one" do
    config.broadcast_key = "explicit"
    expect(post('{"stream":"s","data":"1"}', key: "explicit").first).to eq(201)
    expect(post('{"stream":"s","data":"1"}', key: derived_key).first).to eq(401)
  end

  it "answers 401 to a missing, malformed or wrong key, comparing in constant time" do
    allow(OpenSSL).to receive(:secure_compare).and_call_original
    body = '{"stream":"s","data":"1"}'
    expect(post(body, key: nil)).to start_with(401, "Invalid or missing broadcast key")
    expect(post(body, key: "#{derived_key}x").first).to eq(401)
    expect(post(body, key: nil, "HTTP_AUTHORIZATION" => "Basic #{derived_key}").first).to eq(401)
    expect(post(body, key: nil, "HTTP_AUTHORIZATION" => "bearer  #{derived_key} ").first).to eq(201)
    expect(OpenSSL).to have_received(:secure_compare).with("#{derived_key}x", derived_key)
    expect(broadcaster).to have_received(:publish_raw).once
  end

  it "answers 401 when no key is configured, and logs once which setting to set, never a secret" do
    config.secret = nil
    2.times do
      expect(post('{"stream":"s","data":"1"}', key: "guess"))
        .to start_with(401, "Broadcasting over HTTP is not configured on this server")
    end
    expect(log.string.scan("Set broadcast_key (ANYCABLE_BROADCAST_KEY), or secret (ANYCABLE_SECRET)").size).to eq(1)
    expect(broadcaster).not_to have_received(:publish_raw)

    config.secret = "s3cr3t"
    post("not json", key: "wrong")
    post("not json")
    expect(log.string).not_to include("s3cr3t", derived_key, "wrong")
  end

  it "answers 405 to anything but POST, before checking the key" do
    status, body, headers = post("", method: "GET", key: nil)
    expect([status, body, headers["allow"]]).to eq([405, "Only POST is allowed", "POST"])
  end

  it "answers 413 to a body over the limit without reading more than one byte past it" do
    input = StringIO.new("x" * 1000) # no Content-Length (chunked)
    allow(input).to receive(:read).and_call_original
    status, = endpoint.call("REQUEST_METHOD" => "POST", "rack.input" => input, "HTTP_AUTHORIZATION" => "Bearer #{derived_key}")
    expect(status).to eq(413)
    expect(input).to have_received(:read).with(257)
    expect(post("x" * 257).first).to eq(413) # told by Content-Length
    expect(post(%({"stream":"s","data":"#{"y" * 229}"})).first).to eq(201) # exactly 256 bytes
  end

  {
    "not json" => "Body is not JSON",
    "\xff\xfe" => "Body is not UTF-8",
    "42" => "Expected a publication object or an array of them",
    '{"data":"1"}' => "missing stream",
    '{"stream":"","data":"1"}' => "stream must be a non-empty string",
    '{"stream":"s"}' => "missing data",
    '{"stream":"s","data":{"a":1}}' => "data must be a string (JSON-encode the message)",
    '{"stream":"s","data":"1","meta":[]}' => "meta must be an object",
    '{"stream":"s","data":"1","meta":{"exclude_socket":1}}' => "meta.exclude_socket must be a string",
    '[{"stream":"s","data":"1"},7]' => "item 1: expected an object with stream and data",
    '{"command":"reload"}' => 'unknown command "reload"',
    '{"command":"disconnect","payload":{}}' => "disconnect: payload.identifier must be the identifiers JSON string",
    '{"command":"disconnect","payload":{"identifier":"{}","reconnect":"yes"}}' =>
      "disconnect: payload.reconnect must be true or false"
  }.each do |body, reason|
    it "answers 422 #{reason.inspect} to #{body.inspect}" do
      status, text = post(body)
      expect(status).to eq(422)
      expect(text).to end_with(reason)
      expect(broadcaster).not_to have_received(:publish_raw)
    end
  end

  it "is mountable as AnyCable::RS.broadcast_endpoint and delivers through AnyCable::RS.broadcaster" do
    expect(AnyCable::RS.broadcast_endpoint).to be_a(described_class)
    expect(AnyCable::RS.broadcast_endpoint).to equal(AnyCable::RS.broadcast_endpoint)
  end
end
