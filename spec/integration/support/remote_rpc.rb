# frozen_string_literal: true

require "fileutils"
require "socket"
require_relative "../../support/redis_server"
require_relative "process_group"

module IntegrationSupport
  # Remote RPC modes of the integration specs. CABLE_RPC chooses where the app's channels run
  # for the Puma that the specs' clients talk to ("A"):
  #
  # | CABLE_RPC           | A's rpc_host                         | process B that runs the channels        |
  # |---------------------|--------------------------------------|-----------------------------------------|
  # | unset, "inprocess"  | unset: the bridge inside A           | none                                    |
  # | "grpc"              | 127.0.0.1:<port>                     | `exe/anycable-rs rpc` serving the app   |
  # | "http"              | http://127.0.0.1:<port>/_anycable    | a second Puma with the HTTP RPC endpoint |
  #
  # PumaServer#start is the one place that starts B (with the same environment as A) and
  # points A at it, for every Puma a spec starts, so the specs themselves run unchanged.
  # Broadcasts made by channel code run in B, so both share a Redis (AnyCable's format,
  # started once per run) unless the spec brings its own broadcasting settings. Stock Action
  # Cable runs (CABLE_SERVER=action_cable), Pumas whose env names ANYCABLE_RPC_HOST itself and
  # Pumas that serve HTTP RPC themselves (ANYCABLE_HTTP_RPC_MOUNT_PATH) get no B.
  module RemoteRpc
    MODES = %w[inprocess grpc http].freeze
    HTTP_PATH = "/_anycable"
    HTTP_SECRET = "integration-http-rpc-secret"

    class << self
      def mode
        value = ENV.fetch("CABLE_RPC", "").then { |m| m.empty? ? "inprocess" : m }
        raise "CABLE_RPC must be one of #{MODES.join(", ")}, not #{value.inspect}" unless MODES.include?(value)

        value
      end

      def remote?
        mode != "inprocess"
      end

      # The mode a Puma started with `env` runs in, or nil when it gets no B.
      def mode_for(env)
        server = env.fetch("CABLE_SERVER", nil) || ENV.fetch("CABLE_SERVER", "")
        return nil if !remote? || server == "action_cable"
        return nil if env.key?("ANYCABLE_RPC_HOST") || env.key?("ANYCABLE_HTTP_RPC_MOUNT_PATH")

        mode
      end

      # Settings that make broadcasts from B reach A: the run's own Redis in AnyCable's format,
      # unless the spec chose how broadcasts travel.
      def broadcast_env(env)
        return {} if env.key?("ANYCABLE_BROADCAST_ADAPTER") || env.key?("CABLE_ADAPTER")

        { "ANYCABLE_BROADCAST_ADAPTER" => "redis", "ANYCABLE_REDIS_URL" => redis.url }
      end

      # A free port below Linux's ephemeral range (32768+), for an RPC server that may be down
      # for a while: no outgoing connection takes it as its source port (which would connect a
      # client to itself in the meantime).
      def quiet_port
        100.times do
          port = rand(20_000...32_000)
          TCPServer.new("127.0.0.1", port).close
          return port
        rescue SystemCallError
          next
        end
        raise "no free port between 20000 and 32000"
      end

      # One redis-server for the whole run (stopped at exit by SpecSupport::RedisServer).
      def redis
        @redis ||= SpecSupport::RedisServer.new.start
      end

      # Starts B for `mode` with `env` and returns it (it answers #client_env, #stop, #log).
      def start_companion(mode, env)
        case mode
        when "grpc" then RpcProcess.new(env: env).start
        when "http" then HttpCompanion.new(env: env).start
        end
      end
    end
  end

  # B in gRPC mode: `exe/anycable-rs rpc` serving the integration app on a free port.
  class RpcProcess
    include ProcessGroup

    BOOT_TIMEOUT = 30
    EXE = File.join(ROOT, "exe", "anycable-rs")

    attr_reader :port, :log_path, :pid

    def initialize(port: nil, env: {})
      @port = port || RemoteRpc.quiet_port
      @env = env
      @log_path = File.join(PumaServer::APP_DIR, "log", "rpc-#{@port}.log")
    end

    def host
      "127.0.0.1:#{port}"
    end

    # What A needs to use this server.
    def client_env
      { "ANYCABLE_RPC_HOST" => host }
    end

    def start
      FileUtils.mkdir_p(File.dirname(log_path))
      FileUtils.rm_f(Dir[File.join(File.dirname(log_path), "rpc-*.log")].select { |f| File.mtime(f) < Time.now - 3600 })
      PumaServer.with_app_bundle(@env) do |env|
        @pid = Process.spawn(env, "bundle", "exec", "ruby", EXE, "rpc", "--host", host,
                             chdir: PumaServer::APP_DIR, out: log_path, err: %i[child out], pgroup: true)
      end
      wait_until_listening
      self
    end

    # SIGTERM (a graceful stop: running calls finish), SIGKILL after `timeout`.
    def stop(timeout: 10)
      return unless @pid

      signal("TERM")
      signal("KILL") unless wait_exit(timeout)
      wait_exit(5)
      @pid = nil
    end

    def log
      File.exist?(log_path) ? File.read(log_path) : "(no log at #{log_path})"
    end

    private

    def wait_until_listening
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + BOOT_TIMEOUT
      until listening?
        if wait_exit(0)
          @pid = nil
          raise "anycable-rs rpc exited during boot. Log (#{log_path}):\n#{log}"
        end
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          stop
          raise "anycable-rs rpc did not listen on #{host} within #{BOOT_TIMEOUT}s. Log (#{log_path}):\n#{log}"
        end
        sleep 0.1
      end
    end

    def listening?
      TCPSocket.new("127.0.0.1", port).close
      true
    rescue SystemCallError
      false
    end
  end

  # B in HTTP RPC mode: a second Puma of the app whose Railtie mounts the HTTP RPC endpoint at
  # /_anycable (ANYCABLE_HTTP_RPC_MOUNT_PATH), with a secret A shares.
  class HttpCompanion
    attr_reader :puma

    def initialize(port: nil, env: {})
      env = env.merge("ANYCABLE_HTTP_RPC_MOUNT_PATH" => RemoteRpc::HTTP_PATH,
                      "ANYCABLE_HTTP_RPC_SECRET" => RemoteRpc::HTTP_SECRET)
      @puma = PumaServer.new(port: port || RemoteRpc.quiet_port, env: env, remote_rpc: false)
    end

    def port
      puma.port
    end

    def client_env
      { "ANYCABLE_RPC_HOST" => "http://127.0.0.1:#{puma.port}#{RemoteRpc::HTTP_PATH}",
        "ANYCABLE_HTTP_RPC_SECRET" => RemoteRpc::HTTP_SECRET }
    end

    def start
      puma.start
      self
    end

    def stop
      puma.stop
    end

    def log_path
      puma.log_path
    end

    def log
      puma.log
    end
  end
end
