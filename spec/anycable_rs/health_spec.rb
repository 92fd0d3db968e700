# frozen_string_literal: true

require "logger"
require "stringio"

# AnyCable::RS.health and its Rack endpoint against this process's real node and bridge
# worker threads: 200 while both run, 503 naming the problem once workers die or after shutdown.
RSpec.describe AnyCable::RS::HealthEndpoint do
  subject(:endpoint) { AnyCable::RS.health_endpoint }

  # Never called here: the workers only wait for jobs.
  let(:handler) { Object.new }

  before do
    AnyCable::RS.logger = Logger.new(StringIO.new)
    AnyCable::RS.handler = handler
  end

  after do
    AnyCable::RS.shutdown
    %i[@node @workers @shut_down @handler @logger].each do |ivar|
      AnyCable::RS.remove_instance_variable(ivar) if AnyCable::RS.instance_variable_defined?(ivar)
    end
  end

  def get(method = "GET")
    status, headers, body = endpoint.call("REQUEST_METHOD" => method, "PATH_INFO" => "/health")
    [status, headers, body.join]
  end

  it "answers 200 while the runtime and every worker thread run: a worker that dies is replaced and counted" do
    expect(get).to match([200, hash_including("content-type" => "text/plain"), "OK\n"])
    workers = AnyCable::RS.instance_variable_get(:@workers)
    expect(workers.threads.size).to eq(AnyCable::RS.config.rpc_pool_size)

    first = workers.threads.first
    first.kill.join(5)
    expect(workers.threads.first).not_to equal(first)
    expect(workers.threads).to all(be_alive)
    expect(workers.replaced).to eq(1)
    expect(get.values_at(0, 2)).to eq([200, "OK\n"])

    workers.threads.each { |thread| thread.kill.join(5) }
    expect(workers.threads).to all(be_alive)
    expect(workers.threads.map(&:name)).to eq(Array.new(workers.size) { |i| "anycable-rs-worker-#{i}" })
    expect(workers.replaced).to eq(1 + workers.size)
    expect(get.first).to eq(200)
  end

  it "answers 503 after shutdown, and only to GET and HEAD" do
    expect(get("HEAD")).to eq([200, { "content-type" => "text/plain", "cache-control" => "no-store" }, ""])
    expect(get("POST").first).to eq(405)
    AnyCable::RS.shutdown
    expect(get.values_at(0, 2)).to eq([503, "anycable-rs was shut down\n"])
  end
end
