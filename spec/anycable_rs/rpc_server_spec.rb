# frozen_string_literal: true

require "grpc"
require "logger"
require "socket"
require "stringio"
require "tmpdir"
require "anycable/rs/cli"

$LOAD_PATH.unshift(File.expand_path("../support/grpc", __dir__))
require "rpc_services_pb"

# `anycable-rs rpc` without Rails: the gRPC server in front of the bridge workers, with a
# scripted handler in place of the app, called by a plain Ruby gRPC client; and the command's
# arguments. (spec/integration/grpc_interop_spec.rb serves a real Rails app.)
RSpec.describe AnyCable::RS::RPCServer do
  # Answers like the Rails handler would, and remembers the sid each connect saw.
  let(:handler) do
    Class.new do
      attr_reader :sids

      def initialize
        @sids = Queue.new
      end

      def connect(request)
        @sids << request["sid"]
        { "status" => 1, "identifiers" => '{"user":"ann"}', "transmissions" => [%({"type":"welcome","sid":"#{request["sid"]}"})] }
      end

      def command(request)
        sleep 0.5 if request["data"].include?("slow")
        { "status" => 1, "streams" => ["s:#{request["identifier"]}"], "transmissions" => [request["data"]] }
      end

      def disconnect(_request)
        { "status" => 2, "error_msg" => "nope" }
      end
    end.new
  end
  let(:log) { StringIO.new }
  let(:config) { AnyCable::RS::Config.new("rpc_pool_size" => 2, "shutdown_timeout" => 5) }
  let(:server) { described_class.new(host: "127.0.0.1:0", config: config, handler: handler, logger: Logger.new(log)) }

  after { server.stop }

  def stub
    Anycable::RPC::Stub.new(server.address, :this_channel_is_insecure, timeout: 10)
  end

  it "answers the three calls through the handler, with the sid metadata, and stops gracefully" do
    server.start
    expect(server.address).to match(/\A127\.0\.0\.1:\d+\z/)
    expect(log.string).to include("gRPC server (anycable.RPC) listening on #{server.address} (2 worker threads)")

    reply = stub.connect(Anycable::ConnectionRequest.new(env: Anycable::Env.new(url: "http://h/cable")),
                         metadata: { "sid" => "s-1", "protov" => "v1" })
    expect([reply.status, reply.identifiers, reply.transmissions.to_a])
      .to eq([:SUCCESS, '{"user":"ann"}', ['{"type":"welcome","sid":"s-1"}']])
    expect(handler.sids.pop).to eq("s-1")

    reply = stub.command(Anycable::CommandMessage.new(command: "message", identifier: "i", data: "d"))
    expect([reply.streams.to_a, reply.transmissions.to_a]).to eq([["s:i"], ["d"]])
    reply = stub.disconnect(Anycable::DisconnectRequest.new(identifiers: "{}"))
    expect([reply.status, reply.error_msg]).to eq([:FAILURE, "nope"])
    expect(server.stats).to include("calls" => 3, "in_flight" => 0)

    # A call running when the server stops gets its answer; then nothing listens.
    slow = Thread.new { stub.command(Anycable::CommandMessage.new(command: "message", identifier: "i", data: "slow")) }
    sleep 0.1 until server.stats["in_flight"] == 1
    address = server.address
    expect(server.stop).to be(true)
    expect(slow.value.transmissions.to_a).to eq(["slow"])
    host, port = address.split(":")
    expect { TCPSocket.new(host, port) }.to raise_error(Errno::ECONNREFUSED)
  end

  it "says clearly when it cannot listen" do
    taken = TCPServer.new("127.0.0.1", 0)
    busy = described_class.new(host: "127.0.0.1:#{taken.addr[1]}", config: config, handler: handler, logger: Logger.new(log))
    expect { busy.start }.to raise_error(AnyCable::RS::Error, /cannot listen on "127\.0\.0\.1:\d+" for gRPC: .*in use/i)
    expect { described_class.new(host: "nowhere", config: config, handler: handler).start }
      .to raise_error(AnyCable::RS::Error, /expected host:port/)
  ensure
    taken&.close
  end
end

RSpec.describe AnyCable::RS::CLI do
  let(:out) { StringIO.new }
  let(:err) { StringIO.new }

  def run(*argv, env: {})
    described_class.new(argv, out: out, err: err, env: env).run
  end

  it "prints usage, the version, and refuses unknown commands and options" do
    expect(run("--help")).to eq(0)
    expect(out.string).to include("Usage: anycable-rs rpc [--host HOST:PORT] [--require PATH]")
    expect(run("--version")).to eq(0)
    expect(out.string).to include("anycable-rs #{AnyCable::RS::VERSION}")
    expect(run).to eq(1)
    expect(run("serve")).to eq(1)
    expect(err.string).to include('unknown command "serve"')
    expect(run("rpc", "--port", "1")).to eq(1)
    expect(err.string).to include("invalid option: --port")
  end

  it "needs the application to load" do
    Dir.mktmpdir do |dir|
      Dir.chdir(dir) { expect(run("rpc")).to eq(1) }
      expect(err.string).to include("no application at #{File.realpath(dir)}/config/environment.rb")
    end
  end
end
