# frozen_string_literal: true

require_relative "support/integration_helper"

# config/cable.yml left at Rails' development default (`adapter: async`) or at `test` while
# anycable-rs serves /cable: broadcasts made in the process reach its clients, as Action Cable's
# own would. An adapter whose broadcasts could never arrive stops the boot, naming the fix.
RSpec.describe "cable.yml adapters under anycable-rs", integration: true, anycable_rs_only: true do
  %w[async test].each do |adapter|
    context "with adapter: #{adapter}" do
      before(:context) do
        @puma = IntegrationSupport::PumaServer.new(env: { "CABLE_SERVER" => "anycable_rs", "CABLE_ADAPTER" => adapter })
                                              .start
      end

      after(:context) { @puma&.stop }

      def server
        @puma
      end

      it "delivers ActionCable.server.broadcast of this process to anycable-rs clients, and says so at boot" do
        client = node_client
        room = unique("room")
        client.subscribe!("room", { channel: "RoomChannel", room: room })
        server.broadcast("room:#{room}", { "text" => "via #{adapter}" })

        expect(client.wait_for_received("room") { |data| data.key?("text") }).to eq("text" => "via #{adapter}")
        expect(server.log).to include("cable.yml's `#{adapter}` adapter: broadcasts made in this process reach its " \
                                      "anycable-rs clients")
      end
    end
  end

  it "refuses to boot with an adapter whose broadcasts never reach anycable-rs clients" do
    puma = IntegrationSupport::PumaServer.new(env: { "CABLE_SERVER" => "anycable_rs", "CABLE_ADAPTER" => "postgresql" })
    expect { puma.start }.to raise_error(RuntimeError, /exited during boot/) do |error|
      expect(error.message).to include("config/cable.yml names the `postgresql` adapter for test: its broadcasts do " \
                                       "not reach anycable-rs clients; use `adapter: anycable_rs`")
    end
  end
end
