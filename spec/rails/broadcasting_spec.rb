# frozen_string_literal: true

require_relative "support/app"
require_relative "support/rpc_helpers"
require "action_cable/subscription_adapter/anycable_rs"

# The Rails side of broadcasting: `adapter: anycable_rs`, remote disconnects by identifiers, and
# the session id a client needs to be excluded from a broadcast.
RSpec.describe "Broadcasting from a Rails app" do
  include RPCHelpers

  let(:handler) { AnyCable::RS::Rails::RPCHandler.new }
  let(:alice) { RPCHandlerSpec::User.create(1, "alice") }

  # An Action Cable server of the spec app with the given cable.yml settings.
  def cable_server(cable)
    config = ActionCable::Server::Configuration.new
    config.cable = cable
    config.connection_class = -> { RPCHandlerSpec::Connection }
    config.logger = Logger.new(nil)
    ActionCable::Server::Base.new(config: config)
  end

  describe "the welcome message" do
    it "carries the session id the server gave the connection" do
      response = handler.connect("sid" => "n1-42", "env" => request_env)
      expect(response["transmissions"]).to eq(['{"type":"welcome","sid":"n1-42"}'])
      expect(handler.connect("env" => request_env)["transmissions"]).to eq(['{"type":"welcome"}'])
    end
  end

  describe "adapter: anycable_rs" do
    let(:server) { cable_server("adapter" => "anycable_rs") }

    before { allow(AnyCable::RS).to receive(:disconnect_remote) }

    it "hands broadcasts to AnyCable::RS.broadcast, excluding the socket given to with_socket_id" do
      allow(AnyCable::RS.broadcaster).to receive(:broadcast)
      server.broadcast("chat", { text: "hi" })
      AnyCable::RS.with_socket_id("sid-7") { server.broadcast("chat", { text: "again" }) }

      expect(AnyCable::RS.broadcaster).to have_received(:broadcast).with("chat", '{"text":"hi"}', exclude_socket: nil)
      expect(AnyCable::RS.broadcaster).to have_received(:broadcast)
        .with("chat", '{"text":"again"}', exclude_socket: "sid-7")
    end

    it "turns remote_connections.where(...).disconnect into a disconnect by the identifiers recorded at connect" do
      connected = handler.connect("env" => request_env(url: "ws://example.com/cable?token=t1",
                                                       headers: { "cookie" => encrypted_cookie(alice.id) }))
      expect(connected["identifiers"]).to eq(%({"current_user":"#{alice.to_gid_param}","token":"t1"}))

      # Keys in any order, records as records: the JSON follows identified_by, as at connect.
      server.remote_connections.where(token: "t1", current_user: alice).disconnect
      expect(AnyCable::RS).to have_received(:disconnect_remote).with(connected["identifiers"], reconnect: true)
    end

    it "passes reconnect: false on (Rails 7.1+)", if: ActionCable::VERSION::STRING >= "7.1" do
      server.remote_connections.where(token: "t9", current_user: nil).disconnect(reconnect: false)
      expect(AnyCable::RS).to have_received(:disconnect_remote).with('{"token":"t9"}', reconnect: false)
    end

    it "refuses identifiers the connection class does not have, as Action Cable does" do
      expect { server.remote_connections.where(token: "t1").disconnect }
        .to raise_error(ActionCable::RemoteConnections::RemoteConnection::InvalidIdentifiersError)
    end
  end

  describe "cable.yml adapter: redis (stock Action Cable publishers)" do
    let(:config) { AnyCable::RS::Config.new }
    let(:log) { StringIO.new }

    def apply(cable)
      AnyCable::RS::Rails::ActionCableRedis.apply(cable, config: config, logger: Logger.new(log))
    end

    before { require "anycable/rs/rails/action_cable_redis" }

    it "points the engine at cable.yml's Redis, with Action Cable's channel names, and broadcasts there too" do
      expect(apply(adapter: "redis", url: "redis://cable:6379/1", channel_prefix: "app_production")).to be(true)
      expect(config.to_h).to include("action_cable_redis" => true, "redis_url" => "redis://cable:6379/1",
                                     "channel_prefix" => "app_production", "broadcast_adapter" => "redis")
      expect(log.string).to include("cable.yml uses Action Cable's redis adapter")
    end

    it "falls back to redis_url (REDIS_URL) and then redis-rb's default, and maps ssl_params" do
      config.redis_url = "rediss://env:6380"
      apply("adapter" => "redis", "ssl_params" => { "verify_mode" => OpenSSL::SSL::VERIFY_PEER, "ca_file" => __FILE__ })
      expect(config.to_h).to include("redis_url" => "rediss://env:6380", "channel_prefix" => "",
                                     "redis_tls_verify" => true, "redis_tls_ca_cert_path" => __FILE__)
      other = AnyCable::RS::Config.new
      AnyCable::RS::Rails::ActionCableRedis.apply({ adapter: "redis" }, config: other, logger: Logger.new(nil))
      expect(other.redis_url).to eq("redis://localhost:6379")
    end

    it "leaves explicit settings and other adapters alone" do
      config.update(broadcast_adapter: "local", channel_prefix: "mine")
      apply(adapter: "redis", url: "redis://cable:6379", channel_prefix: "theirs")
      expect(config.to_h).to include("broadcast_adapter" => "local", "channel_prefix" => "mine", "action_cable_redis" => true)

      untouched = AnyCable::RS::Config.new
      expect(AnyCable::RS::Rails::ActionCableRedis.apply({ adapter: "anycable_rs" }, config: untouched, logger: nil)).to be(false)
      expect(untouched.to_h).to eq(AnyCable::RS::Config.new.to_h)
      opted_out = AnyCable::RS::Config.new(action_cable_redis: false)
      expect(AnyCable::RS::Rails::ActionCableRedis.apply({ adapter: "redis" }, config: opted_out, logger: nil)).to be(false)
    end
  end

  describe "other adapters" do
    it "keep Action Cable's own remote disconnect (a message on the connection's internal channel)" do
      server = cable_server("adapter" => "async")
      allow(server).to receive(:broadcast)
      expect(AnyCable::RS).not_to receive(:disconnect_remote)
      server.remote_connections.where(token: "t1", current_user: alice).disconnect

      expect(server).to have_received(:broadcast)
        .with("action_cable/#{alice.to_gid_param}:t1", hash_including(type: "disconnect"))
    end
  end
end
