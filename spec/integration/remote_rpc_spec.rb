# frozen_string_literal: true

require "net/http"
require_relative "support/integration_helper"

# A WebSocket server (Puma "A") whose channels run in another process ("B"): `anycable-rs rpc`
# over gRPC, or a second Puma's HTTP RPC endpoint. What happens when B is down, comes back, or
# is slow. Each example starts its own A and B.
RSpec.describe "Remote RPC faults", integration: true, anycable_rs_only: true, own_rpc_servers: true do
  let(:own_servers) { [] }

  after { own_servers.reverse_each(&:stop) }

  def start_rpc(transport, port: nil, **env)
    klass = transport == :grpc ? IntegrationSupport::RpcProcess : IntegrationSupport::HttpCompanion
    klass.new(port: port, env: env).start.tap { |server| own_servers << server }
  end

  # A, with channels at `rpc` (a started B, or the client settings of one that is not running).
  def start_puma(rpc, **env)
    rpc_env = rpc.is_a?(Hash) ? rpc : rpc.client_env
    env = { "CABLE_SERVER" => "anycable_rs" }.merge(rpc_env, env)
    IntegrationSupport::PumaServer.new(env: env).start.tap { |puma| own_servers << puma }
  end

  def connect(puma, user: unique("user"))
    IntegrationSupport::RawCableClient.new(
      puma.cable_url, headers: { "Origin" => puma.http_origin, "Cookie" => "user=#{user}" }
    ).tap { |client| integration_clients << client }
  end

  def welcomed(client)
    client.wait_for(timeout: 10) { |m| m["type"] == "welcome" }
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def stats(puma)
    JSON.parse(Net::HTTP.get(URI("#{puma.http_origin}/stats")))
  end

  # Nothing listens there.
  def down_env(transport)
    port = IntegrationSupport::RemoteRpc.quiet_port
    if transport == :grpc
      { "ANYCABLE_RPC_HOST" => "127.0.0.1:#{port}" }
    else
      { "ANYCABLE_RPC_HOST" => "http://127.0.0.1:#{port}/_anycable",
        "ANYCABLE_HTTP_RPC_SECRET" => IntegrationSupport::RemoteRpc::HTTP_SECRET }
    end
  end

  # Seconds: the controllers' deadline for one call, retries included.
  def retry_deadline
    5
  end

  %i[grpc http].each do |transport|
    context "over #{transport == :grpc ? "gRPC" : "HTTP RPC"}" do
      it "tells clients to come back (disconnect, reconnect: true) within the deadline while the RPC server is down" do
        puma = start_puma(down_env(transport))
        started = now
        clients = Array.new(5) { connect(puma) }
        clients.each do |client|
          expect(client.wait_for(timeout: retry_deadline + 5) { |m| m["type"] == "disconnect" })
            .to eq("type" => "disconnect", "reason" => "server_error", "reconnect" => true)
          expect(client.wait_closed).to be(true)
        end
        expect(now - started).to be < retry_deadline + 3
        expect(stats(puma)).to include("clients" => 0, "rpc_pending" => 0)
      end

      it "serves new connections once a restarted RPC server is back, and old ones keep working" do
        rpc = start_rpc(transport)
        puma = start_puma(rpc)
        before = connect(puma)
        welcomed(before)
        raw_subscribe(before, channel: "ActionsChannel", tag: "restart")

        rpc.stop
        during = connect(puma)
        expect(during.wait_for(timeout: retry_deadline + 5) { |m| m["type"] == "disconnect" })
          .to include("reason" => "server_error", "reconnect" => true)

        start_rpc(transport, port: rpc.port)
        after = connect(puma)
        expect(welcomed(after)).to include("type" => "welcome")
        identifier = raw_subscribe(after, channel: "ActionsChannel", tag: "after")
        after.send_json(command: "message", identifier: identifier, data: JSON.generate(action: "ping_me"))
        expect(after.wait_for { |m| m["message"]&.key?("pong") }).to be_truthy

        old = JSON.generate(channel: "ActionsChannel", tag: "restart")
        before.send_json(command: "message", identifier: old, data: JSON.generate(action: "remember", note: "back"))
        expect(before.wait_for { |m| m["message"] == { "remembered" => "back" } }).to be_truthy
      end

      it "never has more than rpc_concurrency calls in flight with a slow RPC server" do
        # B could run 5 at once (worker threads, or Puma threads for HTTP); A allows 3.
        rpc = start_rpc(transport, "ANYCABLE_RPC_POOL_SIZE" => "5")
        puma = start_puma(rpc, "ANYCABLE_RPC_CONCURRENCY" => "3")
        clients = Array.new(9) { connect(puma) }
        identifier = JSON.generate(channel: "SlowChannel")
        clients.each { |client| raw_subscribe(client, channel: "SlowChannel") }
        clients.each_with_index do |client, n|
          client.send_json(command: "message", identifier: identifier, data: JSON.generate(action: "nap", seconds: 0.3, n: n))
        end
        most = clients.map { |client| client.wait_for(timeout: 15) { |m| m.dig("message", "napped") }["message"]["most"] }
        expect(most.max).to eq(3)
      end
    end
  end
end
