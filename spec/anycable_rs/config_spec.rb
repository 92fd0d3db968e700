# frozen_string_literal: true

RSpec.describe AnyCable::RS::Config do
  it "starts from AnyCable's defaults" do
    config = described_class.new
    expect(config.path).to eq("/cable")
    expect(config.headers).to eq(["cookie"])
    expect(config.ping_interval).to eq(3)
    expect(config.max_message_size).to eq(65_536)
    expect(config.rpc_concurrency).to eq(28)
    expect(config.redis_channel).to eq("__anycable__")
    expect(config.rpc_host).to be_nil
    expect(config).not_to be_debug
  end

  it "reads ANYCABLE_* variables and REDIS_URL" do
    env = { "ANYCABLE_PING_INTERVAL" => "10", "ANYCABLE_DEBUG" => "1", "REDIS_URL" => "rediss://h:6380", "HOME" => "/x" }
    config = described_class.from_env(env)
    expect(config.ping_interval).to eq(10)
    expect(config).to be_debug
    expect(config.log_level).to eq("debug")
    expect(config.redis_url).to eq("rediss://h:6380")
  end

  it "prefers ANYCABLE_REDIS_URL over REDIS_URL" do
    config = described_class.from_env("ANYCABLE_REDIS_URL" => "redis://a:1", "REDIS_URL" => "redis://b:2")
    expect(config.redis_url).to eq("redis://a:1")
  end

  it "checks every assignment and keeps the old value when one is bad" do
    config = described_class.new
    config.ping_interval = 5
    expect { config.ping_interval = "often" }
      .to raise_error(AnyCable::RS::ConfigError, /invalid value "often" for `ping_interval`/)
    expect { config.update(ping_interval: 9, broadcast_adapter: "pigeon") }
      .to raise_error(AnyCable::RS::ConfigError, /expected one of local, redis, http/)
    expect(config.ping_interval).to eq(5)
  end

  it "names the nearest known key for a misspelt one" do
    expect { described_class.new(pingg_interval: 2) }
      .to raise_error(AnyCable::RS::ConfigError, "unknown setting `pingg_interval`; did you mean `ping_interval`?")
    expect { described_class.new[:redis_chanel] }
      .to raise_error(AnyCable::RS::ConfigError, /did you mean `redis_channel`/)
  end

  it "answers a misspelt accessor with the same ConfigError, not a NoMethodError" do
    config = described_class.new
    expect { config.ping_intervl = 3 }
      .to raise_error(AnyCable::RS::ConfigError, "unknown setting `ping_intervl`; did you mean `ping_interval`?")
    expect { config.redis_chanel }.to raise_error(AnyCable::RS::ConfigError, /did you mean `redis_channel`/)
    expect(config.ping_interval).to eq(3)
    expect(config).not_to respond_to(:ping_intervl=)
    expect { config.to_hash }.to raise_error(NoMethodError) # not a setting's name: Ruby's own error
  end

  it "has the broadcasting settings, with Heroku-friendly TLS defaults" do
    config = described_class.new
    expect(config.to_h).to include("broadcast_adapter" => "local", "redis_url" => nil, "redis_channel" => "__anycable__",
                                   "redis_tls_verify" => false, "redis_tls_ca_cert_path" => nil,
                                   "action_cable_redis" => false, "channel_prefix" => "",
                                   "secret" => nil, "broadcast_key" => nil)
    env = { "ANYCABLE_BROADCAST_ADAPTER" => "redis", "REDIS_URL" => "rediss://h:1", "ANYCABLE_REDIS_TLS_VERIFY" => "true",
            "ANYCABLE_SECRET" => "s", "ANYCABLE_BROADCAST_KEY" => "k" }
    config = described_class.from_env(env)
    expect([config.broadcast_adapter, config.redis_url, config.redis_tls_verify]).to eq(["redis", "rediss://h:1", true])
    expect([config.secret, config.broadcast_key]).to eq(%w[s k])
  end

  it "takes broadcast_adapter: redis before redis_url, and says what is missing when it stays missing" do
    config = described_class.new
    config.broadcast_adapter = "redis"
    expect { config.check! }.to raise_error(AnyCable::RS::ConfigError, /`redis_url` must be set: broadcast_adapter is redis/)
    expect(config.redis_url).to be_nil
    config.redis_url = "redis://127.0.0.1:6379/2"
    expect(config.check!).to equal(config)
    expect(config.engine_settings).to include("broadcast_adapter" => "redis", "redis_url" => "redis://127.0.0.1:6379/2")
  end

  it "tells given settings from defaults" do
    config = described_class.from_env("ANYCABLE_CHANNEL_PREFIX" => "app:")
    expect(config.set?(:channel_prefix)).to be(true)
    expect(config.set?(:broadcast_adapter)).to be(false)
  end

  it "keeps secrets out of to_h and inspect, and treats an empty one as unset" do
    config = described_class.new(secret: " hunter2 ", broadcast_key: "", http_rpc_secret: "t0ken")
    expect([config.secret, config.http_rpc_secret]).to eq(%w[hunter2 t0ken])
    expect(config.broadcast_key).to be_nil
    expect(config.to_h).to include("secret" => "[FILTERED]", "http_rpc_secret" => "[FILTERED]", "broadcast_key" => nil)
    expect(config.inspect).not_to include("hunter2", "t0ken")
    expect(AnyCable::RS::Native::EngineConfig.new(config.engine_settings).to_h).to include("secret" => "[FILTERED]")
    # The engine needs them (HTTP RPC's Authorization header); broadcast_key stays on the Ruby side.
    expect(config.engine_settings).to include("secret" => "hunter2", "http_rpc_secret" => "t0ken")
    expect(config.engine_settings).not_to have_key("broadcast_key")
    expect { config.secret = 42 }
      .to raise_error(AnyCable::RS::ConfigError, "invalid value [FILTERED] for `secret`: expected a string")
    expect { config.update(broadcast_kye: "x") }
      .to raise_error(AnyCable::RS::ConfigError, "unknown setting `broadcast_kye`; did you mean `broadcast_key`?")
  end

  it "has the HTTP RPC settings, http_rpc_mount_path defaulting to /_anycable" do
    config = described_class.new
    expect(config.to_h).to include("http_rpc_secret" => nil, "http_rpc_mount_path" => "/_anycable")
    expect(config.set?(:http_rpc_mount_path)).to be(false)
    config = described_class.from_env("ANYCABLE_HTTP_RPC_MOUNT_PATH" => "/rpc", "ANYCABLE_HTTP_RPC_SECRET" => "t")
    expect([config.http_rpc_mount_path, config.http_rpc_secret, config.set?(:http_rpc_mount_path)]).to eq(["/rpc", "t", true])
    expect(described_class.new(http_rpc_mount_path: "").http_rpc_mount_path).to eq("/_anycable")
    expect { config.http_rpc_mount_path = "rpc" }
      .to raise_error(AnyCable::RS::ConfigError,
                      'invalid value "rpc" for `http_rpc_mount_path`: expected a path starting with `/`')
    expect(config.http_rpc_mount_path).to eq("/rpc")
    expect { config.update(http_rpc_mount_pth: "/x") }
      .to raise_error(AnyCable::RS::ConfigError, /did you mean `http_rpc_mount_path`/)
  end

  it "is reachable process-wide through AnyCable::RS.configure" do
    AnyCable::RS.configure { |c| c.headers = %w[cookie authorization] }
    expect(AnyCable::RS.config.headers).to eq(%w[cookie authorization])
  ensure
    AnyCable::RS.config.headers = ["cookie"]
  end
end
