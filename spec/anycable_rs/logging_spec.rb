# frozen_string_literal: true

require "logger"
require "socket"
require "stringio"
require_relative "../integration/support/raw_cable_client"

# The engine's log lines reach AnyCable::RS.logger (Rails.logger in an app) through the
# "anycable-rs-log" thread, at their own severity and the node's log_level, with the session
# id on connection lines.
RSpec.describe "Engine log lines" do
  # Welcomes every client with its sid, as the Rails handler does.
  let(:handler) do
    Class.new do
      def connect(request)
        { "status" => 1, "identifiers" => "{}", "transmissions" => [%({"type":"welcome","sid":"#{request["sid"]}"})] }
      end

      def command(_request)
        { "status" => 1, "transmissions" => [] }
      end

      def disconnect(_request)
        { "status" => 1 }
      end
    end.new
  end
  let(:log) { StringIO.new }
  let(:logger) do
    Logger.new(log).tap do |logger|
      logger.formatter = ->(severity, _time, _progname, message) { "#{severity} #{message}\n" }
    end
  end

  after do
    AnyCable::RS.shutdown
    %i[@config @node @workers @shut_down @log_drain].each do |name|
      AnyCable::RS.instance_variable_set(name, nil)
    end
    AnyCable::RS.logger = nil
    AnyCable::RS.handler = nil
  end

  # This process's node (AnyCable::RS.node) with these settings, logging to `logger`.
  def start_node(settings)
    AnyCable::RS.instance_variable_set(:@config, AnyCable::RS::Config.new({ "rpc_pool_size" => 1 }.merge(settings)))
    AnyCable::RS.logger = logger
    AnyCable::RS.handler = handler
    AnyCable::RS.node
  end

  # A WebSocket client whose hijacked socket the node serves; returns it with its sid.
  def connect_client
    listener = TCPServer.new("127.0.0.1", 0)
    acceptor = Thread.new do
      socket = listener.accept
      head = +""
      head << socket.readpartial(4096) until head.include?("\r\n\r\n")
      key = head[/^Sec-WebSocket-Key: *(\S+)/i, 1]
      AnyCable::RS.node.accept(socket.fileno, "http://127.0.0.1/cable", {}, ["actioncable-v1-json"], key)
      socket.close
    end
    client = IntegrationSupport::RawCableClient.new("ws://127.0.0.1:#{listener.addr[1]}/cable")
    acceptor.value
    [client, client.wait_for { |message| message["type"] == "welcome" }.fetch("sid")]
  ensure
    listener&.close
  end

  def wait_for_log(pattern, timeout: 5)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until log.string.match?(pattern)
      raise "no log line matching #{pattern.inspect} within #{timeout}s; log:\n#{log.string}" if
        Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.02
    end
  end

  it "logs connects and disconnects at debug with the client's sid, through the anycable-rs-log thread" do
    start_node("log_level" => "debug")
    expect(Thread.list.map(&:name)).to include("anycable-rs-log")

    client, sid = connect_client
    expect(sid).not_to be_empty
    wait_for_log(/^DEBUG anycable-rs: connected sid=#{Regexp.escape(sid)} /)
    client.close
    wait_for_log(/^DEBUG anycable-rs: disconnected sid=#{Regexp.escape(sid)} reason=client_closed$/)

    # Shutdown: the lines of the clients told server_restart are delivered before it returns.
    _, other = connect_client
    expect(AnyCable::RS.shutdown).to be(true)
    expect(log.string).to match(/^DEBUG anycable-rs: disconnected sid=#{Regexp.escape(other)} reason=server_restart$/)
    expect(Thread.list.map(&:name)).not_to include("anycable-rs-log")
  end

  it "leaves out lines below log_level (warn): warnings pass, info lines do not" do
    start_node("log_level" => "warn")
    client, sid = connect_client
    client.send_text("not JSON")      # warn: command ignored
    client.send_binary("\x00\x01")    # info: binary frame refused (and closed)
    expect(client.wait_closed).to be(true)
    AnyCable::RS.shutdown

    expect(log.string).to match(/^WARN anycable-rs: command ignored sid=#{Regexp.escape(sid)} /)
    expect(log.string).not_to include("binary frame refused sid=#{sid}", "connected sid=#{sid}")
  end

  it "works in a process forked from one with a running node (a Puma cluster worker)" do
    start_node("log_level" => "debug")
    _, parent_sid = connect_client
    reader, writer = IO.pipe
    child = fork do
      reader.close
      client, sid = connect_client # a fresh node, log queue and drain thread in this process
      client.close
      wait_for_log(/^DEBUG anycable-rs: disconnected sid=#{Regexp.escape(sid)} reason=client_closed$/)
      writer.write(log.string)
      exit!(0)
    rescue StandardError => e
      writer.write("#{e.class}: #{e.message}")
      exit!(1)
    end
    writer.close
    child_log = reader.read
    expect(Process.wait2(child).last).to be_success, child_log
    expect(child_log).to match(/^DEBUG anycable-rs: connected sid=(?!#{Regexp.escape(parent_sid)})\S+ /)
    wait_for_log(/^DEBUG anycable-rs: connected sid=#{Regexp.escape(parent_sid)} /) # the parent's still flow
  ensure
    reader&.close
  end

  it "reaches the logger of a gRPC server too (no node in the process)" do
    config = AnyCable::RS::Config.new("rpc_pool_size" => 1, "log_level" => "debug")
    server = AnyCable::RS::RPCServer.new(host: "127.0.0.1:0", config: config, handler: handler, logger: logger).start
    wait_for_log(/^DEBUG anycable-rs: gRPC server \(anycable.RPC\) listening addr=#{Regexp.escape(server.address)}$/)
  ensure
    server&.stop
  end
end
