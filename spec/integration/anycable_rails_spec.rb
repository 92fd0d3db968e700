# frozen_string_literal: true

require "net/http"
require_relative "support/integration_helper"

# Apps moving from anycable-go keep AnyCable's Rails gem (anycable-rails) in their bundle for
# its helpers. With both gems loaded, in either order, anycable-rs owns the channel API of the
# connections it serves (docs/from-anycable.md): state survives between commands and reaches
# `unsubscribed`, identifiers too; AnyCable::Rails.enabled? is true, since AnyCable's protocol
# serves the app; and nothing of anycable-rails' own RPC server starts.
RSpec.describe "anycable-rs with anycable-rails in the same app",
               integration: true, anycable_rs_only: true, own_rpc_servers: true do
  %w[before after].each do |order|
    context "when anycable-rails is required #{order} anycable-rs" do
      before(:context) do
        env = { "CABLE_SERVER" => "anycable_rs", "CABLE_WITH_ANYCABLE_RAILS" => order, "ANYCABLE_EMBEDDED" => "true",
                "CABLE_EAGER_LOAD" => "1" }
        @puma = IntegrationSupport::PumaServer.new(env: env).start
      end

      after(:context) { @puma&.stop }

      def server
        @puma
      end

      let(:user) { unique("user") }
      let(:client) { node_client(user: user) }

      it "keeps state_attr_accessor values between commands and hands them, with the identifiers, to unsubscribed" do
        listener = log_listener
        client.subscribe!("counter", { channel: "CounterChannel" })
        2.times { |i| client.perform("counter", "bump") && client.wait_for_received("counter") { |d| d["count"] == i + 1 } }
        expect(client.received("counter").last).to eq("count" => 2, "user" => user)

        client.unsubscribe("counter")
        log = listener.wait_for_received("log") { |data| data["user"] == user && data["event"] == "unsubscribed" }
        expect(log.except("at")).to eq("event" => "unsubscribed", "channel" => "CounterChannel", "user" => user,
                                       "current_user" => user, "count" => 2)
      end

      it "streams broadcasts to the channels' subscribers" do
        room = unique("room")
        client.subscribe!("room", { channel: "RoomChannel", room: room })
        server.broadcast("room:#{room}", { "text" => "hello" })
        expect(client.wait_for_received("room") { |data| data["text"] == "hello" }).to eq("text" => "hello")
      end

      it "says AnyCable serves the app and starts no RPC server of anycable-rails" do
        info = JSON.parse(Net::HTTP.get(URI("#{server.http_origin}/anycable_rails")))
        expect(info).to eq("loaded" => true, "enabled" => true, "embedded" => false, "cli_loaded" => false,
                           "grpc_threads" => 0)
        expect(server.log).to include("anycable-rs serves this app's WebSockets: anycable-rails' embedded RPC server " \
                                      "(ANYCABLE_EMBEDDED) stays off")
      end
    end
  end
end
