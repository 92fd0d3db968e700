# frozen_string_literal: true

require "logger"
require "open3"
require "tmpdir"
require_relative "support/integration_helper"
require_relative "../support/redis_server"

# Server restarts with the Redis broker and real clients (client/restart_check.mjs): Puma gets
# SIGTERM (single mode: a new Puma starts; cluster: a phased restart, worker by worker) while
# broadcasts go on through Redis, also while no process serves the clients. @anycable/core
# clients resume their session on the new process (no `connect`, no `subscribed`: the app's
# calls are counted in CABLE_CALLS_LOG) and get every message in order, once; the stock
# @rails/actioncable client connects again from scratch and misses what came meanwhile.
RSpec.describe "Reliable delivery through a restart (broker: redis)",
               :anycable_rs_only, in_process_rpc: true, integration: true do
  let(:redis) { SpecSupport::RedisServer.new.start }
  let(:calls_log) { File.join(Dir.mktmpdir("cable-calls"), "calls.log") }
  let(:env) do
    { "CABLE_SERVER" => "anycable_rs", "ANYCABLE_BROADCAST_ADAPTER" => "redis", "ANYCABLE_BROKER" => "redis",
      "ANYCABLE_REDIS_URL" => redis.url, "CABLE_CALLS_LOG" => calls_log }
  end
  let(:room) { unique("restart") }
  let(:own_servers) { [] }
  # The app's publisher as any process without clients runs it (a console, a job).
  let(:publisher) do
    config = AnyCable::RS::Config.new(broadcast_adapter: "redis", broker: "redis", redis_url: redis.url)
    AnyCable::RS::Broadcaster.new(config: -> { config }, node: -> {}, logger: -> { Logger.new(File::NULL) })
  end

  after do
    @check&.close
    own_servers.each(&:stop)
    publisher.close
    redis.destroy
  end

  def start_puma(port: nil, **more)
    puma = IntegrationSupport::PumaServer.new(port: port, env: env.merge(more), remote_rpc: false).start
    own_servers << puma
    puma
  end

  # A node starts with its first client, and its Redis subscriber right after.
  def wait_for_redis(puma)
    within(10, "the node's Redis subscriber did not connect", puma) do
      JSON.parse(Net::HTTP.get(URI("#{puma.http_origin}/stats")))["redis"] == true
    end
  end

  # Runs the block until it is true; raises `failure` (with the log of `puma`) after `seconds`.
  def within(seconds, failure, puma)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    until yield
      raise "#{failure}:\n#{puma.log}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
  end

  def broadcast(numbers)
    numbers.each { |n| publisher.broadcast("room:#{room}", JSON.generate("n" => n)) }
  end

  # Starts restart_check.mjs against `puma` and waits until its clients are subscribed.
  def start_clients(puma, extended:, stock:)
    IntegrationSupport::NodeCableClient.check_installed!
    config = { url: "ws://127.0.0.1:#{puma.port}", origin: puma.http_origin, room: room, extended: extended,
               stock: stock }
    @check = IO.popen(["timeout", "90", "node", "restart_check.mjs", JSON.generate(config)], "r+",
                      chdir: IntegrationSupport::NodeCableClient::CLIENT_DIR)
    line = @check.gets
    raise "restart_check.mjs did not subscribe its clients: #{line.inspect}" unless line && JSON.parse(line)["subscribed"]
  end

  def finish_clients(expect)
    @check.puts(JSON.generate(expect: expect))
    @check.flush
    line = @check.gets or raise "restart_check.mjs ended without a result"
    JSON.parse(line).fetch("clients")
  end

  def calls
    File.exist?(calls_log) ? File.readlines(calls_log).map { |line| JSON.parse(line) } : []
  end

  def expect_restored(clients, total)
    extended = clients.select { |c| c["kind"] == "extended" }
    extended.each do |client|
      expect(client["received"]).to eq((1..total).to_a), "#{client["name"]} got #{client["received"]}"
    end
    extended
  end

  it "resumes every extended client on a new Puma with what was published meanwhile, without app calls" do
    puma = start_puma
    start_clients(puma, extended: 4, stock: 1)
    wait_for_redis(puma)
    broadcast(1..5)
    expect(calls.count { |c| c["call"] == "connect" }).to eq(5)

    expect(puma.terminate).to be(true), "Puma did not exit on SIGTERM:\n#{puma.log}"
    FileUtils.rm_f(calls_log)
    broadcast(6..10) # nobody serves the clients now: Redis keeps them
    start_puma(port: puma.port)
    broadcast(11..15)

    clients = finish_clients(15)
    expect_restored(clients, 15).each do |client|
      expect(client["connects"].last).to include("reconnect" => true, "restored" => true)
    end
    stock = clients.find { |c| c["kind"] == "stock" }
    expect(stock["connects"].size).to eq(2)
    expect(stock["received"].first(5)).to eq((1..5).to_a)
    expect(stock["received"]).not_to include(6, 7, 8, 9, 10)
    # The new Puma called the app for the stock client only: one connect, one subscribed.
    expect(calls.map { |c| c.values_at("call", "user") }).to contain_exactly(%w[connect stock0], %w[subscribed stock0])
  end

  it "resumes the clients of each worker on the other during a phased restart of a 2-worker cluster" do
    puma = start_puma("PUMA_WORKERS" => "2", "PUMA_PRELOAD" => "0")
    start_clients(puma, extended: 6, stock: 0)
    2.times { wait_for_redis(puma) } # /stats answers from either worker
    broadcast(1..5)
    FileUtils.rm_f(calls_log)

    Process.kill("USR1", puma.pid)
    n = 5
    within(60, "the phased restart did not finish within 60 s", puma) do
      broadcast([n += 1])
      sleep 0.15
      puma.log.scan(/phase: 1/).size >= 2
    end
    broadcast((n + 1)..(n + 5))

    clients = finish_clients(n + 5)
    expect_restored(clients, n + 5).each do |client|
      expect(client["connects"].drop(1)).to all(include("restored" => true))
      expect(client["connects"].size).to be >= 2
    end
    expect(calls).to eq([]), "restored sessions called the app: #{calls}"
  end
end
