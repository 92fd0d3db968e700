# frozen_string_literal: true

require "net/http"
require "open3"
require_relative "support/integration_helper"
require_relative "../support/redis_server"

# Presence (docs/hotwire.md): AnyCable's presence sets with the stock @rails/actioncable client,
# which hands `presence` frames to `received`. A channel joins with `join_presence`; `$pubsub`
# subscribers (streams_presence) join from the client with no call to the app; everyone on the
# stream hears who joins and leaves, and may ask who is there. A client whose socket closed
# stays presence_ttl. With the Redis broker this holds across processes, and whispers too.
module PresenceHelpers
  def client_of(puma, user)
    IntegrationSupport::NodeCableClient.new(url: puma.cable_url, origin: puma.http_origin, cookie: "user=#{user}", name: user)
                                       .tap { |client| integration_clients << client }
  end

  def joined(user)
    { "type" => "join", "id" => user, "info" => { "name" => user.capitalize } }
  end

  def left(user)
    { "type" => "leave", "id" => user }
  end

  def presence_events(client, sub)
    client.received(sub).select { |data| %w[join leave].include?(data["type"]) }
  end

  # Asks who is there; the answer (`info`, or `error`).
  def who_is_there(client, sub, **options)
    asked = client.events.last&.fetch("seq") || 0
    client.send_command(sub, { command: "presence", data: options })
    client.wait_for("received", sub: sub, after: asked) { |e| %w[info error].include?(e["data"]["type"]) }["data"]
  end

  def stats(puma)
    JSON.parse(Net::HTTP.get(URI("#{puma.http_origin}/stats")))
  end

  def room_of(room)
    { channel: "PresenceChannel", room: room }
  end

  # Alice, then Bob, subscribed to one new room of `puma`, both heard joining by Alice:
  # [alice, bob, alice's name, bob's name].
  def alice_and_bob(puma)
    room = unique("room")
    names = [unique("alice"), unique("bob")]
    clients = names.map { |name| client_of(puma, name) }
    clients.zip(names).each do |client, name|
      client.subscribe!("room", room_of(room))
      clients.first.wait_for_received("room") { |data| data == joined(name) }
    end
    [*clients, *names]
  end
end

RSpec.describe "Presence", :anycable_rs_only, integration: true do
  include PresenceHelpers

  before(:all) do
    env = { "CABLE_SERVER" => "anycable_rs", "ANYCABLE_PRESENCE_TTL" => "1", "ANYCABLE_PUBLIC_STREAMS" => "true",
            "ANYCABLE_STREAMS_PRESENCE" => "true" }
    @puma = IntegrationSupport::PumaServer.new(env: env).start
  end

  after(:all) { @puma&.stop }

  it "tells the stream who joins and leaves (join_presence in the channel), and who is there" do
    alice, bob, alice_name, bob_name = alice_and_bob(@puma)
    expect(presence_events(alice, "room")).to eq([joined(alice_name), joined(bob_name)])

    info = who_is_there(bob, "room")
    expect(info["total"]).to eq(2)
    expect(info["records"]).to contain_exactly({ "id" => alice_name, "info" => { "name" => alice_name.capitalize } },
                                               { "id" => bob_name, "info" => { "name" => bob_name.capitalize } })
    expect(who_is_there(bob, "room", return_records: false)).to eq("type" => "info", "total" => 2)

    bob.perform("room", "away") # leave_presence, still subscribed
    expect(alice.wait_for_received("room") { |data| data == left(bob_name) }).to be_truthy
    expect(who_is_there(bob, "room")["total"]).to eq(1)
    alice.unsubscribe("room")
    expect(bob.wait_for_received("room") { |data| data == left(alice_name) }).to be_truthy
    expect(presence_events(bob, "room")).to eq([joined(bob_name), left(bob_name), left(alice_name)])
  end

  it "keeps a client whose socket closed for presence_ttl, then tells the others it left" do
    alice, bob, _, bob_name = alice_and_bob(@puma)

    closed = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    bob.close
    alice.wait_for_received("room") { |data| data == left(bob_name) }
    expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - closed).to be >= 0.9 # presence_ttl 1
  end

  it "lets $pubsub subscribers join from the client with streams_presence, with no call to the app" do
    lobby = { channel: "$pubsub", stream_name: unique("lobby") }
    alice = client_of(@puma, unique("alice"))
    bob = client_of(@puma, unique("bob"))
    alice.subscribe!("lobby", lobby)
    bob.subscribe!("lobby", lobby)
    calls = stats(@puma)["rpc_call_total"]

    alice.send_command("lobby", { command: "join", presence: { id: "a1", info: { name: "Alice" } } })
    bob.send_command("lobby", { command: "join", presence: { id: 2, info: "Bob" } })
    expect(alice.wait_for_received("lobby") { |data| data["id"] == "2" }).to eq("type" => "join", "id" => "2", "info" => "Bob")
    expect(who_is_there(alice, "lobby")["records"]).to contain_exactly({ "id" => "a1", "info" => { "name" => "Alice" } },
                                                                       { "id" => "2", "info" => "Bob" })
    bob.send_command("lobby", { command: "leave" })
    expect(alice.wait_for_received("lobby") { |data| data == left("2") }).to be_truthy
    expect(stats(@puma)["rpc_call_total"]).to eq(calls)
  end

  it "serves AnyCable's own client (@anycable/core's channel.presence)" do
    IntegrationSupport::NodeCableClient.check_installed!
    room = unique("room")
    script = File.join(IntegrationSupport::NodeCableClient::CLIENT_DIR, "presence_check.mjs")
    out, err, status = Open3.capture3("timeout", "60", "node", script, JSON.generate(puma: @puma.http_origin, room: room),
                                      chdir: IntegrationSupport::NodeCableClient::CLIENT_DIR)
    raise "presence_check.mjs failed (#{status}):\n#{err}\n#{@puma.log}" unless status.success?

    seen = JSON.parse(out.lines.last)
    expect(seen.dig("pubsub", "info")).to eq("a" => { "name" => "Alice" }, "b" => { "name" => "Bob" })
    expect(seen.dig("pubsub", "events")).to include({ "type" => "join", "id" => "b", "info" => { "name" => "Bob" } },
                                                    { "type" => "leave", "id" => "b" })
    expect(seen.dig("pubsub", "after_leave")).to eq("a" => { "name" => "Alice" })
    expect(seen.dig("channel", "info")).to eq("alice-#{room}" => { "name" => "Alice-#{room}" },
                                              "bob-#{room}" => { "name" => "Bob-#{room}" })
  end

  it "refuses presence on a subscription without a presence stream" do
    echo = client_of(@puma, unique("carol"))
    echo.subscribe!("echo", { channel: "EchoChannel" })
    expect(who_is_there(echo, "echo")).to eq("type" => "error")
  end
end

RSpec.describe "Presence and whispers across processes (broker: redis)", :anycable_rs_only, in_process_rpc: true,
                                                                                            integration: true do
  include PresenceHelpers

  before(:all) do
    @redis = SpecSupport::RedisServer.new.start
    env = { "CABLE_SERVER" => "anycable_rs", "ANYCABLE_BROADCAST_ADAPTER" => "redis", "ANYCABLE_BROKER" => "redis",
            "ANYCABLE_REDIS_URL" => @redis.url, "ANYCABLE_PRESENCE_TTL" => "1" }
    @pumas = Array.new(2) { IntegrationSupport::PumaServer.new(env: env, remote_rpc: false).start }
  end

  after(:all) do
    @pumas&.each(&:stop)
    @redis&.destroy
  end

  # A node starts its Redis subscriber with its first client.
  def connected_to_redis(puma, client)
    client.connect
    client.wait_for("frame") { |e| e["data"]&.fetch("type", nil) == "welcome" }
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    until stats(puma)["redis"] == true
      raise "no Redis subscriber:\n#{puma.log}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
    client
  end

  it "shares one presence set between clients of two processes" do
    room = unique("room")
    alice_name = unique("alice")
    bob_name = unique("bob")
    alice = connected_to_redis(@pumas[0], client_of(@pumas[0], alice_name))
    bob = connected_to_redis(@pumas[1], client_of(@pumas[1], bob_name))
    alice.subscribe!("room", room_of(room))
    alice.wait_for_received("room") { |data| data == joined(alice_name) }
    bob.subscribe!("room", room_of(room))
    expect(alice.wait_for_received("room") { |data| data == joined(bob_name) }).to be_truthy
    expect(who_is_there(bob, "room")["total"]).to eq(2)

    bob.close
    expect(alice.wait_for_received("room", timeout: 8) { |data| data == left(bob_name) }).to be_truthy
    expect(who_is_there(alice, "room")["total"]).to eq(1)
  end

  it "whispers to the subscribers on the other process, never to the sender" do
    room = unique("room")
    alice = connected_to_redis(@pumas[0], client_of(@pumas[0], unique("alice")))
    bob = connected_to_redis(@pumas[1], client_of(@pumas[1], unique("bob")))
    [alice, bob].each { |client| client.subscribe!("room", { channel: "WhisperChannel", room: room }) }

    alice.whisper("room", { "typing" => "alice" })
    expect(bob.wait_for_received("room")).to eq("typing" => "alice")
    bob.whisper("room", { "typing" => "bob" })
    expect(alice.wait_for_received("room")).to eq("typing" => "bob")
    expect(alice.received("room")).to eq([{ "typing" => "bob" }])
  end
end
