# frozen_string_literal: true

RSpec.describe "AnyCable::RS::Native (the compiled extension)" do
  it "is loaded from this Ruby's build and reports the engine version" do
    expect($LOADED_FEATURES.grep(%r{anycable/rs/#{Regexp.escape(RUBY_VERSION[/\A\d+\.\d+/])}/anycable_rs\.so\z}))
      .not_to be_empty
    expect(AnyCable::RS::Native::ENGINE_VERSION).to eq(AnyCable::RS::VERSION)
  end

  it "validates settings in Rust and raises the Ruby-defined ConfigError" do
    config = AnyCable::RS::Native::EngineConfig.new("headers" => "Cookie, X-Api-Key", ping_interval: "5")
    expect(config.to_h).to include("headers" => %w[cookie x-api-key], "ping_interval" => 5)
    expect { AnyCable::RS::Native::EngineConfig.new("max_message_size" => 0) }
      .to raise_error(AnyCable::RS::ConfigError, /`max_message_size`: expected a size in bytes/)
  end

  it "refuses values that are not plain data with a TypeError" do
    expect { AnyCable::RS::Native::EngineConfig.new("path" => Object.new) }
      .to raise_error(TypeError, /expected plain data.*got Object/)
    expect { AnyCable::RS::Native::EngineConfig.new(1 => "x") }
      .to raise_error(TypeError, /keys must be strings or symbols/)
  end

  it "refuses data that contains itself (or nests too deep) with an ArgumentError, not a stack overflow" do
    cyclic = []
    cyclic << cyclic
    expect { AnyCable::RS::Native::EngineConfig.new("allowed_origins" => cyclic) }
      .to raise_error(ArgumentError, /nested deeper than 64 levels/)
    deep = (1..100).reduce("x") { |inner, _| { "k" => inner } }
    expect { AnyCable::RS::Native::EngineConfig.new("metrics_tags" => deep) }
      .to raise_error(ArgumentError, /nested deeper than 64 levels/)
  end

  it "names a bad redis_url without its password" do
    expect { AnyCable::RS::Native::EngineConfig.new("redis_url" => "http://:hunter2@cache.internal:6379") }
      .to raise_error(AnyCable::RS::ConfigError) { |error|
        expect(error.message).to include("http://:[FILTERED]@cache.internal:6379")
        expect(error.message).not_to include("hunter2")
      }
  end

  it "survives GC pressure while converting nested data" do
    GC.stress = true
    hash = AnyCable::RS::Native::EngineConfig.new("allowed_origins" => ["https://a.test", :"https://b.test"]).to_h
    GC.stress = false
    expect(hash["allowed_origins"]).to eq(%w[https://a.test https://b.test])
  ensure
    GC.stress = false
  end
end
