# frozen_string_literal: true

require "fileutils"
require "socket"
require "tmpdir"
require_relative "free_port"

module SpecSupport
  # A redis-server of the spec's own (never the system's service): a free port on 127.0.0.1, no
  # persistence, its own directory and log. Optionally TLS only (`tls:` a TlsCerts), as Heroku
  # Redis serves it. Can be killed and started again on the same port (an outage).
  class RedisServer
    INSTALL = "apt-get install redis-server"

    def self.binary
      path = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |dir| File.join(dir, "redis-server") }
                .find { |file| File.executable?(file) }
      path || %w[/usr/bin/redis-server /usr/sbin/redis-server].find { |file| File.executable?(file) } ||
        raise("redis-server is missing: the broadcasting specs start their own Redis. Run: #{INSTALL} " \
              "(bin/test installs it)")
    end

    # Every running server of this process, stopped at exit even when a run is interrupted.
    def self.running
      @running ||= {}
    end
    at_exit { running.dup.each_key(&:stop) }

    attr_reader :port, :log_path

    def initialize(port: nil, tls: nil)
      @port = port || FreePort.pick
      @tls = tls
      @dir = Dir.mktmpdir("anycable-rs-redis")
      @log_path = File.join(@dir, "redis.log")
    end

    def url
      "#{@tls ? "rediss" : "redis"}://127.0.0.1:#{port}"
    end

    def start(timeout: 10)
      FileUtils.rm_f(log_path)
      @pid = Process.spawn(self.class.binary, *arguments, out: File::NULL, err: File::NULL, pgroup: true)
      self.class.running[self] = true
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until log.include?("Ready to accept connections")
        if Process.wait(@pid, Process::WNOHANG)
          @pid = nil
          raise "redis-server exited at start (port #{port}):\n#{log}"
        end
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          raise "redis-server did not start within #{timeout}s (port #{port}):\n#{log}"
        end

        sleep 0.02
      end
      self
    end

    # An outage: SIGKILL, as a crash or a lost host.
    def kill
      signal("KILL")
    end

    def stop
      signal("TERM")
    end

    # Stops it and deletes its directory.
    def destroy
      stop
      FileUtils.rm_rf(@dir)
    end

    def running?
      !@pid.nil?
    end

    def log
      File.exist?(log_path) ? File.read(log_path) : ""
    end

    private

    def arguments
      args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", @dir, "--logfile", log_path]
      return ["--port", port.to_s, *args] unless @tls

      ["--port", "0", "--tls-port", port.to_s, "--tls-cert-file", @tls.server_cert, "--tls-key-file", @tls.server_key,
       "--tls-ca-cert-file", @tls.ca_cert, "--tls-auth-clients", "no", *args]
    end

    def signal(name)
      return unless @pid

      Process.kill(name, @pid)
      Process.wait(@pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    ensure
      @pid = nil
      self.class.running.delete(self)
    end
  end

  # A throwaway CA and a server certificate it signed (for localhost and 127.0.0.1), made with
  # the openssl command as an operator would: TLS Redis in the specs.
  class TlsCerts
    attr_reader :dir

    def initialize
      @dir = Dir.mktmpdir("anycable-rs-tls")
      generate
    end

    def ca_cert = File.join(dir, "ca.crt")
    def server_cert = File.join(dir, "server.crt")
    def server_key = File.join(dir, "server.key")

    def destroy
      FileUtils.rm_rf(dir)
    end

    private

    def generate
      openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
              "-subj", "/CN=anycable-rs spec CA", "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign")
      openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
              "-subj", "/CN=localhost")
      File.write(File.join(dir, "server.ext"),
                 "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" \
                 "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
      openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
              "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    end

    def openssl(*args)
      output = IO.popen(["openssl", *args, { chdir: dir, err: %i[child out] }], &:read)
      raise "openssl #{args.first} failed (apt-get install openssl):\n#{output}" unless Process.last_status.success?
    rescue Errno::ENOENT
      raise "the openssl command is missing: apt-get install openssl"
    end
  end
end
