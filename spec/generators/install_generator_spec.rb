# frozen_string_literal: true

require "digest"
require "erb"
require "fileutils"
require "net/http"
require "open3"
require "socket"
require "stringio"
require "timeout"
require "tmpdir"
require "yaml"
require "rails"
require "generators/anycable/rs/install/install_generator"
require_relative "../integration/support/node_cable_client"
require_relative "../support/free_port"

# The app the generator is applied to: Rails' own cable.yml, a connection and one channel.
module InstallGeneratorSpec
  CABLE_YML = <<~YAML
    development:
      adapter: async

    test:
      adapter: test

    production:
      adapter: redis
      url: <%= ENV.fetch("REDIS_URL") { "redis://localhost:6379/1" } %>
      channel_prefix: app_production
  YAML

  APP_FILES = {
    # Rails as the gem's own bundle has it (gemfiles/rails.rb): the system's, or the tree
    # ANYCABLE_RS_RAILS_PATH names (bin/sid's Rails 8.1, which Debian does not package).
    "Gemfile" => <<~RUBY,
      source "https://rubygems.org"
      #{ENV["ANYCABLE_RS_RAILS_PATH"] ? "eval_gemfile #{File.join(ROOT, "gemfiles/rails.rb").dump}" : %(gem "actioncable"\ngem "railties")}
      gem "anycable-rs", path: #{ROOT.dump}
      gem "puma"
    RUBY
    "config.ru" => %(require_relative "config/environment"\nrun Rails.application\n),
    "bin/rails" => <<~RUBY,
      #!/usr/bin/env ruby
      APP_PATH = File.expand_path("../config/application", __dir__)
      require_relative "../config/boot"
      require "rails/commands"
    RUBY
    "config/boot.rb" => %(ENV["BUNDLE_GEMFILE"] ||= File.expand_path("../Gemfile", __dir__)\nrequire "bundler/setup"\n),
    "config/application.rb" => <<~RUBY,
      require_relative "boot"
      require "rails"
      require "action_controller/railtie"
      require "action_cable/engine"
      Bundler.require(*Rails.groups)

      module Chat
        class Application < Rails::Application
          config.load_defaults Rails::VERSION::STRING.to_f
          config.eager_load = false
          config.hosts.clear
        end
      end
    RUBY
    "config/environment.rb" => %(require_relative "application"\nRails.application.initialize!\n),
    "config/routes.rb" => <<~RUBY,
      Rails.application.routes.draw do
        mount ActionCable.server => "/cable"
        get "/up", to: proc { [200, { "content-type" => "text/plain" }, ["up"]] }
      end
    RUBY
    "config/cable.yml" => CABLE_YML,
    "app/channels/application_cable/connection.rb" => <<~RUBY,
      module ApplicationCable
        class Connection < ActionCable::Connection::Base
          identified_by :user

          def connect
            self.user = cookies[:user] || reject_unauthorized_connection
          end
        end
      end
    RUBY
    "app/channels/application_cable/channel.rb" => <<~RUBY,
      module ApplicationCable
        class Channel < ActionCable::Channel::Base
        end
      end
    RUBY
    "app/channels/room_channel.rb" => <<~RUBY
      class RoomChannel < ApplicationCable::Channel
        def subscribed
          stream_from "room:\#{params[:room]}"
        end

        def speak(data)
          ActionCable.server.broadcast("room:\#{params[:room]}", { "text" => data["text"], "from" => user })
        end
      end
    RUBY
  }.freeze
  CHANGED = %w[config/routes.rb config/application.rb config/cable.yml config/anycable.yml].freeze
end

# `bin/rails g anycable:rs:install`: the pieces on their own, then the whole generator applied
# (twice) to a minimal Rails app in a temporary directory, which then serves a stock
# @rails/actioncable client from real Puma.
RSpec.describe AnyCable::RS::Generators::InstallGenerator do
  def adapters(text)
    YAML.safe_load(ERB.new(text).result).transform_values { |section| section && section["adapter"] }
  end

  def run_in_process(dir)
    out = StringIO.new
    $stdout = out
    described_class.start([], destination_root: dir)
    out.string
  ensure
    $stdout = STDOUT
  end

  describe ".with_adapter" do
    let(:envs) { %w[development test production] }

    it "sets adapter: anycable_rs in Rails' default cable.yml, comments out url and channel_prefix" do
      updated = described_class.with_adapter(InstallGeneratorSpec::CABLE_YML, "anycable_rs", envs)
      expect(adapters(updated)).to eq("development" => "anycable_rs", "test" => "anycable_rs", "production" => "anycable_rs")
      expect(updated).to include(
        %(  # url: <%= ENV.fetch("REDIS_URL") { "redis://localhost:6379/1" } %>  # unused by adapter: anycable_rs\n),
        "  # channel_prefix: app_production  # unused by adapter: anycable_rs\n"
      )
      expect(YAML.safe_load(ERB.new(updated).result)["production"]).to eq("adapter" => "anycable_rs")
      expect(described_class.with_adapter(updated, "anycable_rs", envs)).to eq(updated)
    end

    it "adds a missing adapter line or section, keeping anchors and comments" do
      text = "# cable\ndefault: &default\n  url: x\n\ndevelopment:\n  <<: *default\n  # no adapter here\n"
      updated = described_class.with_adapter(text, "anycable_rs", envs)
      expect(updated).to start_with("# cable\ndefault: &default\n  url: x\n\n" \
                                    "development:\n  adapter: anycable_rs\n  <<: *default\n")
      expect(YAML.safe_load(updated, aliases: true)).to include(
        "development" => { "adapter" => "anycable_rs", "url" => "x" },
        "test" => { "adapter" => "anycable_rs" }, "production" => { "adapter" => "anycable_rs" }
      )
    end
  end

  describe "config/anycable.yml" do
    around do |example|
      Dir.mktmpdir("anycable-rs-generator") do |dir|
        @dir = dir
        FileUtils.mkdir_p(File.join(dir, "config"))
        File.write(File.join(dir, "config/routes.rb"), "Rails.application.routes.draw do\nend\n")
        File.write(File.join(dir, "config/application.rb"),
                   "module App\n  class Application < Rails::Application\n  end\nend\n")
        example.run
      end
    end

    let(:file) { File.join(@dir, "config/anycable.yml") }

    it "lists every setting, commented out with its default, and changes no setting" do
      run_in_process(@dir)
      text = File.read(file)
      expect(AnyCable::RS::Config.keys.reject { |key| text.match?(/^  # #{key}:/) }).to eq([])
      expect(text).to include(%(  # path: "/cable"\n), %(  # ping_interval: 3\n), %(  # headers: ["cookie"]\n))
      expect(text.lines.grep(/^\s+[a-z_]+:/)).to be_empty # no setting is active
      AnyCable::RS::Config::SECRETS.each { |key| expect(text).to match(/^  # #{key}:\n/) } # never a value
      expect(YAML.safe_load(ERB.new(text).result).keys).to eq(%w[default development test production])

      %w[development test production].each do |env|
        config = AnyCable::RS::Config.load({}, path: file, environment: env)
        expect(config.warnings).to eq([]), "#{env}: #{config.warnings.inspect}"
        expect(config.to_h).to eq(AnyCable::RS::Config.load({}, path: "/nonexistent.yml", environment: env).to_h)
      end
    end

    it "leaves an app that mounts AnyCable::RS.server in its routes as it is, with a note" do
      routes = %(Rails.application.routes.draw do\n  mount AnyCable::RS.server => "/cable"\nend\n)
      File.write(File.join(@dir, "config/routes.rb"), routes)
      output = run_in_process(@dir)
      expect(File.read(File.join(@dir, "config/routes.rb"))).to eq(routes)
      expect(File.read(File.join(@dir, "config/application.rb"))).not_to include("anycable_rs.mount")
      expect(output).to include("mounts AnyCable::RS.server: kept")
    end

    it "creates cable.yml when it is missing and leaves an existing anycable.yml alone" do
      File.write(file, "default:\n  ping_interval: 7\n")
      output = run_in_process(@dir)
      expect(File.read(file)).to eq("default:\n  ping_interval: 7\n")
      expect(output).to include("config/anycable.yml exists", "Next:")
      expect(adapters(File.read(File.join(@dir, "config/cable.yml"))).values.uniq).to eq(["anycable_rs"])
    end
  end

  describe "applied to a Rails app" do
    around do |example|
      Dir.mktmpdir("anycable-rs-install") do |dir|
        @app = dir
        InstallGeneratorSpec::APP_FILES.each do |path, text|
          FileUtils.mkdir_p(File.dirname(File.join(dir, path)))
          File.write(File.join(dir, path), text)
        end
        File.chmod(0o755, File.join(dir, "bin/rails"))
        FileUtils.mkdir_p(%w[log tmp].map { |sub| File.join(dir, sub) })
        example.run
      ensure
        stop_puma
      end
    end

    def app_env
      { "BUNDLE_GEMFILE" => File.join(@app, "Gemfile"), "RAILS_ENV" => "development", "RACK_ENV" => "development",
        "BUNDLE_SILENCE_ROOT_WARNING" => "1" }
    end

    def app!(*cmd)
      out, status = Bundler.with_unbundled_env { Open3.capture2e(app_env, *cmd, chdir: @app) }
      expect(status).to be_success, "#{cmd.join(" ")} failed:\n#{out}"
      out
    end

    def digests
      InstallGeneratorSpec::CHANGED.to_h do |path|
        file = File.join(@app, path)
        [path, File.exist?(file) && Digest::SHA256.file(file).hexdigest]
      end
    end

    def start_puma
      @port = FreePort.pick
      @log = File.join(@app, "log", "puma.log")
      @puma = Bundler.with_unbundled_env do
        Process.spawn(app_env, "bundle", "exec", "puma", "-b", "tcp://127.0.0.1:#{@port}", "-t", "5:5", "config.ru",
                      chdir: @app, out: @log, err: %i[child out], pgroup: true)
      end
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60
      until up?
        raise "Puma exited during boot:\n#{File.read(@log)}" if Process.wait(@puma, Process::WNOHANG)
        raise "Puma did not answer within 60 s:\n#{File.read(@log)}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.1
      end
    end

    def up?
      Net::HTTP.start("127.0.0.1", @port, open_timeout: 1, read_timeout: 5) { |http| http.get("/up").code == "200" }
    rescue SystemCallError, IOError, Net::OpenTimeout, Net::ReadTimeout
      false
    end

    def stop_puma
      return unless @puma

      Process.kill("TERM", -@puma)
      Timeout.timeout(20) { Process.wait(@puma) }
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    rescue Timeout::Error
      Process.kill("KILL", -@puma)
      Process.wait(@puma)
    ensure
      @puma = nil
    end

    def client(user)
      IntegrationSupport::NodeCableClient.new(url: "ws://127.0.0.1:#{@port}/cable", origin: "http://localhost:#{@port}",
                                              cookie: "user=#{user}", name: user).tap { |c| @clients << c }
    end

    it "serves /cable with anycable-rs (config.anycable_rs.mount), idempotently, and the app then serves a stock client" do
      run_scenario
    end

    def run_scenario
      Bundler.with_unbundled_env do
        out, status = Open3.capture2e(app_env, "bundle", "install", "--local", "--quiet", chdir: @app)
        raise("bundle install --local failed in #{@app}:\n#{out}") unless status.success?
      end
      before = digests
      first = app!("bundle", "exec", "bin/rails", "g", "anycable:rs:install")
      expect(first).to include("gsub  config/routes.rb", "config/cable.yml", "create  config/anycable.yml", "Next:")
      after = digests
      expect(InstallGeneratorSpec::CHANGED.select { |path| before[path] == after[path] }).to eq([]) # each one changed

      routes = File.read(File.join(@app, "config/routes.rb"))
      expect(routes).to include(%(  # mount ActionCable.server => "/cable"  # served by anycable-rs))
      expect(File.read(File.join(@app, "config/application.rb"))).to match(/^    config\.anycable_rs\.mount = true$/)
      expect(adapters(File.read(File.join(@app, "config/cable.yml"))).values.uniq).to eq(["anycable_rs"])
      expect(File.read(File.join(@app, "config/anycable.yml"))).to include("# ping_interval: 3")

      second = app!("bundle", "exec", "bin/rails", "g", "anycable:rs:install")
      expect(digests).to eq(after), "a second run changed files:\n#{second}"
      expect(second).not_to include("create ", "gsub ", "update ", "environment ")

      start_puma
      @clients = []
      alice = client("alice")
      bob = client("bob")
      alice.subscribe!("room", { channel: "RoomChannel", room: "lobby" }, timeout: 15)
      welcome = alice.wait_for("frame") { |e| e.dig("data", "type") == "welcome" }["data"]
      expect(welcome["sid"]).to be_a(String) # anycable-rs answered: Action Cable's welcome has no sid
      bob.subscribe!("room", { channel: "RoomChannel", room: "lobby" }, timeout: 15)
      bob.perform("room", "speak", { text: "hello" })
      expect(alice.wait_for_received("room", timeout: 10)).to eq("text" => "hello", "from" => "bob")
      expect(bob.wait_for_received("room", timeout: 10)).to eq("text" => "hello", "from" => "bob")
    rescue StandardError, RSpec::Expectations::ExpectationNotMetError
      warn "\n--- #{@log} ---\n#{File.read(@log).lines.last(60).join}" if @log && File.exist?(@log)
      raise
    ensure
      @clients&.each(&:stop)
    end
  end
end
