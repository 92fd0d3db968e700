# frozen_string_literal: true

require "grpc"
require_relative "support/integration_helper"

# The client code generated from ext/engine/proto/rpc.proto by Debian's grpc tools
# (grpc_tools_ruby_protoc; see ext/engine/proto/generate), committed under spec/support/grpc.
$LOAD_PATH.unshift(File.expand_path("../support/grpc", __dir__))
require "rpc_services_pb"

# `anycable-rs rpc` serving the integration app, called from outside by a plain Ruby gRPC
# client the way anycable-go calls AnyCable's RPC server: it must get the answers AnyCable's
# own server gives.
RSpec.describe "anycable-rs rpc from a plain gRPC client (ruby-grpc)",
               integration: true, anycable_rs_only: true, own_rpc_servers: true do
  before(:context) { @rpc = IntegrationSupport::RpcProcess.new.start }
  after(:context) { @rpc&.stop }

  let(:stub) { Anycable::RPC::Stub.new(@rpc.host, :this_channel_is_insecure, timeout: 15) }
  let(:sid) { unique("sid") }
  let(:user) { unique("user") }

  def call(method, request)
    stub.public_send(method, request, metadata: { "sid" => sid, "protov" => "v1" })
  end

  def env(cookie, **more)
    Anycable::Env.new(url: "http://example.com/cable?x=1", headers: { "cookie" => cookie, "REMOTE_ADDR" => "127.0.0.1" },
                      **more)
  end

  def json(transmissions)
    transmissions.map { |frame| JSON.parse(frame) }
  end

  it "answers Connect with SUCCESS, the identifiers as JSON, and a welcome carrying the sid" do
    reply = call(:connect, Anycable::ConnectionRequest.new(env: env("user=#{user}")))

    expect(reply.status).to eq(:SUCCESS)
    expect(JSON.parse(reply.identifiers)).to include("current_user" => user)
    expect(json(reply.transmissions)).to eq([{ "type" => "welcome", "sid" => sid }])
    expect(reply.error_msg).to eq("")
  end

  it "answers a rejected Connect with FAILURE and an unauthorized disconnect" do
    reply = call(:connect, Anycable::ConnectionRequest.new(env: env("user=reject")))

    expect(reply.status).to eq(:FAILURE)
    expect(reply.identifiers).to eq("")
    expect(json(reply.transmissions)).to eq([{ "type" => "disconnect", "reason" => "unauthorized", "reconnect" => false }])
  end

  it "answers a subscribe Command with the streams, the channel state and the confirmation; Disconnect with SUCCESS" do
    connected = call(:connect, Anycable::ConnectionRequest.new(env: env("user=#{user}")))
    identifier = JSON.generate(channel: "RoomChannel", room: "lobby")
    subscribe = Anycable::CommandMessage.new(command: "subscribe", identifier: identifier,
                                             connection_identifiers: connected.identifiers,
                                             env: env("user=#{user}", cstate: connected.env.cstate.to_h))
    reply = call(:command, subscribe)

    expect(reply.status).to eq(:SUCCESS)
    expect(reply.streams.to_a).to eq(["room:lobby"])
    expect(reply.env.istate.to_h.transform_values { |value| JSON.parse(value) }).to eq("room" => "lobby")
    expect(json(reply.transmissions)).to eq([{ "identifier" => identifier, "type" => "confirm_subscription" }])
    expect(reply.disconnect).to be(false)

    leaving = Anycable::DisconnectRequest.new(identifiers: connected.identifiers, subscriptions: [identifier],
                                              env: env("user=#{user}", istate: { identifier => reply.env.istate.to_h.to_json }))
    expect(call(:disconnect, leaving).status).to eq(:SUCCESS)
  end

  it "answers an unknown channel with FAILURE and the reason" do
    connected = call(:connect, Anycable::ConnectionRequest.new(env: env("user=#{user}")))
    reply = call(:command, Anycable::CommandMessage.new(command: "subscribe", identifier: '{"channel":"NoSuchChannel"}',
                                                        connection_identifiers: connected.identifiers,
                                                        env: env("user=#{user}")))

    expect(reply.status).to eq(:FAILURE)
    expect(reply.error_msg).to include("NoSuchChannel")
  end
end
