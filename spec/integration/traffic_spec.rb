# frozen_string_literal: true

require_relative "support/integration_helper"

# Traffic heavier than a chat's: a background job's burst of broadcasts and Turbo-Stream-sized
# payloads, to stock @rails/actioncable clients, with the rest of the app still answering.
RSpec.describe "Bursts and big broadcasts (stock @rails/actioncable client)", integration: true do
  let(:feed) { unique("feed") }
  let(:clients) do
    Array.new(10) do |i|
      node_client(name: "reader#{i}").tap do |c|
        c.subscribe!("feed", { channel: "StreamsChannel", feeds: [feed] })
      end
    end
  end

  def expect_up
    expect(Net::HTTP.get_response(URI("#{server.http_origin}/up")).code).to eq("200")
  end

  it "delivers a batch of 1,000 broadcasts made in one go to every client (in order on anycable-rs), closing nobody" do
    clients
    server.broadcast("feed:#{feed}", { "html" => "<li>#{"x" * 200}</li>" }, count: 1_000)

    clients.each do |client|
      client.wait_for_count(1_000, "received", sub: "feed", timeout: 30)
      numbers = client.received("feed").map { |m| m["n"] }
      # Stock Action Cable's async adapter delivers from a thread pool, not in order.
      expect(stock_action_cable? ? numbers.sort : numbers).to eq((0...1_000).to_a)
      expect(client.select("close")).to be_empty
    end
    expect_up
  end

  it "delivers a 512 KiB broadcast (a big Turbo Stream) whole to every client" do
    clients
    html = "<turbo-stream action=\"replace\"><template>#{"y" * (512 << 10)}</template></turbo-stream>"
    server.broadcast("feed:#{feed}", { "html" => html })

    clients.each { |client| expect(client.wait_for_received("feed", timeout: 15)).to eq("html" => html) }
    expect_up
  end

  it "refuses a broadcast over max_outgoing_size with a warning, and delivers the next one", :anycable_rs_only do
    clients
    server.broadcast("feed:#{feed}", { "html" => "z" * (1 << 20) }) # over the 1 MiB default once framed
    server.broadcast("feed:#{feed}", { "after" => true })

    clients.each { |client| expect(client.wait_for_received("feed")).to eq("after" => true) }
    expect(clients.flat_map { |client| client.received("feed") }).to all(eq("after" => true))
    expect(server.log).to include("broadcast refused: bigger than max_outgoing_size")
  end
end
