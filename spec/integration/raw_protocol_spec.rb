# frozen_string_literal: true

require_relative "support/integration_helper"

RSpec.describe "The wire protocol (raw WebSocket client)", integration: true do
  def welcomed(client)
    client.wait_for { |m| m["type"] == "welcome" }
    client
  end

  # Stock Action Cable refuses with 404; docs/architecture.md §6.1: 403 is fine too.
  def refused_status
    stock_action_cable? ? eq(404) : eq(404).or(eq(403))
  end

  describe "handshake" do
    it "echoes the actioncable-v1-json subprotocol and then welcomes" do
      client = raw_client

      expect(client.status).to eq(101)
      expect(client.protocol).to eq("actioncable-v1-json")
      expect(client).to be_accept_valid
      welcomed(client)
    end

    it "refuses a foreign Origin before upgrading" do
      client = raw_client(headers: { "Origin" => "http://evil.example" })

      # Stock Action Cable answers 404 "Page not found". anycable-rs: 404 expected (403 would
      # also honour the contract); never 101.
      expect(client.status).to refused_status
      expect(client.response_body).to eq("Page not found") if stock_action_cable?
      expect(client).not_to be_upgraded
    end

    it "refuses an Origin that only starts like an allowed one" do
      client = raw_client(headers: { "Origin" => "http://localhost.evil.example:#{server.port}" })

      expect(client.status).to refused_status
    end
  end

  # Each hostile input goes over a raw connection while a stock client (the bystander) is
  # subscribed to a feed elsewhere. What must hold under every server:
  #   * the bystander keeps receiving broadcasts;
  #   * the hostile connection either survives (and still serves a later valid command) or is
  #     closed; never does it take the server down or confirm anything it should not.
  # Stock Action Cable is asserted precisely: for every input below it logs an error, replies
  # NOTHING, and the connection survives (commands run in its worker pool, where exceptions
  # are logged and swallowed). What another server (anycable-rs) may do instead is passed to
  # `expect_outcome` and commented in each example.
  describe "hostile input" do
    let(:feed) { unique("feed") }
    let!(:bystander) do
      node_client(name: "bystander").tap { |c| c.subscribe!("feed", { channel: "StreamsChannel", feeds: [feed] }) }
    end
    let(:client) { welcomed(raw_client) }
    let(:actions) { { channel: "ActionsChannel" } }
    let(:echoed) { { "echo" => { "action" => "echo", "n" => 1 } } }

    # may_close: another server may close the hostile connection instead of keeping it.
    # replies: the message types another server may send in reply (stock sends none).
    # identifier: an ActionsChannel subscription the connection already has.
    def expect_outcome(may_close: false, replies: [], identifier: nil)
      if stock_action_cable?
        expect_client_served(identifier)
        expect(replies_to_hostile_input).to eq([])
      else
        closed = may_close && client.wait_closed(timeout: 0.5)
        expect_client_served(identifier) unless closed
        expect(replies_to_hostile_input.map { |m| m["type"] } - replies - ["disconnect"]).to eq([])
      end
      expect_bystander_served
    end

    def expect_bystander_served
      payload = { "check" => SecureRandom.hex(4) }
      server.broadcast("feed:#{feed}", payload)
      expect(bystander.wait_for_received("feed") { |data| data == payload }).to eq(payload)
      expect(bystander.select("close")).to be_empty
    end

    # A valid round trip on the hostile connection: subscribe (unless already) and echo.
    def expect_client_served(identifier = nil)
      identifier ||= raw_subscribe(client, actions)
      client.send_json(command: "message", identifier: identifier, data: JSON.generate(action: "echo", n: 1))
      echo = client.wait_for { |m| m["identifier"] == identifier && m.dig("message", "echo") }
      expect(echo["message"]).to eq(echoed)
      expect(client).not_to be_closed
    end

    # Messages the valid commands of an example are answered with.
    def expected_messages
      @expected_messages ||= [echoed]
    end

    # Everything the server sent on the hostile connection except welcome, pings, and the
    # confirmation and replies of the valid commands.
    def replies_to_hostile_input(identifier = JSON.generate(actions))
      client.drain(0.2)
      client.frames.select { |f| f.type == :text }.map(&:json).reject do |m|
        %w[welcome ping].include?(m["type"]) ||
          (m["identifier"] == identifier &&
            (m["type"] == "confirm_subscription" || expected_messages.include?(m["message"])))
      end
    end

    it "malformed JSON" do
      client.send_text('{"command":"subscribe","identifier":')

      # Stock: JSON::ParserError logged, nothing sent, connection kept.
      # anycable-rs: expected to ignore it too; closing the connection is tolerated.
      expect_outcome(may_close: true)
    end

    it "an unknown command" do
      client.send_json(command: "dance", identifier: JSON.generate(actions))

      # Stock: "Received unrecognized command" logged, nothing sent, connection kept.
      # anycable-rs: ignored without calling the app; closing the connection is tolerated.
      expect_outcome(may_close: true)
    end

    it "a binary frame" do
      client.send_binary("\x00\xFFnot text".b)

      # Stock: "Couldn't handle non-string message: Array" logged, nothing sent, connection kept.
      # anycable-rs: may close with 1003 (unsupported data), as it does today.
      expect_outcome(may_close: true)
    end

    it "a message before subscribing" do
      identifier = JSON.generate(actions)
      client.send_json(command: "message", identifier: identifier, data: JSON.generate(action: "echo", early: true))
      client.drain(0.2) # stock runs commands concurrently: let this one finish before subscribing

      # Stock: "Unable to find subscription" logged, the action does not run, nothing sent.
      # anycable-rs: refused without calling the app (docs/architecture.md §6.2); connection kept.
      expect_outcome
    end

    it "a flood of commands for a 60 KiB identifier it never subscribed to", :anycable_rs_only do
      identifier = JSON.generate(channel: "ActionsChannel", pad: "p" * 60_000)
      # 16: max_invalid_commands' default; one more closes the client (spec/integration/hostile_spec.rb).
      16.times { client.send_json(command: "message", identifier: identifier, data: JSON.generate(action: "echo")) }

      # anycable-rs: each refused without calling the app (over max_identifier_size), one
      # clipped log line each (the identifier's first 128 bytes and its length), not 60 KiB of
      # log per frame.
      expect_outcome
      sid = client.frames.select { |f| f.type == :text }.map(&:json).find { |m| m["type"] == "welcome" }.fetch("sid")
      lines = server.log.lines.grep(/command refused/).grep(/#{Regexp.escape(sid)}/)
      expect(lines).to all(include("max_identifier_size"))
      expect(lines.size).to eq(16)
      expect(lines).to all(include("(60037 bytes)"))
      expect(lines.map(&:bytesize).max).to be < 1024
    end

    it "a subscription to a channel that does not exist" do
      client.send_json(command: "subscribe", identifier: JSON.generate(channel: "NoSuchChannel"))

      # Stock: "Subscription class not found" logged and NO reply at all (not even a reject).
      # anycable-rs: a reject_subscription is acceptable; never a confirmation; connection kept.
      expect_outcome(replies: ["reject_subscription"])
    end

    it "a duplicate subscribe" do
      identifier = raw_subscribe(client, actions)
      client.send_json(command: "message", identifier: identifier, data: JSON.generate(action: "remember", note: "kept"))
      client.wait_for { |m| m["message"] == { "remembered" => "kept" } }
      expected_messages.push({ "remembered" => "kept" }, { "notes" => "kept" })

      client.send_json(command: "subscribe", identifier: identifier)
      client.drain(0.3)

      # Stock: ignored silently: no second confirmation, `subscribed` does not run again, so
      # the state survives. anycable-rs: refused without calling the app (docs/architecture.md
      # section 2), so the state survives too; a reject_subscription reply is acceptable.
      confirmations = client.frames.select { |f| f.type == :text && f.json["type"] == "confirm_subscription" }
      expect(confirmations.size).to eq(1)
      client.send_json(command: "message", identifier: identifier, data: JSON.generate(action: "recall"))
      expect(client.wait_for { |m| m.dig("message", "notes") }["message"]).to eq("notes" => "kept")
      expect_outcome(identifier: identifier, replies: ["reject_subscription"])
    end

    it "an action that raises" do
      identifier = raw_subscribe(client, actions)
      client.send_json(command: "message", identifier: identifier, data: JSON.generate(action: "boom"))
      client.drain(0.2)

      # Stock: the ArgumentError is logged, nothing sent, the connection and the subscription
      # stay. anycable-rs: the command fails (RPC status ERROR), nothing is applied, the
      # connection and the subscription stay.
      expect_outcome(identifier: identifier)
    end
  end
end
