# frozen_string_literal: true

require "open3"
require_relative "support/integration_helper"

# A network drop with real clients (client/reliable_check.mjs): @anycable/core over AnyCable's
# extended protocol and the stock @rails/actioncable, side by side on one anycable-rs, while the
# links of some of them are cut for 2 s and broadcasts go on. Extended clients resume their
# session (no connect, no subscribed) and fetch what they missed from the memory broker; stock
# clients reconnect from scratch and lose what was sent meanwhile, as on Action Cable.
RSpec.describe "Reliable delivery through a network drop (@anycable/core and @rails/actioncable)", :anycable_rs_only,
               integration: true do
  let(:script) { File.join(IntegrationSupport::NodeCableClient::CLIENT_DIR, "reliable_check.mjs") }
  let(:messages) { 40 }

  def run_drop(**options)
    IntegrationSupport::NodeCableClient.check_installed!
    config = { puma: server.http_origin, messages: messages, interval_ms: 100, cut_at: 10, cut_ms: 2_000, **options }
    out, err, status = Open3.capture3("timeout", "60", "node", script, JSON.generate(config),
                                      chdir: IntegrationSupport::NodeCableClient::CLIENT_DIR)
    raise "reliable_check.mjs failed (#{status}):\n#{err}" unless status.success?

    JSON.parse(out.lines.last)
  end

  it "gives every extended client every message in order once, restoring cut ones without app calls" do
    run = run_drop(extended: 6, cut: 3, stock: 1, stock_cut: 1)
    clients = run.fetch("clients")
    extended = clients.select { |c| c["kind"] == "extended" }
    expect(extended.size).to eq(6)
    extended.each do |client|
      expect(client["received"]).to eq((1..messages).to_a), "#{client["name"]} got #{client["received"]}"
    end
    extended.select { |c| c["cut"] }.each do |client|
      expect(client["connects"]).to include(hash_including("reconnect" => true, "restored" => true))
    end

    stock = clients.select { |c| c["kind"] == "stock" }
    steady, cut = stock.partition { |c| !c["cut"] }
    expect(steady.first["received"]).to eq((1..messages).to_a)
    expect(cut.first["connects"].size).to be >= 2
    expect(cut.first["received"].size).to be < messages # at most once: the gap is lost
    expect(cut.first["received"]).to eq(cut.first["received"].uniq.sort)

    # Connect and subscribe for all 8 clients, a disconnect for each of the 4 cut ones, and a
    # connect and a subscribe again for the stock one only: restores call nothing.
    expect(run.fetch("rpc_calls")).to eq((8 * 2) + 4 + 2)
  end
end
