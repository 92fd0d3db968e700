# frozen_string_literal: true

require "net/http"
require "openssl"
require "redis"
require_relative "support/integration_helper"
require_relative "../support/redis_server"

# Broadcasts from other processes (Puma workers, a runner, plain Ruby with the redis gem, HTTP
# publishers) reaching clients through Redis, each example with its own Redis and Puma. Every
# Redis here is the spec's own redis-server (apt-get install redis-server), never a system one.
#
# Only the stock `adapter: redis` example also runs on stock Action Cable (the reference); the
# rest is what anycable-rs adds (AnyCable's Redis format, the HTTP endpoint, session ids).
RSpec.describe "Broadcasting across processes", integration: true do
  let(:own_servers) { [] }
  let(:redises) { [] }
  let(:feed) { unique("feed") }

  after do
    own_servers.each(&:stop)
    redises.each(&:destroy)
  end

  def start_redis(**options)
    SpecSupport::RedisServer.new(**options).start.tap { |redis| redises << redis }
  end

  def start_server(**env)
    env = { "CABLE_SERVER" => IntegrationSupport.cable_server }.merge(env)
    IntegrationSupport::PumaServer.new(env: env).start.tap { |puma| own_servers << puma }
  end

  def redis_env(redis, **more)
    { "ANYCABLE_BROADCAST_ADAPTER" => "redis", "ANYCABLE_REDIS_URL" => redis.url }.merge(more)
  end

  # A raw client of `puma` for a fresh user; returns [client, welcome message].
  def connect(puma, user: unique("user"))
    client = IntegrationSupport::RawCableClient.new(
      puma.cable_url, headers: { "Origin" => puma.http_origin, "Cookie" => "user=#{user}" }
    )
    integration_clients << client
    [client, client.wait_for { |m| m["type"] == "welcome" }]
  end

  # What EchoChannel reports: the worker's pid and what connect saw (connect_info).
  def echo(client)
    identifier = JSON.generate(channel: "EchoChannel")
    client.send_json(command: "subscribe", identifier: identifier)
    client.wait_for { |m| m["identifier"] == identifier && m.dig("message", "pid") }["message"]
  end

  # AnyCable's publication JSON, PUBLISHed by plain Ruby with the redis gem.
  def publish_anycable(redis_url, stream, message, **redis_options)
    publisher = Redis.new(url: redis_url, **redis_options)
    publisher.publish("__anycable__", JSON.generate(stream: stream, data: JSON.generate(message)))
  ensure
    publisher&.close
  end

  # Publishes (the block gets an attempt number) until every client got that attempt's
  # message: a node's Redis subscriber connects in the background after the node starts.
  def publish_until_delivered(clients, timeout: 10)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    pending = clients.dup
    attempt = 0
    until pending.empty?
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        raise "not delivered within #{timeout}s to #{pending.size} client(s)"
      end

      attempt += 1
      yield attempt
      pending.reject! { |client| received?(client, timeout: 0.3) { |m| m.is_a?(Hash) && m["attempt"] } }
    end
    attempt
  end

  # publish_until_delivered for the spec's feed, through plain Ruby's redis gem.
  def deliver_through(redis, clients, timeout: 10, **redis_options)
    publish_until_delivered(clients, timeout: timeout) do |attempt|
      publish_anycable(redis.url, "feed:#{feed}", { "attempt" => attempt }, **redis_options)
    end
  end

  def received?(client, timeout:)
    client.wait_for(timeout: timeout) { |m| m.key?("message") && yield(m["message"]) }
  rescue RuntimeError
    false
  end

  def remote_disconnect_of(client)
    expect(client.wait_closed).to be(true)
    client.frames.select { |f| f.type == :text }.map(&:json).select { |m| m["type"] == "disconnect" }
  end

  # in_process_rpc: tells the Puma workers apart by the pid channel code reports (see
  # anycable_rs_server_spec.rb).
  it "reaches the clients of both Puma workers from other processes, and closes remote connections by identifiers",
     anycable_rs_only: true, in_process_rpc: true do
    redis = start_redis
    puma = start_server("PUMA_WORKERS" => "2", **redis_env(redis))
    by_pid = {}
    100.times do
      user = unique("user")
      client, = connect(puma, user: user)
      seen = echo(client)
      by_pid[seen["pid"]] ||= { client: client, user: user, connect_info: seen["connect"] }
      break if by_pid.size == 2
    end
    expect(by_pid.size).to eq(2), "all connections landed in one worker"
    a, b = by_pid.values
    [a, b].each { |held| raw_subscribe(held[:client], channel: "StreamsChannel", feeds: [feed]) }

    # Plain Ruby with the redis gem, AnyCable's format.
    deliver_through(redis, [a[:client], b[:client]])
    # The app's own code in a process without a node (ActionCable.server.broadcast, adapter
    # anycable_rs, broadcast_adapter redis).
    puma.run_script("script/publish.rb", "broadcast", "feed:#{feed}", JSON.generate("from" => "runner"))
    [a, b].each { |held| expect(held[:client].wait_for { |m| m["message"] == { "from" => "runner" } }).to be_truthy }

    puma.run_script("script/publish.rb", "disconnect",
                    JSON.generate(current_user: a[:user], connect_info: a[:connect_info]))
    expect(remote_disconnect_of(a[:client])).to eq([{ "type" => "disconnect", "reason" => "remote", "reconnect" => true }])
    publish_anycable(redis.url, "feed:#{feed}", { "still" => "here" })
    expect(b[:client].wait_for { |m| m["message"] == { "still" => "here" } }).to be_truthy
    expect(b[:client]).not_to be_closed
    expect(puma.log).not_to include("this process was forked")
  end

  it "keeps in-process delivery while Redis is down and resumes within 5 s once it is back, logging each change once",
     anycable_rs_only: true do
    redis = start_redis
    puma = start_server(**redis_env(redis))
    client, = connect(puma)
    raw_subscribe(client, channel: "StreamsChannel", feeds: [feed])
    deliver_through(redis, [client])

    redis.kill
    puma.broadcast("feed:#{feed}", { "during" => "outage" }) # made inside Puma: delivered there
    expect(client.wait_for { |m| m["message"] == { "during" => "outage" } }).to be_truthy

    redis.start
    back = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    deliver_through(redis, [client], timeout: 5)
    expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - back).to be < 5

    # Through Redis again, and only once (no extra in-process copy).
    puma.broadcast("feed:#{feed}", { "after" => "outage" })
    expect(client.wait_for { |m| m["message"] == { "after" => "outage" } }).to be_truthy
    expect(client.drain(0.5).count { |m| m["message"] == { "after" => "outage" } }).to eq(0)
    expect(puma.log.scan("lost connection to Redis").size).to eq(1), puma.log
    expect(puma.log.scan("Redis connection restored").size).to eq(1), puma.log
  end

  # The redis-rb version Action Cable's own redis adapter asks for (`gem "redis", ...` in
  # action_cable/subscription_adapter/redis.rb), and whether the bundle's redis-rb meets it.
  def stock_redis_adapter_loads?
    source = File.read(File.join(Gem.loaded_specs.fetch("actioncable").full_gem_path,
                                 "lib/action_cable/subscription_adapter/redis.rb"))
    requirements = source[/^gem "redis", (.+)$/, 1].to_s.scan(/"([^"]+)"/).flatten
    Gem::Requirement.new(*requirements).satisfied_by?(Gem.loaded_specs.fetch("redis").version)
  end

  it "lets publishers that use Action Cable's redis adapter reach the clients, and remote_connections close the right one" do
    if stock_action_cable? && !stock_redis_adapter_loads?
      skip "Action Cable #{Gem.loaded_specs["actioncable"].version}'s redis adapter refuses redis-rb " \
           "#{Gem.loaded_specs["redis"].version}: stock Action Cable cannot run this on this stack (anycable-rs can)"
    end
    redis = start_redis
    puma = start_server("CABLE_ADAPTER" => "redis", "CABLE_REDIS_URL" => redis.url, "CABLE_CHANNEL_PREFIX" => "integration_test")
    held = Array.new(2) do
      user = unique("user")
      client, = connect(puma, user: user)
      { client: client, user: user, connect_info: echo(client)["connect"] }
    end
    a, b = held
    held.each { |h| raw_subscribe(h[:client], channel: "StreamsChannel", feeds: [feed]) }

    puma.run_script("script/publish.rb", "broadcast", "feed:#{feed}", JSON.generate("from" => "action cable"))
    held.each { |h| expect(h[:client].wait_for { |m| m["message"] == { "from" => "action cable" } }).to be_truthy }

    puma.run_script("script/publish.rb", "disconnect", JSON.generate(current_user: a[:user], connect_info: a[:connect_info]))
    # Rails < 7.1 closes without a message; Rails 7.1+ and anycable-rs say why first.
    expect(remote_disconnect_of(a[:client])).to all(include("reason" => "remote", "reconnect" => true))
    puma.broadcast("feed:#{feed}", { "still" => "here" })
    expect(b[:client].wait_for { |m| m["message"] == { "still" => "here" } }).to be_truthy
    expect(b[:client]).not_to be_closed
  end

  context "with rediss:// (a self-signed CA, as Heroku Redis has)", anycable_rs_only: true do
    let(:certs) { SpecSupport::TlsCerts.new }
    let(:redis) { start_redis(tls: certs) }
    let(:trusted) { { ssl_params: { ca_file: certs.ca_cert } } }

    after { certs.destroy }

    def subscribed_client(puma)
      client, = connect(puma)
      raw_subscribe(client, channel: "StreamsChannel", feeds: [feed])
      client
    end

    it "connects without verification by default, fails clearly with verification but no CA, connects with the CA" do
      puma = start_server(**redis_env(redis))
      client = subscribed_client(puma)
      deliver_through(redis, [client], **trusted)
      puma.stop

      puma = start_server(**redis_env(redis, "ANYCABLE_REDIS_TLS_VERIFY" => "true"))
      client = subscribed_client(puma)
      expect { deliver_through(redis, [client], timeout: 2, **trusted) }.to raise_error(/not delivered/)
      expect(puma.log).to match(/Redis.*certificate|certificate.*Redis/i)
      puma.stop

      puma = start_server(**redis_env(redis, "ANYCABLE_REDIS_TLS_VERIFY" => "true",
                                             "ANYCABLE_REDIS_TLS_CA_CERT_PATH" => certs.ca_cert))
      client = subscribed_client(puma)
      deliver_through(redis, [client], **trusted)
    end
  end

  context "through the HTTP endpoint POST /_broadcast", anycable_rs_only: true do
    before(:context) do
      @secret = "integration-broadcast-secret"
      @puma = IntegrationSupport::PumaServer.new(env: { "CABLE_SERVER" => "anycable_rs", "ANYCABLE_SECRET" => @secret }).start
    end

    after(:context) { @puma&.stop }

    let(:puma) { @puma }
    let(:key) { OpenSSL::HMAC.hexdigest("SHA256", @secret, "broadcast-cable") }

    def post(body, authorization: "Bearer #{key}", method: :post)
      Net::HTTP.start("127.0.0.1", puma.port, open_timeout: 5, read_timeout: 5) do |http|
        request = method == :post ? Net::HTTP::Post.new("/_broadcast") : Net::HTTP::Get.new("/_broadcast")
        request["Authorization"] = authorization if authorization
        request["Content-Type"] = "application/json"
        request.body = body if method == :post
        http.request(request)
      end
    end

    def publication(message, **meta)
      { stream: "feed:#{feed}", data: JSON.generate(message) }.tap { |p| p[:meta] = meta unless meta.empty? }
    end

    it "refuses bad keys, other methods, bad bodies and oversize bodies with the right status" do
      body = JSON.generate(publication({ "x" => 1 }))
      expect(post(body, authorization: nil).code).to eq("401")
      expect(post(body, authorization: "Bearer #{key.reverse}").code).to eq("401")
      expect(post(body, method: :get).code).to eq("405")
      bad = post('{"stream":"s"}')
      expect([bad.code, bad.body]).to eq(["422", "missing data"])
      expect(post("{not json").code).to eq("422")
      expect(post("[#{body},\"#{"x" * (1 << 20)}\"]").code).to eq("413")
    end

    it "delivers publications and batches, skipping the socket named in meta.exclude_socket" do
      sender, sender_welcome = connect(puma)
      other, = connect(puma)
      [sender, other].each { |client| raw_subscribe(client, channel: "StreamsChannel", feeds: [feed]) }
      expect(sender_welcome["sid"]).to match(/\S/)

      expect(post(JSON.generate(publication({ "n" => 1 }))).code).to eq("201")
      batch = [publication({ "n" => 2 }, exclude_socket: sender_welcome["sid"]), publication({ "n" => 3 })]
      expect(post(JSON.generate(batch)).code).to eq("201")

      expect(other.wait_for { |m| m["message"] == { "n" => 3 } }).to be_truthy
      expect(other.frames.filter_map { |f| f.json["message"] if f.type == :text }).to include({ "n" => 1 }, { "n" => 2 })
      sender.wait_for { |m| m["message"] == { "n" => 3 } }
      received = sender.frames.filter_map { |f| f.json["message"] if f.type == :text }
      expect(received).to include({ "n" => 1 })
      expect(received).not_to include({ "n" => 2 })
    end
  end
end
