# frozen_string_literal: true

require "bundler"
require "fileutils"
require "net/http"
require "socket"
require_relative "../../support/free_port"
require_relative "process_group"

module IntegrationSupport
  # A real Puma (single mode) serving spec/integration/app on a free port, started once for
  # the whole run with the app's own bundle. CABLE_SERVER passes through to choose the server.
  # In a remote RPC mode (CABLE_RPC, see RemoteRpc) #start first starts the process that runs
  # the channels ("B", #rpc_server) and points this Puma at it.
  class PumaServer
    include ProcessGroup

    APP_DIR = File.join(ROOT, "spec", "integration", "app")
    GEMFILE = File.join(APP_DIR, "Gemfile")
    BOOT_TIMEOUT = 30

    attr_reader :port, :log_path, :pid, :rpc_server

    # Runs the block with the environment of a process of the app's bundle (`env` on top),
    # outside the specs' own bundle; the app's bundle is resolved once per run.
    def self.with_app_bundle(env)
      env = {
        "BUNDLE_GEMFILE" => GEMFILE,
        "RAILS_ENV" => "test",
        "RACK_ENV" => "test",
        "CABLE_SERVER" => ENV.fetch("CABLE_SERVER", nil)
      }.merge(env)
      Bundler.with_unbundled_env do
        @bundle_ready ||= system(env, "bundle", "check", chdir: APP_DIR, out: File::NULL, err: File::NULL) ||
                          system(env, "bundle", "install", "--local", "--quiet", chdir: APP_DIR) ||
                          raise("bundle install --local failed for #{GEMFILE}")
        yield env
      end
    end

    # port: reuse a port (a restart); env: extra environment for the app (e.g. PUMA_WORKERS);
    # remote_rpc: false for a Puma that must not get a B of its own (B itself in HTTP mode).
    def initialize(port: nil, env: {}, remote_rpc: true)
      @port = port || FreePort.pick
      @env = env
      @remote_rpc = remote_rpc
      @log_path = File.join(APP_DIR, "log", "puma-#{@port}.log")
    end

    def cable_url(query = nil)
      "ws://127.0.0.1:#{port}/cable#{"?#{query}" if query}"
    end

    def http_origin(host = "127.0.0.1")
      "http://#{host}:#{port}"
    end

    def start
      FileUtils.mkdir_p(File.dirname(log_path))
      stale = Dir[File.join(File.dirname(log_path), "puma-*.log")].select { |f| File.mtime(f) < Time.now - 3600 }
      FileUtils.rm_f(stale)
      FileUtils.mkdir_p(File.join(APP_DIR, "tmp"))
      start_rpc_server
      with_app_bundle do |env|
        @pid = Process.spawn(env, "bundle", "exec", "puma", "-C", "config/puma.rb",
                             chdir: APP_DIR, out: log_path, err: %i[child out], pgroup: true)
      end
      wait_until_up
      warm_up if @rpc_server
      self
    rescue StandardError
      stop # Puma and its B: nothing outlives a failed start
      raise
    end

    # Stops Puma, then its B (which answers the disconnect calls Puma makes on the way out).
    def stop
      if @pid
        signal("TERM")
        signal("KILL") unless wait_exit(10)
        wait_exit(5)
        @pid = nil
      end
      @rpc_server&.stop
    end

    # Sends SIGTERM to Puma alone (as a platform does) and returns whether it exited in time.
    def terminate(timeout: 15)
      Process.kill("TERM", @pid)
      exited = wait_exit(timeout)
      @pid = nil if exited
      exited
    end

    def log
      File.exist?(log_path) ? File.read(log_path) : "(no log at #{log_path})"
    end

    # Broadcasts from inside the app but outside any WebSocket connection (POST /broadcast).
    # count: that many broadcasts of `message` (a Hash) in one request, "n" numbering them.
    def broadcast(stream, message, count: nil)
      body = JSON.generate({ stream: stream, message: message, count: count }.compact)
      response = Net::HTTP.start("127.0.0.1", port, open_timeout: 5, read_timeout: 30) do |http|
        http.post("/broadcast", body, "Content-Type" => "application/json")
      end
      raise "POST /broadcast failed: #{response.code} #{response.body}" unless response.code == "204"
    end

    # Runs a script of the app (script/publish.rb) in a process of its own with the server's
    # environment, as `rails runner` would; returns its output, raising when it fails.
    def run_script(script, *args)
      output = with_app_bundle do |env|
        IO.popen(env, ["bundle", "exec", "ruby", script, *args], chdir: APP_DIR, err: %i[child out], &:read)
      end
      raise "#{script} #{args.join(" ")} failed:\n#{output}" unless Process.last_status.success?

      output
    end

    private

    def with_app_bundle(&)
      self.class.with_app_bundle({ "PORT" => port.to_s }.merge(@env), &)
    end

    # Remote RPC modes: B gets the spec's environment (plus a shared Redis for broadcasts made
    # by channel code), and this Puma the same plus where B is.
    def start_rpc_server
      mode = @remote_rpc && RemoteRpc.mode_for(@env)
      return unless mode

      broadcasts = RemoteRpc.broadcast_env(@env)
      @shared_redis = !broadcasts.empty?
      @env = broadcasts.merge(@env)
      @rpc_server = RemoteRpc.start_companion(mode, @env)
      @env = @env.merge(@rpc_server.client_env)
    end

    # Starts this Puma's node with a refused connection (its connect goes through B: the whole
    # path works) and, with the mode's shared Redis, waits for its subscriber: a broadcast that
    # channel code makes in B must find it listening. (Specs with Redis settings of their own
    # wait for delivery themselves, as they do in-process.)
    def warm_up
      client = RawCableClient.new(cable_url, headers: { "Origin" => http_origin, "Cookie" => "user=reject" })
      raise "the warm-up connection through #{@rpc_server.class} was not refused:\n#{log}" unless client.wait_closed(timeout: 15)

      return unless @shared_redis

      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
      until JSON.parse(Net::HTTP.get(URI("#{http_origin}/stats")))["redis"] == true
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          raise "the node's Redis subscriber did not connect within 10 s:\n#{log}"
        end

        sleep 0.05
      end
    ensure
      client&.close
    end

    def wait_until_up
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + BOOT_TIMEOUT
      loop do
        return if up?

        if wait_exit(0)
          @pid = nil
          raise "Puma for the integration app exited during boot. Log (#{log_path}):\n#{log}"
        end
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          stop
          raise "Puma for the integration app did not answer within #{BOOT_TIMEOUT}s. Log (#{log_path}):\n#{log}"
        end
        sleep 0.1
      end
    end

    def up?
      Net::HTTP.start("127.0.0.1", port, open_timeout: 1, read_timeout: 2) { |http| http.get("/up").code == "200" }
    rescue SystemCallError, IOError, Net::OpenTimeout, Net::ReadTimeout
      false
    end
  end
end
