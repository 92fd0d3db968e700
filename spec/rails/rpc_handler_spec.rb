# frozen_string_literal: true

require_relative "support/app"
require_relative "support/rpc_helpers"
require "action_cable/channel/test_case"

RSpec.describe AnyCable::RS::Rails::RPCHandler do
  include RPCHelpers

  subject(:handler) { described_class.new }

  let(:alice) { RPCHandlerSpec::User.create(1, "alice") }
  let(:bob) { RPCHandlerSpec::User.create(2, "bob") }
  let(:lobby) { identifier_for(room: "lobby") }
  let(:identifiers) { JSON.generate({ current_user: alice.to_gid_param, token: "t1" }) }

  before do
    RPCHandlerSpec::EVENTS.clear
    RPCHandlerSpec::LOG.truncate(0)
    RPCHandlerSpec::LOG.rewind
  end

  describe "#connect" do
    it "runs the app's connect with cookies, params, headers and url, and welcomes the client" do
      env = request_env(url: "wss://example.com/cable?token=t1",
                        headers: { "cookie" => "#{encrypted_cookie(alice.id)}; plain=yes", "x-api-key" => "k1" })
      response = handler.connect("env" => env)

      expect(response).to include("status" => 1, "transmissions" => ['{"type":"welcome"}'], "error_msg" => "")
      expect(JSON.parse(response["identifiers"])).to eq("current_user" => alice.to_gid_param, "token" => "t1")
      expect(response["env"]["istate"]).to eq({})
      expect(JSON.parse(response["env"]["cstate"]["seen"])).to eq(
        "url" => "https://example.com/cable?token=t1", "api_key" => "k1", "ip" => "1.2.3.4", "ssl" => true,
        "plain_cookie" => "yes"
      )
    end

    it "leaves out identifiers the app did not set" do
      response = handler.connect("env" => request_env(url: "ws://example.com:8080/cable?token=t2"))

      expect(response["status"]).to eq(1)
      expect(response["identifiers"]).to eq('{"token":"t2"}')
      expect(JSON.parse(response["env"]["cstate"]["seen"])["url"]).to eq("http://example.com:8080/cable?token=t2")
    end

    it "answers FAILURE with Action Cable's unauthorized disconnect when the app rejects" do
      response = handler.connect("env" => request_env(url: "ws://example.com/cable?token=reject"))

      expect(response).to include(
        "status" => 2, "identifiers" => "", "error_msg" => "",
        "transmissions" => ['{"type":"disconnect","reason":"unauthorized","reconnect":false}']
      )
    end

    it "answers FAILURE when the app closes the connection in connect" do
      response = handler.connect("env" => request_env(url: "ws://example.com/cable?token=close"))

      expect(response).to include("status" => 2, "transmissions" => ['{"type":"disconnect","reason":"custom","reconnect":true}'])
    end

    it "answers ERROR with the exception and logs its backtrace when connect raises" do
      response = handler.connect("env" => request_env(url: "ws://example.com/cable?explode=1"))

      expect(response).to include("status" => 0, "error_msg" => "ArgumentError: connect exploded", "transmissions" => [],
                                  "identifiers" => "")
      expect(log).to include("ArgumentError: connect exploded", "support/cable.rb")
    end

    it "answers ERROR for a request without a usable url" do
      response = handler.connect("env" => request_env(url: "/cable"))

      expect(response["status"]).to eq(0)
      expect(response["error_msg"]).to start_with("ArgumentError: env.url must be an absolute")
    end
  end

  describe "#command subscribe" do
    it "transmits what subscribed transmits before the confirmation and returns streams and state" do
      response = run_command("subscribe", lobby, identifiers: identifiers)

      expect(response).to include(
        "status" => 1, "disconnect" => false, "stop_streams" => false, "error_msg" => "",
        "streams" => ["chat:lobby"], "stopped_streams" => [],
        "transmissions" => [transmission(lobby, { hello: "lobby" }), confirmation(lobby)]
      )
      expect(response["env"]).to eq(
        "cstate" => {}, "istate" => { "room" => '"lobby"', "joined_by" => alice.to_gid_param, "count" => "0" }
      )
    end

    it "keeps the identifier byte for byte" do
      odd = '{ "room" : "lobby",  "channel":"RPCHandlerSpec::ChatChannel"}'
      response = run_command("subscribe", odd, identifiers: identifiers)

      expect(response["transmissions"].last).to eq(confirmation(odd))
    end

    it "answers FAILURE with reject_subscription when the channel rejects" do
      secret = identifier_for(room: "secret")
      response = run_command("subscribe", secret, identifiers: identifiers)

      expect(response).to include("status" => 2, "streams" => [], "stop_streams" => true, "error_msg" => "")
      expect(response["transmissions"].last).to eq(JSON.generate({ identifier: secret, type: "reject_subscription" }))
      expect(response["transmissions"]).not_to include(confirmation(secret))
    end

    it "answers FAILURE without raising for an unknown channel or a class that is no channel" do
      %w[NopeChannel RPCHandlerSpec::User].each do |name|
        response = run_command("subscribe", identifier_for(name), identifiers: identifiers)

        expect(response).to include("status" => 2, "error_msg" => "Channel not found: #{name}", "transmissions" => [])
      end
      expect(log).to include('Subscription class not found: "NopeChannel"')
    end

    it "relays streams that have a callback, warning once per channel class, and runs no timers or threads" do
      ticker = identifier_for("RPCHandlerSpec::TickerChannel")
      threads = Thread.list
      responses = Array.new(2) { run_command("subscribe", ticker, identifiers: identifiers) }

      expect(responses.map { |r| r["streams"] }).to all(eq(["ticker"]))
      expect(responses.map { |r| r["transmissions"] }).to all(eq([confirmation(ticker)]))
      expect(log.scan("stream_from callbacks and coders are not supported").size).to eq(1)
      expect(log.scan("`periodically` timers are not run").size).to eq(1)
      expect(Thread.list - threads).to be_empty
    end
  end

  describe "#command message" do
    let(:istate) { { "room" => '"lobby"', "joined_by" => alice.to_gid_param, "count" => "0" } }

    it "performs an action with data and returns the state it changed" do
      response = run_command("message", lobby, identifiers: identifiers, istate: istate,
                                               data: JSON.generate({ action: "speak", body: "hi" }))

      expect(response).to include("status" => 1, "streams" => [], "stop_streams" => false)
      expect(response["transmissions"]).to eq(
        [transmission(lobby, { said: "hi", by: "alice", room: "lobby", count: 1 })]
      )
      expect(response["env"]).to eq("cstate" => {}, "istate" => { "count" => "1" })
    end

    it "performs an action without a data argument, with connection identifiers and cstate restored" do
      seen = JSON.generate({ url: "http://example.com/cable?token=t1" })
      response = run_command("message", lobby, identifiers: identifiers, cstate: { "seen" => seen },
                                               data: JSON.generate({ action: "ping" }))

      expect(response["transmissions"]).to eq(
        [transmission(lobby, { pong: true, token: "t1", seen: { url: "http://example.com/cable?token=t1" } })]
      )
    end

    it "locates a GlobalID identifier only when the app reads it" do
      allow(RPCHandlerSpec::User).to receive(:find).and_call_original

      message(lobby, "ping", identifiers: identifiers)
      expect(RPCHandlerSpec::User).not_to have_received(:find)

      spoken = run_command("message", lobby, identifiers: identifiers, istate: istate, data: '{"action":"speak"}')
      expect(spoken["transmissions"].first).to include('"by":"alice"')
      expect(RPCHandlerSpec::User).to have_received(:find).with("1").once
    end

    it "also restores an identifier given as a plain gid:// URI" do
      plain = JSON.generate({ current_user: alice.to_global_id.to_s, token: "t1" })
      response = run_command("message", lobby, identifiers: plain, istate: istate, data: '{"action":"speak"}')

      expect(response["transmissions"]).to eq([transmission(lobby, { said: nil, by: "alice", room: "lobby", count: 1 })])
    end

    it "does nothing for an unknown action, as Action Cable" do
      response = message(lobby, "nope", identifiers: identifiers)

      expect(response).to include("status" => 1, "transmissions" => [], "error_msg" => "")
      expect(log).to include("Unable to process RPCHandlerSpec::ChatChannel#nope")
    end

    it "does not let a client call state accessors as actions" do
      response = message(lobby, "count=", identifiers: identifiers, body: "x")

      expect(response).to include("status" => 1, "env" => { "cstate" => {}, "istate" => {} })
      expect(RPCHandlerSpec::ChatChannel.action_methods).to include("speak")
      expect(RPCHandlerSpec::ChatChannel.action_methods).not_to include("count", "count=", "room")
    end

    it "returns stream_for, stop_stream_for, stop_stream_from and stop_all_streams" do
      follow = message(lobby, "follow", identifiers: identifiers, user_id: bob.id)
      unfollow = message(lobby, "unfollow", identifiers: identifiers, user_id: bob.id)
      leave = run_command("message", lobby, identifiers: identifiers, istate: istate, data: '{"action":"leave"}')
      quit = message(lobby, "quit", identifiers: identifiers)

      expect(follow["streams"]).to eq(["rpc_handler_spec:chat:#{bob.to_gid_param}"])
      expect(unfollow).to include("streams" => [], "stopped_streams" => ["rpc_handler_spec:chat:#{bob.to_gid_param}"])
      expect(leave).to include("stopped_streams" => ["chat:lobby"], "stop_streams" => false)
      expect(quit).to include("stop_streams" => true, "streams" => [], "stopped_streams" => [])
    end

    it "answers ERROR with the exception when an action raises, and logs it" do
      response = message(lobby, "explode", identifiers: identifiers)

      expect(response).to include("status" => 0, "error_msg" => "ArgumentError: speak failed", "transmissions" => [])
      expect(log).to include("anycable-rs command failed: ArgumentError: speak failed", "support/cable.rb")
    end

    it "reports a close by the channel as disconnect" do
      response = message(lobby, "kick", identifiers: identifiers)

      expect(response).to include("status" => 1, "disconnect" => true,
                                  "transmissions" => ['{"type":"disconnect","reason":"kicked","reconnect":false}'])
    end

    it "runs inside the app's executor" do
      response = message(lobby, "in_executor", identifiers: identifiers)

      expect(response["transmissions"]).to eq([transmission(lobby, { executor: true })])
    end

    it "runs the connection's command callbacks, and nothing when they halt" do
      halted = run_command("message", lobby, identifiers: '{"token":"halt"}', data: '{"action":"ping"}')

      expect(halted).to include("status" => 2, "transmissions" => [], "error_msg" => "Command halted by a command callback")
      expect(RPCHandlerSpec::EVENTS).to eq([[:before_command, "halt"]])
    end

    it "answers join_presence and leave_presence with the presence change and the presence stream" do
      istate = { "room" => '"lobby"' }
      joined = run_command("message", lobby, identifiers: identifiers, istate: istate, data: '{"action":"arrive","as":"Al"}')
      left = run_command("message", lobby, identifiers: identifiers, istate: istate, data: '{"action":"depart"}')

      expect(joined).to include("status" => 1, "streams" => ["chat:lobby"],
                                "presence" => { "type" => "join", "id" => "alice", "info" => '{"name":"Al"}' })
      expect(joined["env"]["istate"]).to include("$p" => "chat:lobby")
      expect(left).to include("status" => 1, "presence" => { "type" => "leave", "id" => "alice", "info" => "" })
      expect(run_command("message", lobby, identifiers: identifiers, istate: istate,
                                           data: '{"action":"speak"}')).not_to have_key("presence")
    end

    it "answers ERROR for an unknown command" do
      response = run_command("whisper", lobby, identifiers: identifiers)

      expect(response).to include("status" => 0, "error_msg" => 'ArgumentError: Unknown command: "whisper"')
    end
  end

  describe "#command unsubscribe" do
    it "runs unsubscribed with the subscription's state and stops its streams" do
      istate = { "room" => '"lobby"', "joined_by" => alice.to_gid_param, "count" => "3" }
      response = run_command("unsubscribe", lobby, identifiers: identifiers, istate: istate)

      expect(response).to include("status" => 1, "stop_streams" => true, "streams" => [], "transmissions" => [])
      expect(RPCHandlerSpec::EVENTS.last).to eq([:unsubscribed, "lobby", "alice", 3, "t1"])
    end
  end

  describe "#disconnect" do
    it "unsubscribes every subscription with its state, then calls the connection's disconnect" do
      kitchen = identifier_for(room: "kitchen")
      istate = {
        lobby => JSON.generate({ room: '"lobby"', joined_by: alice.to_gid_param, count: "2" }),
        kitchen => JSON.generate({ room: '"kitchen"', joined_by: bob.to_gid_param, count: "5" })
      }
      response = handler.disconnect("identifiers" => identifiers, "subscriptions" => [lobby, kitchen],
                                    "env" => request_env(istate: istate))

      expect(response).to eq("status" => 1, "error_msg" => "")
      expect(RPCHandlerSpec::EVENTS).to eq(
        [[:unsubscribed, "lobby", "alice", 2, "t1"], [:unsubscribed, "kitchen", "bob", 5, "t1"], [:disconnect, "t1", "alice"]]
      )
    end

    it "keeps going after a failing subscription and answers ERROR" do
      broken = identifier_for("RPCHandlerSpec::BrokenChannel")
      response = handler.disconnect("identifiers" => '{"token":"explode-on-disconnect"}', "subscriptions" => [broken, lobby],
                                    "env" => request_env(istate: { lobby => '{"room":"\"lobby\""}' }))

      expect(response).to eq("status" => 0,
                             "error_msg" => "RuntimeError: unsubscribed exploded; RuntimeError: disconnect exploded")
      expect(RPCHandlerSpec::EVENTS).to eq(
        [[:unsubscribed, "lobby", nil, nil, "explode-on-disconnect"], [:disconnect, "explode-on-disconnect", nil]]
      )
    end
  end

  it "carries channel state across subscribe, messages, unsubscribe and disconnect" do
    istate = {}
    apply = ->(response) { istate.merge!(response.fetch("env").fetch("istate")) }

    apply.call(run_command("subscribe", lobby, identifiers: identifiers))
    2.times { apply.call(run_command("message", lobby, identifiers: identifiers, istate: istate, data: '{"action":"speak"}')) }
    run_command("unsubscribe", lobby, identifiers: identifiers, istate: istate)
    handler.disconnect("identifiers" => identifiers, "subscriptions" => [lobby],
                       "env" => request_env(istate: { lobby => JSON.generate(istate) }))

    expect(istate).to eq("room" => '"lobby"', "joined_by" => alice.to_gid_param, "count" => "2")
    expect(RPCHandlerSpec::EVENTS.grep(Array).select { |e| e.first == :unsubscribed }).to eq(
      [[:unsubscribed, "lobby", "alice", 2, "t1"]] * 2
    )
  end

  it "gives independent results to concurrent calls from 8 threads" do
    users = Array.new(8) { |i| RPCHandlerSpec::User.create(100 + i, "user#{i}") }
    results = users.each_with_index.map do |user, i|
      Thread.new do
        Array.new(10) do
          token = "t#{i}"
          connected = handler.connect("env" => request_env(url: "ws://example.com/cable?token=#{token}",
                                                           headers: { "cookie" => encrypted_cookie(user.id) }))
          room = identifier_for(room: "room#{i}")
          subscribed = run_command("subscribe", room, identifiers: connected["identifiers"])
          spoken = run_command("message", room, identifiers: connected["identifiers"], istate: subscribed["env"]["istate"],
                                                data: JSON.generate({ action: "speak", body: "from #{i}" }))
          [connected["identifiers"], subscribed["streams"], spoken["transmissions"]]
        end
      end
    end.map(&:value)

    users.each_with_index do |user, i|
      room = identifier_for(room: "room#{i}")
      expected = [
        JSON.generate({ current_user: user.to_gid_param, token: "t#{i}" }),
        ["chat:room#{i}"],
        [transmission(room, { said: "from #{i}", by: user.name, room: "room#{i}", count: 1 })]
      ]
      expect(results[i]).to all(eq(expected))
    end
  end

  describe "next to a stock Action Cable server" do
    it "leaves connections without a handler Socket on Action Cable's own code paths" do
      connection = RPCHandlerSpec::Connection.new(ActionCable.server, AnyCable::RS::Rails::RequestEnv.build(request_env))
      websocket = connection.send(:websocket)
      allow(websocket).to receive(:transmit)

      connection.transmit(type: "ping")

      expect(connection.anycable_rs?).to be(false)
      expect(websocket).to have_received(:transmit).with('{"type":"ping"}')
    end

    it "keeps Rails' channel test stubs working, with state_attr_accessor as plain accessors" do
      stub = ActionCable::Channel::ConnectionStub.new(current_user: alice, token: "t1")
      channel = RPCHandlerSpec::ChatChannel.new(stub, lobby, { room: "lobby" }.with_indifferent_access)
      channel.extend(ActionCable::Channel::ChannelStub)

      channel.subscribe_to_channel
      channel.perform_action("action" => "speak", "body" => "hi")

      expect(channel.anycable_rs?).to be(false)
      expect(channel.streams).to eq(["chat:lobby"])
      expect([channel.room, channel.joined_by, channel.count]).to eq(["lobby", alice, 1])
      expect(stub.transmissions.map { |t| t["type"] || t["message"] }).to eq(
        [{ "hello" => "lobby" }, "confirm_subscription", { "said" => "hi", "by" => "alice", "room" => "lobby", "count" => 1 }]
      )
    end
  end
end
