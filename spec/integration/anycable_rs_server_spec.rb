# frozen_string_literal: true

require "net/http"
require "set"
require "tmpdir"
require_relative "support/integration_helper"

# What anycable-rs guarantees beyond stock Action Cable's behaviour: graceful shutdown, cluster
# mode, protocol violations closed with a reason, slow clients dropped. Each example runs its
# own Puma (these examples stop or restart it).
RSpec.describe "anycable-rs server", integration: true, anycable_rs_only: true do
  # On Ruby >= 3.3 a Puma could hang after SIGTERM, its server thread stuck in IO#close of its
  # wake-up pipe before anycable-rs' shutdown ran there; PumaShutdownFix removes the known
  # cause (docs/architecture.md §3). Examples that stop a Puma still run up to `hang_rounds`
  # rounds: a round whose Puma hangs so is run once more, saying so on stderr; anything else
  # fails at once, and a hang in the last round fails too.
  let(:hang_rounds) { RUBY_VERSION >= "3.3" ? 2 : 1 }

  # Whether `puma` exited on SIGTERM within `timeout`; false when it hung in a round that may
  # run again (it is killed, with a warning).
  def terminated?(puma, timeout:, round:)
    return true if puma.terminate(timeout: timeout)

    expect(round).to be < hang_rounds - 1, "Puma did not exit after SIGTERM:\n#{puma.log}"
    warn "anycable-rs spec: Puma hung on SIGTERM (Ruby #{RUBY_VERSION}, docs/architecture.md §3); " \
         "running the example once more"
    puma.stop
    false
  end

  let(:events_log) { File.join(Dir.mktmpdir("cable-events"), "events.log") }
  let(:own_servers) { [] }

  after { own_servers.each(&:stop) }

  def start_server(port: nil, **env)
    env = { "CABLE_SERVER" => "anycable_rs", "CABLE_EVENTS_LOG" => events_log }.merge(env)
    IntegrationSupport::PumaServer.new(port: port, env: env).start.tap { |s| own_servers << s }
  end

  def connect(puma, user: unique("user"))
    IntegrationSupport::RawCableClient.new(
      puma.cable_url, headers: { "Origin" => puma.http_origin, "Cookie" => "user=#{user}" }
    ).tap { |client| client.wait_for { |m| m["type"] == "welcome" } }
  end

  def stats(puma)
    JSON.parse(Net::HTTP.get(URI("http://127.0.0.1:#{puma.port}/stats")))
  end

  # The close code the server sent (nil if it only dropped the connection).
  def close_code(client)
    client.wait_closed
    client.frames.reverse.find { |frame| frame.type == :close }&.payload&.unpack1("n")
  end

  def events
    File.exist?(events_log) ? File.readlines(events_log).map { |line| JSON.parse(line) } : []
  end

  def eventually(description, timeout: 10)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until yield
      raise "timed out waiting for #{description}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
  end

  it "tells every client server_restart, closes with 1001 and runs the disconnect callbacks on SIGTERM" do
    hang_rounds.times do |round|
      FileUtils.rm_f(events_log)
      puma = start_server
      clients = Array.new(3) { connect(puma) }
      clients.each_with_index { |client, i| raw_subscribe(client, channel: "ActionsChannel", tag: "t#{i}") }
      next unless terminated?(puma, timeout: 20, round: round)

      clients.each do |client|
        disconnect = client.wait_for { |m| m["type"] == "disconnect" }
        expect(disconnect).to eq("type" => "disconnect", "reason" => "server_restart", "reconnect" => true)
        expect(close_code(client)).to eq(1001)
      end
      expect(events.count { |e| e["event"] == "unsubscribed" }).to eq(3)
      expect(events.count { |e| e["event"] == "disconnect" }).to eq(3)
      break
    end
  end

  it "is reconnected to and resubscribed by the stock client after a restart" do
    hang_rounds.times do |round|
      puma = start_server
      client = IntegrationSupport::NodeCableClient.new(
        url: puma.cable_url, origin: puma.http_origin, cookie: "user=#{unique("back")}", name: "comes-back"
      )
      integration_clients << client
      client.subscribe!("feed", { channel: "StreamsChannel", feeds: ["restart"] })

      next unless terminated?(puma, timeout: 20, round: round)

      gone = client.wait_for("disconnected", sub: "feed", timeout: 5)
      expect(gone["willAttemptReconnect"]).to be(true) if gone.key?("willAttemptReconnect")
      restarted = start_server(port: puma.port)
      client.wait_for("connected", sub: "feed", after: gone["seq"], timeout: 30)
      restarted.broadcast("feed:restart", { "after" => "restart" })
      expect(client.wait_for_received("feed", timeout: 5) { |data| data == { "after" => "restart" } }).to be_truthy
      break
    end
  end

  # in_process_rpc: tells the workers apart by the pid that channel code reports, which is the
  # RPC server's when the channels run in another process (CABLE_RPC=grpc|http).
  it "serves connections in every Puma worker in cluster mode (preload_app!) and stops them gracefully",
     in_process_rpc: true do
    hang_rounds.times do |round|
      puma, by_pid = cluster_with_a_client_in_each_worker
      next unless terminated?(puma, timeout: 30, round: round)

      by_pid.each_value do |clients|
        client = clients.last
        expect(client.wait_for { |m| m["type"] == "disconnect" }).to include("reason" => "server_restart")
        expect(close_code(client)).to eq(1001)
      end
      break
    end
  end

  def cluster_with_a_client_in_each_worker
    puma = start_server("PUMA_WORKERS" => "2")
    by_pid = Hash.new { |hash, pid| hash[pid] = [] }
    100.times do
      client = connect(puma)
      by_pid[subscribe_and_read_pid(client)] << client
      break if by_pid.size == 2
    end
    expect(by_pid.size).to eq(2), "all connections landed in one worker: #{by_pid.keys}"
    expect(by_pid.keys).not_to include(puma.pid)
    # Each worker says once that its broadcasts stay within it (until Redis broadcasting).
    expect(puma.log.scan("this process was forked").size).to eq(2)
    [puma, by_pid]
  end

  def subscribe_and_read_pid(client)
    identifier = JSON.generate(channel: "EchoChannel")
    client.send_json(command: "subscribe", identifier: identifier)
    client.wait_for { |m| m["identifier"] == identifier && m.dig("message", "pid") }.dig("message", "pid")
  end

  it "closes protocol violations with a reason while other clients keep going" do
    puma = start_server
    bystander = connect(puma)
    raw_subscribe(bystander, channel: "StreamsChannel", feeds: ["calm"])

    oversize = connect(puma)
    oversize.send_text("x" * 70_000)
    expect(close_code(oversize)).to eq(1009)

    invalid = connect(puma)
    invalid.send_text("\xff\xfe{}".b)
    expect(close_code(invalid)).to eq(1007)

    puma.broadcast("feed:calm", { "still" => "here" })
    expect(bystander.wait_for { |m| m["message"] == { "still" => "here" } }).to be_truthy
  end

  it "drops a client that never reads (too_slow) with bounded memory, and nobody else" do
    puma = start_server
    reader = connect(puma)
    raw_subscribe(reader, channel: "StreamsChannel", feeds: ["calm"])
    sleeper = connect(puma)
    raw_subscribe(sleeper, channel: "StreamsChannel", feeds: ["flood"])
    expect(stats(puma)["clients"]).to eq(2)

    big = "y" * 60_000
    400.times do |i|
      puma.broadcast("feed:flood", { "i" => i, "pad" => big })
      break if stats(puma)["clients"] == 1
    end
    eventually("the slow client to be dropped") { stats(puma)["clients"] == 1 }

    puma.broadcast("feed:calm", { "ok" => true })
    expect(reader.wait_for { |m| m["message"] == { "ok" => true } }).to be_truthy
    frames = sleeper.drain(3)
    expect(frames.size).to be < 400 # what was dropped was never buffered for it
  end
end
