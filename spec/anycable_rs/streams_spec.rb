# frozen_string_literal: true

require "anycable/rs"

# AnyCable's signed stream names ($pubsub): the format of AnyCable's gems, signed with
# streams_secret (default: secret). The engine's side is ext/engine/src/streams/signed.rs; a
# name signed here is verified there in spec/integration/turbo_spec.rb.
RSpec.describe AnyCable::RS::Streams do
  around do |example|
    saved = AnyCable::RS.instance_variable_get(:@config)
    AnyCable::RS.instance_variable_set(:@config, AnyCable::RS::Config.new({ "secret" => "app-secret" }))
    example.run
  ensure
    AnyCable::RS.instance_variable_set(:@config, saved)
  end

  it "signs as AnyCable does: URL-safe Base64 of the JSON name, then the hex HMAC-SHA256 of it" do
    signed = described_class.signed("chat/42?")
    encoded, signature = signed.split("--")
    expect(Base64.urlsafe_decode64(encoded)).to eq('"chat/42?"')
    expect(signature).to eq(OpenSSL::HMAC.hexdigest("SHA256", "app-secret", encoded))
    expect(described_class.verified(signed)).to eq("chat/42?")
  end

  it "verifies only its own names" do
    signed = described_class.signed("room")
    expect(described_class.verified(signed.sub(/.\z/) { |c| c == "0" ? "1" : "0" })).to be_nil
    expect(described_class.verified("#{Base64.urlsafe_encode64('"other"')}--#{signed.split("--").last}")).to be_nil
    ["", "--", "room", nil, "a--b--c"].each { |junk| expect(described_class.verified(junk)).to be_nil }
  end

  it "prefers streams_secret and says when there is no key" do
    AnyCable::RS.instance_variable_set(:@config, AnyCable::RS::Config.new({ "secret" => "a", "streams_secret" => "s" }))
    encoded, signature = described_class.signed("x").split("--")
    expect(signature).to eq(OpenSSL::HMAC.hexdigest("SHA256", "s", encoded))
    AnyCable::RS.instance_variable_set(:@config, AnyCable::RS::Config.new({}))
    expect { described_class.signed("x") }.to raise_error(ArgumentError, /streams_secret/)
  end

  it "names streamables as Action Cable does, and is AnyCable::Streams" do
    record = Struct.new(:to_gid_param).new("Z2lk")
    expect(described_class.name_from([record, :messages])).to eq("Z2lk:messages")
    expect(AnyCable::Streams).to be(described_class)
  end
end
