# frozen_string_literal: true

require_relative "support/integration_helper"

# Whispers (docs/hotwire.md): a channel that streams with `whisper: true` lets its clients'
# `whisper` commands reach the other subscribers of that stream, without a call to the app and
# never echoed to the sender; a subscription without a whisper stream cannot whisper.
RSpec.describe "Whispers", :anycable_rs_only, integration: true do
  it "reaches the other subscribers of the stream, not the sender, with no RPC call" do
    room = unique("room")
    alice = node_client(name: "alice")
    bob = node_client(name: "bob")
    [alice, bob].each { |client| client.subscribe!("room", { channel: "WhisperChannel", room: room }) }
    calls = JSON.parse(Net::HTTP.get(URI("#{server.http_origin}/stats")))["rpc_call_total"]

    alice.whisper("room", { "typing" => "alice" })
    expect(bob.wait_for_received("room")).to eq("typing" => "alice")
    server.broadcast("whisper:#{room}", { "after" => "whisper" })
    expect(alice.wait_for_received("room")).to eq("after" => "whisper")
    expect(alice.received("room")).to eq([{ "after" => "whisper" }])
    expect(JSON.parse(Net::HTTP.get(URI("#{server.http_origin}/stats")))["rpc_call_total"]).to eq(calls)
  end

  it "is refused on a subscription without a whisper stream" do
    room = unique("room")
    alice = node_client(name: "alice")
    bob = node_client(name: "bob")
    [alice, bob].each { |client| client.subscribe!("room", { channel: "RoomChannel", room: room }) }

    alice.whisper("room", { "typing" => "alice" })
    server.broadcast("room:#{room}", { "after" => "whisper" })
    expect(bob.wait_for_received("room")).to eq("after" => "whisper")
    expect(bob.received("room")).to eq([{ "after" => "whisper" }])
  end
end
