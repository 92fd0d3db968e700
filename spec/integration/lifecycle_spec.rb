# frozen_string_literal: true

require_relative "support/integration_helper"

RSpec.describe "Closing a connection (stock @rails/actioncable client)", integration: true do
  it "runs unsubscribed for every subscription, with its state, then the connection's disconnect" do
    listener = log_listener
    user = unique("user")
    client = node_client(user: user)
    client.subscribe!("actions", { channel: "ActionsChannel", tag: "one" })
    client.subscribe!("feed", { channel: "StreamsChannel", feeds: [unique("feed")], tag: "two" })
    client.perform("actions", "remember", { note: "kept" })
    client.wait_for_received("actions") { |data| data == { "remembered" => "kept" } }

    client.close
    client.wait_for("close")

    reports = listener.wait_for_count(3, "received", sub: "log") { |e| e.dig("data", "user") == user }
    logs = reports.map { |e| e["data"] }
    expect(logs.map { |data| data.except("at") }).to contain_exactly(
      { "event" => "unsubscribed", "channel" => "ActionsChannel", "user" => user, "tag" => "one", "notes" => "kept" },
      { "event" => "unsubscribed", "channel" => "StreamsChannel", "user" => user, "tag" => "two" },
      { "event" => "disconnect", "user" => user }
    )
    # They ran in this order (delivery of the reports may not be): every unsubscribed, then
    # disconnect.
    expect(logs.max_by { |data| data["at"] }["event"]).to eq("disconnect")
  end
end
