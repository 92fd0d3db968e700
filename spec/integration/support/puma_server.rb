# frozen_string_literal: true

require "bundler"
require "fileutils"
require "net/http"
require "socket"

module IntegrationSupport
  # A real Puma (single mode) serving spec/integration/app on a free port, started once for
  # the whole run with the app's own bundle. CABLE_SERVER passes through to choose the server.
  class PumaServer
    APP_DIR = File.join(ROOT, "spec", "integration", "app")
    GEMFILE = File.join(APP_DIR, "Gemfile")
    BOOT_TIMEOUT = 30

    attr_reader :port, :log_path, :pid

    # port: reuse a port (a restart); env: extra environment for the app (e.g. PUMA_WORKERS).
    def initialize(port: nil, env: {})
      @port = port || free_port
      @env = env
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
      with_app_bundle do |env|
        unless system(env, "bundle", "check", chdir: APP_DIR, out: File::NULL, err: File::NULL) ||
               system(env, "bundle", "install", "--local", "--quiet", chdir: APP_DIR)
          raise "bundle install --local failed for #{GEMFILE}"
        end

        @pid = Process.spawn(env, "bundle", "exec", "puma", "-C", "config/puma.rb",
                             chdir: APP_DIR, out: log_path, err: %i[child out], pgroup: true)
      end
      wait_until_up
      self
    end

    def stop
      return unless @pid

      signal("TERM")
      signal("KILL") unless wait_exit(10)
      wait_exit(5)
      @pid = nil
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
    def broadcast(stream, message)
      response = Net::HTTP.start("127.0.0.1", port, open_timeout: 5, read_timeout: 5) do |http|
        http.post("/broadcast", JSON.generate(stream: stream, message: message), "Content-Type" => "application/json")
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

    def with_app_bundle(&block)
      env = {
        "BUNDLE_GEMFILE" => GEMFILE,
        "PORT" => port.to_s,
        "RAILS_ENV" => "test",
        "RACK_ENV" => "test",
        "CABLE_SERVER" => ENV.fetch("CABLE_SERVER", nil)
      }.merge(@env)
      Bundler.with_unbundled_env { block.call(env) }
    end

    def free_port
      server = TCPServer.new("127.0.0.1", 0)
      server.addr[1]
    ensure
      server&.close
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

    # Signals the process group Puma leads (it was spawned with pgroup: true).
    def signal(name)
      Process.kill(name, -@pid)
    rescue Errno::ESRCH, Errno::EPERM
      nil
    end

    # True once the process has exited (reaped), waiting at most `timeout` seconds.
    def wait_exit(timeout)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      loop do
        return true if Process.wait(@pid, Process::WNOHANG)
        return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) >= deadline

        sleep 0.05
      end
    rescue Errno::ECHILD
      true
    end
  end
end
