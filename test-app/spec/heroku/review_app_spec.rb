# frozen_string_literal: true

require "fileutils"
require "json"
require "net/http"
require "socket"
require "timeout"
require "redis"

ROOT = File.expand_path("../../..", __dir__) unless defined?(ROOT)
require File.join(ROOT, "spec/integration/support/node_cable_client")
require File.join(ROOT, "spec/support/free_port")
require File.join(ROOT, "spec/support/redis_server")

# The test-app as a Heroku review app in one dyno: app.json asks for what it needs, and the
# Procfile's web command, run as it is with Heroku's environment, serves HTTP and WebSockets
# on $PORT.
RSpec.describe "Heroku review app" do
  let(:app_dir) { File.expand_path("../..", __dir__) }

  describe "app.json" do
    let(:manifest) { JSON.parse(File.read(File.join(app_dir, "app.json"))) }

    it "asks for one web dyno, Heroku Redis and the production environment" do
      expect(manifest).to include("name", "description")
      expect(manifest["formation"]).to eq("web" => { "quantity" => 1, "size" => "basic" })
      expect(manifest["addons"]).to eq(["heroku-redis:mini"])
      expect(manifest["buildpacks"].map { |pack| pack["url"] }).to eq(%w[emk/rust heroku/ruby])
      env = manifest["env"]
      expect(env["SECRET_KEY_BASE"]).to include("generator" => "secret")
      expect(env["SECRET_KEY_BASE"]).not_to include("value")
      expect(env.transform_values { |entry| entry["value"] }).to include(
        "RAILS_ENV" => "production", "ANYCABLE_BROADCAST_ADAPTER" => "redis", "ANYCABLE_BROKER" => "redis",
        "WEB_CONCURRENCY" => "1",
        "RAILS_MAX_THREADS" => "5", "RAILS_LOG_TO_STDOUT" => "enabled"
      )
      expect(env.values).to all(include("description"))
      expect(File.read(File.join(app_dir, "RustConfig"))).to match(/^RUST_SKIP_BUILD=1$/)
    end
  end

  describe "the Procfile's web process" do
    let(:command) do
      lines = File.readlines(File.join(app_dir, "Procfile"), chomp: true).grep(/\A\w+:/)
      expect(lines.map { |line| line[/\A\w+/] }).to eq(["web"]) # the only process type
      lines.first.delete_prefix("web:").strip
    end

    def http(port, &)
      Net::HTTP.start("127.0.0.1", port, open_timeout: 1, read_timeout: 10, &)
    end

    def up?(port)
      http(port) { |conn| conn.get("/").code == "200" }
    rescue SystemCallError, IOError, Net::OpenTimeout, Net::ReadTimeout
      false
    end

    # Runs the command as a dyno would (`bash -c`, in the app's directory, outside this
    # process's bundle), with production's environment but no Redis.
    def start(env)
      @log = File.join(app_dir, "log", "procfile-#{env["PORT"]}.log")
      FileUtils.mkdir_p(File.dirname(@log))
      @pid = Bundler.with_unbundled_env do
        Process.spawn(env, "bash", "-c", command, chdir: app_dir, out: @log, err: %i[child out], pgroup: true)
      end
      Timeout.timeout(60, Timeout::Error, "no answer on $PORT within 60 s:\n#{File.read(@log)}") do
        until up?(env["PORT"])
          raise "the web process exited:\n#{File.read(@log)}" if Process.wait(@pid, Process::WNOHANG)

          sleep 0.1
        end
      end
    end

    def stop
      return unless @pid

      # To Puma's master, which passes it on to its workers. (A TERM to the whole group, as
      # Heroku's dyno manager sends, reaches each cluster worker twice; Puma 6.6 on Ruby 3.3 then
      # left a worker hanging in about 1 of 8 runs, even with anycable-rs never started in it.)
      # On Ruby >= 3.3 a cluster worker can still hang in IO#close of Puma's wake-up pipe
      # (docs/architecture.md §3); the master kills it after worker_shutdown_timeout (30 s) and
      # exits, so the wait allows that, and says when it was needed.
      Process.kill("TERM", @pid)
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      _, status = Timeout.timeout(RUBY_VERSION >= "3.3" ? 50 : 30) { Process.wait2(@pid) }
      waited = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
      warn "review app spec: Puma took #{waited.round}s to stop (a hung worker, Ruby #{RUBY_VERSION})" if waited > 30
      @pid = nil
      status
    rescue Errno::ESRCH, Errno::ECHILD
      @pid = nil
    end

    after do
      if @pid
        Process.kill("KILL", -@pid)
        Process.wait(@pid)
      end
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    ensure
      @client&.stop
    end

    # The chat's cookie for `name`, the way a browser gets it: the form, then POST /join.
    def join(port, name)
      http(port) do |conn|
        form = conn.get("/")
        session = form["set-cookie"].split(";").first
        token = form.body[/name="authenticity_token" value="([^"]+)"/, 1]
        joined = conn.post("/join", URI.encode_www_form(authenticity_token: token, name: name, room: "review"),
                           "Cookie" => session, "Content-Type" => "application/x-www-form-urlencoded")
        expect(joined.code).to eq("302")
        joined.get_fields("set-cookie").map { |cookie| cookie.split(";").first }.find { |c| c.start_with?("user_name=") }
      end
    end

    after { @redis&.destroy }

    # Heroku's dyno environment with Heroku Redis attached: REDIS_URL, DYNO, and nothing that
    # names an adapter or a broker; the Heroku preset picks Redis for both.
    def with_heroku_redis
      @redis = SpecSupport::RedisServer.new.start
      { "REDIS_URL" => @redis.url, "DYNO" => "web.1", "ANYCABLE_BROADCAST_ADAPTER" => nil }
    end

    {
      "in single mode" => -> { {} },
      "with WEB_CONCURRENCY=2 and RAILS_MAX_THREADS=3 (cluster mode)" =>
        -> { { "WEB_CONCURRENCY" => "2", "RAILS_MAX_THREADS" => "3" } },
      "with Heroku Redis (the Heroku preset: broadcasts and the broker in Redis)" => -> { with_heroku_redis }
    }.each do |mode, more|
      it "listens on $PORT #{mode}: GET / answers, /cable welcomes and chats; stops on SIGTERM" do
        port = FreePort.pick
        extra = instance_exec(&more)
        start({ "PORT" => port.to_s, "RAILS_ENV" => "production", "RACK_ENV" => "production",
                "SECRET_KEY_BASE" => "x" * 64, "RAILS_LOG_TO_STDOUT" => "enabled",
                "ANYCABLE_BROADCAST_ADAPTER" => "local", "WEB_CONCURRENCY" => "1", "RAILS_MAX_THREADS" => "5",
                "REDIS_URL" => nil }.merge(extra))
        log = File.read(@log)
        # Puma 8 binds `port` to [::] (IPv4 too) where the machine has IPv6; older ones to 0.0.0.0.
        expect(log).to match(%r{Listening on http://(0\.0\.0\.0|\[::\]):#{port}\b}).and include("Environment: production")
        expect(log).to include("Min threads: #{extra.fetch("RAILS_MAX_THREADS", 5)}")
        expect(log).to match(extra.key?("WEB_CONCURRENCY") ? /Workers: 2/ : /single mode/)

        cookie = join(port, "reviewer")
        expect(cookie).to start_with("user_name=")
        @client = IntegrationSupport::NodeCableClient.new(
          url: "ws://127.0.0.1:#{port}/cable", origin: "http://127.0.0.1:#{port}", cookie: cookie, name: "reviewer"
        )
        @client.subscribe!("chat", { channel: "ChatChannel", room: "review" }, timeout: 15)
        welcome = @client.wait_for("frame") { |e| e.dig("data", "type") == "welcome" }["data"]
        expect(welcome["sid"]).to be_a(String) # anycable-rs' welcome
        @client.perform("chat", "speak", { body: "hello from the review app" })
        received = @client.wait_for_received("chat", timeout: 10) { |data| data.key?("body") } # not presence events
        expect(received).to include("user" => "reviewer", "body" => "hello from the review app")
        if @redis
          # Placed by the Redis broker: the stream's history and its epoch are in Redis.
          redis = Redis.new(url: @redis.url)
          expect(redis.get("__anycable__:epoch")).to match(/\A\w{6}\z/)
          expect(redis.keys("__anycable__:history:*").size).to eq(1)
          redis.close
        end

        @client.stop
        status = stop
        expect(status).not_to be_nil
        expect(File.read(@log)).to match(/Goodbye|- Gracefully stopping/)
      end
    end
  end
end
