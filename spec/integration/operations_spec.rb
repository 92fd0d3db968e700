# frozen_string_literal: true

require "net/http"
require "socket"
require_relative "support/integration_helper"

# Operations through a real Puma: the Prometheus endpoint after real traffic (with Basic auth),
# StatsD packets caught on a UDP socket, and the health endpoint, all mounted by the Railtie
# from settings.
RSpec.describe "metrics and health", integration: true, anycable_rs_only: true do
  let(:statsd) { UDPSocket.new.tap { |socket| socket.bind("127.0.0.1", 0) } }
  let(:server) do
    IntegrationSupport::PumaServer.new(env: {
                                         "CABLE_SERVER" => "anycable_rs",
                                         "ANYCABLE_METRICS_HTTP" => "/metrics",
                                         "ANYCABLE_METRICS_HTTP_BASIC_AUTH" => "scraper:s3cr3t",
                                         "ANYCABLE_HEALTH_PATH" => "/health",
                                         "ANYCABLE_METRICS_TAGS" => "env:test,dyno:web.1",
                                         "ANYCABLE_STATSD_HOST" => "127.0.0.1:#{statsd.addr[1]}",
                                         "ANYCABLE_METRICS_ROTATE_INTERVAL" => "1"
                                       }).start
  end

  after do
    server.stop
    statsd.close
  end

  def get(path, auth: nil)
    Net::HTTP.start("127.0.0.1", server.port, open_timeout: 5, read_timeout: 5) do |http|
      request = Net::HTTP::Get.new(path)
      request.basic_auth(*auth) if auth
      http.request(request)
    end
  end

  # `name{labels} value` lines of a Prometheus text body, by name; every sample has HELP and TYPE.
  def parse_prometheus(body)
    samples = {}
    types = body.scan(/^# TYPE (\S+) (counter|gauge)$/).to_h
    body.each_line(chomp: true) do |line|
      next if line.start_with?("#")

      match = line.match(/\A([a-z_]+)\{(.*)\} (\d+)\z/) or raise "not a Prometheus sample: #{line.inspect}"
      expect(types).to include(match[1])
      labels = match[2].scan(/(\w+)="([^"]*)"/).to_h
      samples[match[1]] = { value: Integer(match[3]), labels: labels }
    end
    samples
  end

  # Waits for `count` StatsD datagrams; returns their lines, checking each packet's size.
  def statsd_lines(seconds: 5)
    lines = []
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    while (left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)).positive?
      next unless statsd.wait_readable(left)

      packet, = statsd.recvfrom(65_535)
      expect(packet.bytesize).to be <= 1400
      lines.concat(packet.split("\n"))
      yield lines if block_given?
    end
    lines
  end

  def scrape
    response = get("/metrics", auth: %w[scraper s3cr3t])
    expect(response.code).to eq("200")
    expect(response["content-type"]).to start_with("text/plain; version=0.0.4")
    parse_prometheus(response.body)
  end

  it "serves Prometheus metrics with AnyCable's names that count real traffic, behind Basic auth" do
    # Counters since boot: in a remote RPC mode, starting the server already made a rejected connection.
    before = scrape.transform_values { |sample| sample[:value] }
    user = unique("user")
    listeners = Array.new(2) { node_client(user: user) }
    other = node_client
    stream = unique("room")
    (listeners + [other]).each { |client| client.subscribe!("room", { channel: "RoomChannel", room: stream }) }
    rejected = raw_client(headers: { "Cookie" => "user=reject" })
    rejected.wait_closed
    server.broadcast("room:#{stream}", { "text" => "hi" })
    listeners.each { |client| client.wait_for_received("room") { |data| data["text"] == "hi" } }

    expect(get("/metrics").code).to eq("401")
    expect(get("/metrics", auth: %w[scraper wrong]).code).to eq("401")

    samples = scrape
    value = ->(name) { samples.fetch("anycable_go_#{name}")[:value] }
    added = ->(name) { value[name] - before.fetch("anycable_go_#{name}") }
    expect(value["clients_num"]).to eq(3)
    expect(value["clients_uniq_num"]).to eq(2) # two clients share one user
    expect(value["broadcast_streams_num"]).to be >= 1
    expect(added["failed_auths_total"]).to eq(1)
    expect(added["client_msg_total"]).to eq(3) # the three subscribe commands
    expect(added["rpc_call_total"]).to eq(7) # four connects, three subscribes
    expect(added["broadcast_msg_total"]).to be >= 1
    expect(added["server_msg_total"]).to be >= 3 + 3 + 2 # welcomes, confirmations, deliveries
    expect(added["rpc_error_total"]).to eq(0)
    expect(samples.values.map { |sample| sample[:labels] }.uniq).to eq([{ "env" => "test", "dyno" => "web.1" }])
  end

  it "sends StatsD lines with the prefix and Datadog tags to statsd_host" do
    client = node_client
    client.subscribe!("room", { channel: "RoomChannel", room: unique("room") })

    seen = statsd_lines(seconds: 8) do |lines|
      break lines if lines.any? { |l| l.start_with?("anycable_go.clients_num:1|g") } &&
                     lines.any? { |l| l.start_with?("anycable_go.rpc_call_total:") }
    end
    expect(seen).to include("anycable_go.clients_num:1|g|#env:test,dyno:web.1")
    expect(seen).to all(match(/\Aanycable_go\.[a-z_]+:\d+\|[cg]\|#env:test,dyno:web\.1\z/))
    counter = seen.find { |l| l.start_with?("anycable_go.rpc_call_total:") }
    expect(counter).to match(/:[1-9]\d*\|c\|/)
  end

  it "answers 200 on the health path while the runtime and the workers run" do
    response = get("/health")
    expect(response.code).to eq("200")
    expect(response.body).to eq("OK\n")
  end
end
