# frozen_string_literal: true

require "json"
require "open3"

module IntegrationSupport
  # Runs spec/integration/client/cable_client.mjs: the stock @rails/actioncable consumer under
  # Node, driven by JSON-lines commands, reporting JSON-lines events (see the script's header).
  class NodeCableClient
    CLIENT_DIR = File.join(ROOT, "spec", "integration", "client")
    SCRIPT = File.join(CLIENT_DIR, "cable_client.mjs")

    class Timeout < StandardError; end

    def self.check_installed!
      return if File.directory?(File.join(CLIENT_DIR, "node_modules", "@rails", "actioncable"))

      raise "The Node client is not installed. Run: npm ci --prefix spec/integration/client"
    end

    attr_reader :name

    # url: ws:// URL; cookie: Cookie header; origin: Origin header; headers: more headers.
    def initialize(url:, origin:, cookie: nil, headers: {}, name: "client")
      self.class.check_installed!
      @name = name
      @events = []
      @stderr = +""
      @lock = Mutex.new
      @changed = ConditionVariable.new
      config = { url: url, origin: origin, cookie: cookie, headers: headers }
      @stdin, stdout, stderr, @thread = Open3.popen3("node", SCRIPT, JSON.generate(config), chdir: CLIENT_DIR)
      @readers = [read_events(stdout), read_stderr(stderr)]
      begin
        wait_for("ready")
      rescue StandardError
        stop
        raise
      end
    end

    # --- commands -----------------------------------------------------------------------------

    def connect
      command(cmd: "connect")
    end

    def subscribe(sub, params)
      command(cmd: "subscribe", sub: sub, params: params)
    end

    # Subscribes and waits for the confirmation (the `connected` callback).
    def subscribe!(sub, params, timeout: 5)
      subscribe(sub, params)
      wait_for("connected", sub: sub, timeout: timeout)
    end

    def perform(sub, action, data = nil)
      command({ cmd: "perform", sub: sub, action: action, data: data }.compact)
    end

    def whisper(sub, data)
      command(cmd: "whisper", sub: sub, data: data)
    end

    # Sends another command of subscription `sub` (`frame` without its identifier), e.g.
    # AnyCable's `join`, `leave` and `presence`.
    def send_command(sub, frame)
      command(cmd: "send", sub: sub, frame: frame)
    end

    def unsubscribe(sub)
      command(cmd: "unsubscribe", sub: sub)
    end

    # consumer.disconnect(): closes the socket without reconnecting.
    def close
      command(cmd: "close")
    end

    def command(message)
      @stdin.puts(JSON.generate(message))
      @stdin.flush
    rescue IOError, Errno::EPIPE
      raise "#{name}: the Node client is gone#{dump}"
    end

    # --- events -------------------------------------------------------------------------------

    def events
      @lock.synchronize { @events.dup }
    end

    # Waits for the first event (with seq > after) named `event` whose fields equal `fields`
    # and for which the block (if any) is true. Returns it; raises with every event on timeout.
    # The block runs under the client's lock: use only its argument, not the client.
    def wait_for(event = nil, timeout: 5, after: 0, **fields, &block)
      wait_until(timeout, "#{event || "event"} #{fields.inspect}") do
        @events.find { |e| e["seq"] > after && matches?(e, event, fields, block) }
      end
    end

    # Waits until `count` events match (as in #wait_for) and returns them all.
    def wait_for_count(count, event = nil, timeout: 5, **fields, &block)
      wait_until(timeout, "#{count} x #{event || "event"} #{fields.inspect}") do
        found = @events.select { |e| matches?(e, event, fields, block) }
        found if found.size >= count
      end
    end

    # Every event matching, so far.
    def select(event = nil, **fields, &block)
      events.select { |e| matches?(e, event, fields, block) }
    end

    # The data of every `received` callback for `sub`, in order.
    def received(sub)
      select("received", sub: sub).map { |e| e["data"] }
    end

    # The data of every frame the server sent (parsed JSON), in order.
    def frames
      select("frame").map { |e| e["data"] }
    end

    def wait_for_received(sub, timeout: 5, &block)
      wait_for("received", sub: sub, timeout: timeout) { |e| block.nil? || block.call(e["data"]) }["data"]
    end

    def stop
      return if @stopped

      @stopped = true
      begin
        command(cmd: "exit")
      rescue StandardError
        nil
      end
      @stdin.close unless @stdin.closed?
      return if @thread.join(2)

      Process.kill("KILL", @thread.pid)
      @thread.join(1)
    rescue Errno::ESRCH
      nil
    end

    def dump
      @lock.synchronize { dump_unlocked }
    end

    private

    def wait_until(timeout, description)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      @lock.synchronize do
        loop do
          found = yield
          return found if found

          remaining = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
          raise Timeout, "#{name}: no #{description} within #{timeout}s#{dump_unlocked}" if remaining <= 0 || @exited

          @changed.wait(@lock, remaining)
        end
      end
    end

    def matches?(event, name, fields, block)
      return false if name && event["event"] != name
      return false unless fields.all? { |key, value| event[key.to_s] == value }

      block.nil? || block.call(event)
    end

    def dump_unlocked
      lines = @events.map { |e| "  #{JSON.generate(e)}" }
      "\n#{name} events:\n#{lines.join("\n")}\n#{name} stderr:\n#{@stderr}"
    end

    def read_events(io)
      Thread.new do
        io.each_line do |line|
          event = JSON.parse(line)
          @lock.synchronize do
            @events << event
            @changed.broadcast
          end
        rescue JSON::ParserError
          @lock.synchronize { @stderr << "stdout (not JSON): #{line}" }
        end
      ensure
        @lock.synchronize do
          @exited = true
          @changed.broadcast
        end
      end
    end

    def read_stderr(io)
      Thread.new do
        io.each_line { |line| @lock.synchronize { @stderr << line } }
      end
    end
  end
end
