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

  it "answers 200 while the runtime and every worker thread run, 503 once workers are gone" do
    expect(get).to match([200, hash_including("content-type" => "text/plain"), "OK\n"])
    workers = AnyCable::RS.instance_variable_get(:@workers)
    expect(workers.threads.size).to eq(AnyCable::RS.config.rpc_pool_size)

    workers.threads.first.kill.join(5)
    status, _, body = get
    expect(status).to eq(503)
    expect(body).to eq("1 of #{workers.size} bridge worker threads are dead\n")

    workers.threads.each { |thread| thread.kill.join(5) }
    expect(get.values_at(0, 2)).to eq([503, "#{workers.size} of #{workers.size} bridge worker threads are dead\n"])
  end

  it "answers 503 after shutdown, and only to GET and HEAD" do
    expect(get("HEAD")).to eq([200, { "content-type" => "text/plain", "cache-control" => "no-store" }, ""])
    expect(get("POST").first).to eq(405)
    AnyCable::RS.shutdown
    expect(get.values_at(0, 2)).to eq([503, "anycable-rs was shut down\n"])
  end
end
