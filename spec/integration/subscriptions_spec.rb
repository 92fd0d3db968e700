# frozen_string_literal: true

require_relative "support/integration_helper"

RSpec.describe "Subscriptions (stock @rails/actioncable client)", integration: true do
  let(:client) { node_client }

  it "confirms with the identifier exactly as the client sent it" do
    client.subscribe("gate", { channel: "GateChannel", room: "r1" })

    confirmed = client.wait_for("connected", sub: "gate")
    expect(confirmed["reconnected"]).to be(false)
    sent = client.select("sent") { |e| e.dig("data", "command") == "subscribe" }.first["data"]
    confirm = client.frames.find { |f| f["type"] == "confirm_subscription" }
    expect(confirm).to eq("identifier" => sent["identifier"], "type" => "confirm_subscription")
    expect(sent["identifier"]).to eq('{"channel":"GateChannel","room":"r1"}')
  end

  it "rejects when the channel calls reject, and the connection stays usable" do
    client.subscribe("gate", { channel: "GateChannel", reject: true })

    client.wait_for("rejected", sub: "gate")
    reject = client.frames.find { |f| f["type"] == "reject_subscription" }
    expect(reject).to eq("identifier" => '{"channel":"GateChannel","reject":true}', "type" => "reject_subscription")
    expect(client.frames.map { |f| f["type"] }).not_to include("confirm_subscription", "disconnect")

    client.subscribe!("other", { channel: "GateChannel" })
  end

  it "delivers what subscribed transmits before the confirmation, with its streams already live" do
    room = unique("room")
    client.subscribe("order", { channel: "OrderChannel", room: room })

    connected = client.wait_for("connected", sub: "order")
    steps = client.select("received", sub: "order")
    expect(steps.map { |e| e["data"] }).to eq([{ "step" => 1 }, { "step" => 2 }])
    expect(steps.map { |e| e["seq"] }).to all(be < connected["seq"])

    server.broadcast("order:#{room}", { "live" => true })
    expect(client.wait_for_received("order") { |data| data == { "live" => true } }).to eq("live" => true)
  end
end
