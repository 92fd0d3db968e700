# frozen_string_literal: true

require "stringio"
require "tmpdir"

# Config.load: defaults < presets < config/anycable.yml < ANYCABLE_* < configure.
RSpec.describe AnyCable::RS::Config, ".load" do
  let(:dir) { Dir.mktmpdir("anycable-conf") }
  let(:path) { File.join(dir, "anycable.yml") }

  after { FileUtils.rm_rf(dir) }

  def load(env = {}, environment = "production")
    described_class.load(env, path: path, environment: environment)
  end

  def write(yaml)
    File.write(path, yaml)
  end

  it "layers defaults < the file's environment section (ERB) < ANYCABLE_* < configure" do
    write(<<~YAML)
      default: &default
        ping_interval: <%= 2 + 2 %>
        headers: [cookie, x-api-key]
        redis_channel: from_default
      development:
        <<: *default
        ping_interval: 8
      production:
        <<: *default
        redis_channel: from_production
        max_message_size: 1000
    YAML
    config = load("ANYCABLE_MAX_MESSAGE_SIZE" => "2000")
    expect(config.ping_interval).to eq(4)
    expect(config.headers).to eq(%w[cookie x-api-key])
    expect(config.redis_channel).to eq("from_production")
    expect(config.max_message_size).to eq(2000)
    expect(config.path).to eq("/cable")
    expect(config).to be_set(:redis_channel)
    expect(config).not_to be_set(:path)

    config.max_message_size = 3000
    expect(config.max_message_size).to eq(3000)
    expect(load({}, "development").ping_interval).to eq(8)
    expect(load({}, "test").redis_channel).to eq("from_default")
    expect(load.warnings).to eq([])
  end

  it "takes a flat file for every environment and is fine without a file" do
    write("ping_interval: 6\n")
    expect(load.ping_interval).to eq(6)
    File.delete(path)
    expect(load.ping_interval).to eq(3)
  end

  it "takes YAML integers 1 and 0 for booleans, as the docs say" do
    write("debug: 1\nredis_tls_verify: 0\n")
    expect([load.debug, load.redis_tls_verify]).to eq([true, false])
  end

  it "finds the file through ANYCABLE_CONF" do
    write("path: /ws\n")
    expect(described_class.load({ "ANYCABLE_CONF" => path }, environment: "test").path).to eq("/ws")
  end

  it "warns about unknown keys and ANYCABLE_* variables, naming the nearest known key" do
    write("production:\n  ping_intervall: 5\n  redis_chanel: x\n  zzzzzz: 1\n")
    config = load("ANYCABLE_SECRT" => "x", "ANYCABLE_CONF" => path, "ANYCABLE_RS_PROFILE" => "1")
    expect(config.warnings).to contain_exactly(
      "unknown setting `ping_intervall` (in #{path}) ignored; did you mean `ping_interval`?",
      "unknown setting `redis_chanel` (in #{path}) ignored; did you mean `redis_channel`?",
      "unknown setting `zzzzzz` (in #{path}) ignored",
      "unknown setting `secrt` (variable ANYCABLE_SECRT) ignored; did you mean `secret`?"
    )
    expect(config.ping_interval).to eq(3)
  end

  it "names the key and what it accepts for a bad value in the file" do
    write("ping_interval: soon\n")
    expect { load }.to raise_error(AnyCable::RS::ConfigError, /invalid value "soon" for `ping_interval`/)
  end

  it "defaults max_connections to the open-files soft limit minus headroom" do
    soft, = Process.getrlimit(:NOFILE)
    expected = soft == Process::RLIM_INFINITY || soft >= 10_000_000 ? 0 : [soft - (soft / 10) - 100, 1].max
    expect(described_class.new.max_connections).to eq(expected)
    expect(described_class.new(max_connections: "0").max_connections).to eq(0)
  end

  it "filters secrets and URL passwords in to_h" do
    config = described_class.new(secret: "s3cr3t", redis_url: "rediss://:pa55@redis.example:6380/0")
    expect(config.to_h).to include("secret" => "[FILTERED]", "redis_url" => "rediss://:[FILTERED]@redis.example:6380/0")
    expect(config.inspect).not_to include("s3cr3t", "pa55")
    expect(config.redis_url).to eq("rediss://:pa55@redis.example:6380/0")
  end

  describe "Heroku preset" do
    let(:dyno) { { "HEROKU_APP_ID" => "a1", "HEROKU_DYNO_ID" => "d1" } }

    it "is detected from Dyno Metadata or DYNO and supplies defaults" do
      [dyno, { "DYNO" => "web.1" }].each do |env|
        config = load(env)
        expect(config.active_presets).to eq(["heroku"])
        expect([config.max_connections, config.shutdown_timeout]).to eq([9000, 25])
        expect(config).not_to be_set(:max_connections)
      end
      expect(load("HEROKU_APP_ID" => "a1").active_presets).to eq([])
      expect(load.active_presets).to eq([])
    end

    it "with Heroku Redis attached, broadcasts and the broker use it" do
      config = load(dyno)
      expect([config.broadcast_adapter, config.broker]).to eq(%w[local memory])
      config = load(dyno.merge("REDIS_URL" => "rediss://:pw@redis.example:6380"))
      expect([config.broadcast_adapter, config.broker]).to eq(%w[redis redis])
      expect(config.check!).to eq(config)
      config = load(dyno.merge("REDIS_URL" => "redis://r", "ANYCABLE_BROKER" => "memory"))
      expect([config.broadcast_adapter, config.broker]).to eq(%w[redis memory])
      config = load("REDIS_URL" => "redis://r", "ANYCABLE_BROKER" => "redis")
      expect { config.check! }.to raise_error(AnyCable::RS::ConfigError, /`broadcast_adapter: redis` must be set/)
    end

    it "never overrides the file, the environment or configure" do
      write("max_connections: 500\n")
      config = load(dyno.merge("ANYCABLE_SHUTDOWN_TIMEOUT" => "10"))
      expect([config.max_connections, config.shutdown_timeout]).to eq([500, 10])
      config.shutdown_timeout = 3
      expect(config.shutdown_timeout).to eq(3)
    end

    it "is turned off by presets: none or a list without it, and can be chosen explicitly" do
      expect(load(dyno.merge("ANYCABLE_PRESETS" => "none")).active_presets).to eq([])
      write("presets: [broker]\n")
      config = load(dyno)
      expect(config.active_presets).to eq([])
      expect(config.shutdown_timeout).to eq(30)
      expect(config.warnings).to eq(["unknown preset `broker` ignored (known: heroku, none)"])
      expect(load("ANYCABLE_PRESETS" => "heroku").max_connections).to eq(9000)

      config = load(dyno)
      config.presets = "none"
      expect(config.shutdown_timeout).to eq(30)
    end
  end
end

RSpec.describe AnyCable::RS do
  it "logs the effective config once at node start with debug on, secrets filtered" do
    io = StringIO.new
    config = AnyCable::RS::Config.new(debug: true, secret: "s3cr3t")
    allow(described_class).to receive(:config).and_return(config)
    described_class.logger = Logger.new(io)
    described_class.send(:log_config)
    expect(io.string).to include('"debug" => true', '"secret" => "[FILTERED]"', "(presets: none)")
      .or include('"debug"=>true', '"secret"=>"[FILTERED]"', "(presets: none)")
    expect(io.string).not_to include("s3cr3t")
  ensure
    described_class.logger = nil
  end
end
