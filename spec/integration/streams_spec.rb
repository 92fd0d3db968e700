# frozen_string_literal: true

require_relative "support/integration_helper"

RSpec.describe "Streams and broadcasts (stock @rails/actioncable client)", integration: true do
  let(:client) { node_client }
  let(:feed) { unique("feed") }

  # Broadcast delivery is asynchronous and unordered across streams: after a later broadcast
  # to a live stream has arrived, wait this long more before concluding that one never will.
  let(:grace) { 0.3 }

  def frames_for(client, identifier)
    client.frames.select { |f| f["identifier"] == identifier && f.key?("message") }.map { |f| f["message"] }
  end

  it "delivers broadcasts to a stream_from stream, from outside and inside a connection" do
    client.subscribe!("feed", { channel: "StreamsChannel", feeds: [feed] })

    server.broadcast("feed:#{feed}", { "from" => "http" })
    expect(client.wait_for_received("feed")).to eq("from" => "http")
    client.perform("feed", "broadcast", { feed: feed, message: { "from" => "channel" } })
    expect(client.wait_for_received("feed") { |data| data == { "from" => "channel" } }).to eq("from" => "channel")
  end

  it "delivers broadcast_to a model to its stream_for subscribers" do
    topic = unique("topic")
    client.subscribe!("topic", { channel: "StreamsChannel", topic: topic })

    client.perform("topic", "broadcast", { topic: topic, message: { "about" => topic } })
    expect(client.wait_for_received("topic")).to eq("about" => topic)
    server.broadcast("streams:topic-#{topic}", "named after to_gid_param")
    expect(client.wait_for_received("topic") { |data| data.is_a?(String) }).to eq("named after to_gid_param")
  end

  it "broadcasts a Hash as an object, and HTML and JSON text as strings" do
    client.subscribe!("feed", { channel: "StreamsChannel", feeds: [feed] })

    %w[hash html json_string].each { |kind| client.perform("feed", "broadcast", { feed: feed, kind: kind }) }
    client.wait_for_count(3, "received", sub: "feed")

    expect(client.received("feed")).to contain_exactly(
      { "text" => "hello", "n" => 1, "nested" => { "list" => [1, "two", nil] } },
      '<p class="msg">Hello &amp; welcome</p>',
      '{"a":1}'
    )
    # On the wire the JSON text stays a JSON string (double encoded), not an object.
    raw = client.select("frame") { |e| e.dig("data", "message") == '{"a":1}' }.first
    expect(raw["raw"]).to include('"message":"{\"a\":1}"')
  end

  it "stop_stream_from stops only that stream" do
    other = unique("feed")
    client.subscribe!("feed", { channel: "StreamsChannel", feeds: [feed, other] })

    client.perform("feed", "stop", { feed: feed })
    client.wait_for_received("feed") { |data| data == { "stopped" => feed } }
    server.broadcast("feed:#{feed}", { "to" => "stopped" })
    server.broadcast("feed:#{other}", { "to" => "other" })

    client.wait_for_received("feed") { |data| data == { "to" => "other" } }
    sleep grace
    expect(client.received("feed")).not_to include({ "to" => "stopped" })
  end

  it "delivers one broadcast to every client on the stream" do
    second = node_client
    [client, second].each { |c| c.subscribe!("feed", { channel: "StreamsChannel", feeds: [feed] }) }

    server.broadcast("feed:#{feed}", { "to" => "all" })
    [client, second].each { |c| expect(c.wait_for_received("feed")).to eq("to" => "all") }
  end

  it "stops delivering to a subscription once unsubscribed, and only to it" do
    listener = log_listener
    user = unique("user")
    leaving = node_client(user: user)
    leaving.subscribe!("feed", { channel: "StreamsChannel", feeds: [feed], tag: "leaving" })
    leaving.subscribe!("actions", { channel: "ActionsChannel" })
    client.subscribe!("feed", { channel: "StreamsChannel", feeds: [feed] })
    identifier = JSON.generate({ channel: "StreamsChannel", feeds: [feed], tag: "leaving" })

    leaving.unsubscribe("feed")
    listener.wait_for_received("log") { |data| data["user"] == user && data["tag"] == "leaving" }
    # A round trip on the same connection: unsubscribe has no confirmation.
    leaving.perform("actions", "ping_me")
    leaving.wait_for_received("actions")
    server.broadcast("feed:#{feed}", { "after" => "unsubscribe" })

    expect(client.wait_for_received("feed")).to eq("after" => "unsubscribe")
    sleep grace
    # The library drops messages for a subscription it removed, so look at the frames.
    expect(frames_for(leaving, identifier)).to be_empty
  end
end
