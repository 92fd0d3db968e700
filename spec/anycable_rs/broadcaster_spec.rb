# frozen_string_literal: true

require "json"
require "logger"
require "stringio"
require "redis"
require_relative "../support/redis_server"

# Routing of broadcasts (Redis or this process's node), batching and remote disconnects, against
# a real redis-server of the spec's own; the node is a spy (what reaches this process's hub).
RSpec.describe AnyCable::RS::Broadcaster do
  subject(:broadcaster) { described_class.new(config: -> { config }, node: -> { node }, logger: -> { logger }) }

  let(:log) { StringIO.new }
  let(:logger) { Logger.new(log) }
  let(:node) { spy("node") }
  let(:redis_config) { AnyCable::RS::Config.new(broadcast_adapter: "redis", redis_url: redis.url) }
  let(:config) { redis_config }

  before(:context) { @redis = SpecSupport::RedisServer.new.start }
  after(:context) { @redis&.destroy }

  after { broadcaster.close }

  attr_reader :redis

  # Subscribes to `channel` on a thread of its own; returns a Queue of the messages received.
  def subscribe(channel = "__anycable__", url: redis.url)
    messages = Queue.new
    ready = Queue.new
    client = Redis.new(url: url)
    subscribers << [client, Thread.new do
      client.subscribe(channel) do |on|
        on.subscribe { ready << true }
        on.message { |_channel, message| messages << message }
      end
    rescue StandardError
      nil # closed or its Redis stopped by an after hook (redis 5 raises RedisClient's own errors)
    end]
    pop_within(ready, 5) || raise("no subscription to #{channel}")
    messages
  end

  # Queue#pop(timeout:) needs Ruby 3.2; this runs on 3.1 too.
  def pop_within(queue, seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    while queue.empty?
      return nil if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.01
    end
    queue.pop
  end

  def subscribers
    @subscribers ||= []
  end

  after do
    subscribers.each do |client, thread|
      thread.kill.join(1)
      client.close
    end
  end

  def next_message(queue)
    message = pop_within(queue, 5) || raise("nothing published within 5s")
    JSON.parse(message)
  end

  context "with broadcast_adapter: redis" do
    it "PUBLISHes AnyCable's publication JSON to redis_channel and leaves delivery to the subscribers" do
      messages = subscribe
      broadcaster.broadcast("chat:1", '{"text":"hi"}')
      broadcaster.broadcast("chat:1", '"x"', exclude_socket: "sid-1")

      expect(next_message(messages)).to eq("stream" => "chat:1", "data" => '{"text":"hi"}')
      expect(next_message(messages)).to eq("stream" => "chat:1", "data" => '"x"', "meta" => { "exclude_socket" => "sid-1" })
      expect(node).not_to have_received(:publish)
    end

    it "uses the configured channel" do
      config.redis_channel = "__other__"
      messages = subscribe("__other__")
      broadcaster.broadcast("s", "1")
      expect(next_message(messages)).to eq("stream" => "s", "data" => "1")
    end

    it "delivers in this process when nobody is subscribed (e.g. while its own subscriber reconnects)" do
      broadcaster.broadcast("s", "1", exclude_socket: "sid-2")
      expect(node).to have_received(:publish).with("s", "1", "sid-2")
    end

    it "publishes a remote disconnect in AnyCable's command format" do
      messages = subscribe
      broadcaster.disconnect('{"current_user":"gid://app/User/1"}', reconnect: false)
      expect(next_message(messages)).to eq(
        "command" => "disconnect",
        "payload" => { "identifier" => '{"current_user":"gid://app/User/1"}', "reconnect" => false }
      )
      expect(node).not_to have_received(:disconnect_remote)
    end

    it "sends a batch as one PUBLISH of a JSON array, also when the block raises; nested blocks join it" do
      messages = subscribe
      expect do
        broadcaster.batch do
          broadcaster.broadcast("a", "1")
          broadcaster.batch { broadcaster.broadcast("b", "2", exclude_socket: "sid") }
          raise ArgumentError, "after two broadcasts"
        end
      end.to raise_error(ArgumentError)
      broadcaster.broadcast("c", "3")

      expect(next_message(messages)).to eq([{ "stream" => "a", "data" => "1" },
                                            { "stream" => "b", "data" => "2", "meta" => { "exclude_socket" => "sid" } }])
      expect(next_message(messages)).to eq("stream" => "c", "data" => "3")
    end

    it "keeps batches per thread" do
      messages = subscribe
      broadcaster.batch do
        Thread.new { broadcaster.broadcast("other-thread", "1") }.join
        broadcaster.broadcast("mine", "2")
      end
      expect(next_message(messages)).to eq("stream" => "other-thread", "data" => "1")
      expect(next_message(messages)).to eq([{ "stream" => "mine", "data" => "2" }])
    end
  end

  context "with broker: redis" do
    let(:config) do
      AnyCable::RS::Config.new(broadcast_adapter: "redis", broker: "redis", redis_url: redis.url,
                               redis_channel: "__placed__", history_limit: 2)
    end
    let(:store) { Redis.new(url: redis.url) }

    after { store.close }

    it "places each broadcast in its stream's history and PUBLISHes it with its place, batches and commands too" do
      store.flushdb
      messages = subscribe("__placed__")
      broadcaster.broadcast("chat:1", '{"n":1}')
      first = next_message(messages)
      epoch = first.dig("meta", "epoch")
      expect(epoch).to match(/\A[0-9A-Za-z]{6}\z/)
      start = first.dig("meta", "offset") - 1 # a new stream's offsets start from Unix time × 1000
      expect(start).to be_within(60_000).of(Time.now.to_i * 1000)
      expect(first).to eq("stream" => "chat:1", "data" => '{"n":1}', "meta" => { "epoch" => epoch, "offset" => start + 1 })

      broadcaster.batch do
        broadcaster.broadcast("chat:1", '{"n":2}', exclude_socket: "sid-1")
        broadcaster.broadcast("chat:2", '"other"')
        broadcaster.broadcast("chat:1", '{"n":3}')
      end
      broadcaster.disconnect('{"user":"1"}')
      batch = next_message(messages)
      other = batch[1].dig("meta", "offset") # chat:2 counts on its own
      expect(other).to be_within(60_000).of(Time.now.to_i * 1000)
      expect(batch).to eq(
        [{ "stream" => "chat:1", "data" => '{"n":2}',
           "meta" => { "exclude_socket" => "sid-1", "epoch" => epoch, "offset" => start + 2 } },
         { "stream" => "chat:2", "data" => '"other"', "meta" => { "epoch" => epoch, "offset" => other } },
         { "stream" => "chat:1", "data" => '{"n":3}', "meta" => { "epoch" => epoch, "offset" => start + 3 } }]
      )
      expect(next_message(messages)).to eq("command" => "disconnect",
                                           "payload" => { "identifier" => '{"user":"1"}', "reconnect" => true })

      history = store.xrange("__placed__:history:chat:1").map { |_id, fields| fields }
      expect(history).to eq([{ "offset" => (start + 2).to_s, "data" => '{"n":2}' },
                             { "offset" => (start + 3).to_s, "data" => '{"n":3}' }])
      expect(store.ttl("__placed__:history:chat:1")).to be_between(1, 300)
      expect(store.get("__placed__:epoch")).to eq(epoch)

      store.script(:flush) # a Redis that lost the script (a restart) gets it again
      broadcaster.broadcast("chat:1", '{"n":4}')
      expect(next_message(messages).dig("meta", "offset")).to eq(start + 4)
      expect(node).not_to have_received(:publish)
    end
  end

  context "when Redis goes away" do
    let(:outage) { SpecSupport::RedisServer.new.start }
    let(:config) { AnyCable::RS::Config.new(broadcast_adapter: "redis", redis_url: outage.url) }

    after { outage.destroy }

    it "delivers in this process meanwhile, logs once when it goes and once when it is back" do
      broadcaster.broadcast("s", "before") # connected once
      outage.kill
      3.times { |i| broadcaster.broadcast("s", "down-#{i}") }
      broadcaster.disconnect("{}", reconnect: true)
      3.times { |i| expect(node).to have_received(:publish).with("s", "down-#{i}") }
      expect(node).to have_received(:disconnect_remote).with("{}", true)
      expect(broadcaster.publisher).to be_down

      outage.start
      messages = subscribe(url: outage.url)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 5
      until (message = messages.empty? ? nil : messages.pop)
        raise "broadcasts did not resume within 5s:\n#{log.string}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        broadcaster.broadcast("s", "back")
        sleep 0.1
      end

      expect(JSON.parse(message)).to eq("stream" => "s", "data" => "back")
      expect(log.string.scan("cannot publish broadcasts to Redis").size).to eq(1)
      expect(log.string.scan("publishing broadcasts to Redis (#{outage.url}) again").size).to eq(1)
    end
  end

  context "without Redis" do
    let(:config) { AnyCable::RS::Config.new }

    it "hands broadcasts, batches and disconnects to this process's node" do
      broadcaster.broadcast("s", "1")
      broadcaster.broadcast("s", "2", exclude_socket: "sid")
      broadcaster.batch do
        broadcaster.broadcast("a", "1")
        broadcaster.broadcast("b", "2")
      end
      broadcaster.disconnect('{"u":"1"}')

      expect(node).to have_received(:publish).with("s", "1")
      expect(node).to have_received(:publish).with("s", "2", "sid")
      expect(node).to have_received(:publish_raw).once.with('[{"stream":"a","data":"1"},{"stream":"b","data":"2"}]')
      expect(node).to have_received(:disconnect_remote).with('{"u":"1"}', true)
    end

    it "says once that a process without a node reaches nobody" do
      lonely = described_class.new(config: -> { config }, node: -> {}, logger: -> { logger })
      2.times { lonely.broadcast("s", "1") }
      expect(log.string.scan("broadcasts made here reach nobody").size).to eq(1)
    end
  end

  context "with broadcast_adapter: redis but no redis_url" do
    let(:config) { AnyCable::RS::Config.new(broadcast_adapter: "redis") }

    it "says what is missing instead of broadcasting nowhere" do
      expect { broadcaster.broadcast("s", "1") }
        .to raise_error(AnyCable::RS::ConfigError, /`redis_url` must be set: broadcast_adapter is redis/)
    end
  end

  context "without the redis gem" do
    it "names the Gemfile line and the Debian package" do
      allow(AnyCable::RS::RedisPublisher).to receive(:require)
        .with("redis").and_raise(LoadError, "cannot load such file -- redis")
      expect { broadcaster.broadcast("s", "1") }.to raise_error(
        AnyCable::RS::Error, /add `gem "redis", ">= 4"` to your Gemfile \(Debian: apt-get install ruby-redis\)/
      )
    end
  end
end

RSpec.describe AnyCable::RS::RedisPublisher do
  let(:log) { StringIO.new }

  def publisher(url, **options)
    described_class.new(url: url, logger: Logger.new(log), **options).tap { |p| publishers << p }
  end

  def publishers
    @publishers ||= []
  end

  after { publishers.each(&:close) }

  it "skips certificate checks for rediss:// unless asked (Heroku Redis' certificate is self-signed)" do
    expect(publisher("redis://h:1").client_options).not_to have_key(:ssl_params)
    expect(publisher("rediss://h:1").client_options[:ssl_params]).to eq(verify_mode: OpenSSL::SSL::VERIFY_NONE)
    expect(publisher("rediss://h:1", tls_verify: true, ca_path: "/ca.pem").client_options[:ssl_params])
      .to eq(verify_mode: OpenSSL::SSL::VERIFY_PEER, ca_file: "/ca.pem")
  end

  context "with a TLS Redis whose certificate a private CA signed" do
    before(:context) do
      @certs = SpecSupport::TlsCerts.new
      @tls_redis = SpecSupport::RedisServer.new(tls: @certs).start
    end

    after(:context) do
      @tls_redis&.destroy
      @certs&.destroy
    end

    it "connects without verification by default" do
      expect(publisher(@tls_redis.url).publish("__anycable__", "{}")).to eq(0)
    end

    it "fails clearly when verification is on without the CA, and connects with it" do
      expect(publisher(@tls_redis.url, tls_verify: true).publish("__anycable__", "{}")).to be_nil
      expect(log.string).to include("certificate verify failed").and include("redis_tls_ca_cert_path")
      expect(publisher(@tls_redis.url, tls_verify: true, ca_path: @certs.ca_cert).publish("__anycable__", "{}")).to eq(0)
    end
  end

  it "never logs the password of the URL" do
    port = TCPServer.new("127.0.0.1", 0).then { |s| s.addr[1].tap { s.close } }
    expect(publisher("redis://:hunter2@127.0.0.1:#{port}").publish("c", "m")).to be_nil
    expect(log.string).to include("redis://[FILTERED]@127.0.0.1:#{port}")
    expect(log.string).not_to include("hunter2")
  end
end

RSpec.describe "AnyCable::RS.broadcast" do
  before { allow(AnyCable::RS.broadcaster).to receive(:broadcast) }

  it "sends strings as they are and encodes anything else as JSON" do
    AnyCable::RS.broadcast(:chat, '{"a":1}')
    AnyCable::RS.broadcast("chat", { "a" => [1, nil] }, exclude_socket: :sid)
    expect(AnyCable::RS.broadcaster).to have_received(:broadcast).with("chat", '{"a":1}', exclude_socket: nil)
    expect(AnyCable::RS.broadcaster).to have_received(:broadcast).with("chat", '{"a":[1,null]}', exclude_socket: "sid")
  end

  it "excludes the socket given to with_socket_id (e.g. from X-Socket-ID), in that block only" do
    AnyCable::RS.with_socket_id("sid-1") do
      AnyCable::RS.broadcast("s", "1")
      AnyCable::RS.with_socket_id("") { AnyCable::RS.broadcast("s", "2") }
      AnyCable::RS.broadcast("s", "3", exclude_socket: "other")
    end
    AnyCable::RS.broadcast("s", "4")
    expect(AnyCable::RS.broadcaster).to have_received(:broadcast).with("s", "1", exclude_socket: "sid-1")
    expect(AnyCable::RS.broadcaster).to have_received(:broadcast).with("s", "2", exclude_socket: nil)
    expect(AnyCable::RS.broadcaster).to have_received(:broadcast).with("s", "3", exclude_socket: "other")
    expect(AnyCable::RS.broadcaster).to have_received(:broadcast).with("s", "4", exclude_socket: nil)
  end
end
