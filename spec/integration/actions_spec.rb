# frozen_string_literal: true

require_relative "support/integration_helper"

RSpec.describe "Channel actions (stock @rails/actioncable client)", integration: true do
  let(:user) { unique("user") }
  let(:client) { node_client(user: user) }

  before { client.subscribe!("actions", { channel: "ActionsChannel", tag: "t1" }) }

  it "performs an action with data and the channel gets the data with the action name" do
    client.perform("actions", "echo", { text: "hi", n: 2, list: [1, nil] })

    echo = client.wait_for_received("actions") { |data| data.key?("echo") }
    expect(echo).to eq("echo" => { "text" => "hi", "n" => 2, "list" => [1, nil], "action" => "echo" })
  end

  it "performs an action that takes no data" do
    client.perform("actions", "ping_me")

    expect(client.wait_for_received("actions") { |data| data.key?("pong") }).to eq("pong" => user)
  end

  it "keeps channel state between commands and hands it to unsubscribed" do
    listener = log_listener
    %w[a b].each do |note|
      client.perform("actions", "remember", { note: note })
      client.wait_for_received("actions") { |data| data == { "remembered" => note } }
    end
    client.perform("actions", "recall")
    expect(client.wait_for_received("actions") { |data| data.key?("notes") }).to eq("notes" => "a,b")

    client.unsubscribe("actions")

    log = listener.wait_for_received("log") { |data| data["user"] == user }
    expect(log.except("at")).to eq(
      "event" => "unsubscribed", "channel" => "ActionsChannel", "user" => user, "tag" => "t1", "notes" => "a,b"
    )
  end
end
