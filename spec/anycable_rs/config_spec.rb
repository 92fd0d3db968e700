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

  it "is reachable process-wide through AnyCable::RS.configure" do
    AnyCable::RS.configure { |c| c.headers = %w[cookie authorization] }
    expect(AnyCable::RS.config.headers).to eq(%w[cookie authorization])
  ensure
    AnyCable::RS.config.headers = ["cookie"]
  end
end
