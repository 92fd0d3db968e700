# frozen_string_literal: true

require "anycable/rs"

# AnyCable's JWT identification tokens as AnyCable::RS::JWT makes them: HS256, identifiers JSON
# in `ext`, `exp`. The engine's side is ext/engine/src/identity/jwt.rs (whose test reads a
# token of anycable-core); spec/integration/jwt_spec.rb connects with these tokens.
RSpec.describe AnyCable::RS::JWT do
  around do |example|
    saved = AnyCable::RS.instance_variable_get(:@config)
    AnyCable::RS.instance_variable_set(:@config, AnyCable::RS::Config.new({ "secret" => "app", "jwt_ttl" => 60 }))
    example.run
  ensure
    AnyCable::RS.instance_variable_set(:@config, saved)
  end

  def parts(token)
    header, claims, signature = token.split(".")
    [JSON.parse(Base64.urlsafe_decode64(header)), JSON.parse(Base64.urlsafe_decode64(claims)), header, claims, signature]
  end

  it "signs HS256 tokens with the identifiers in ext and an exp after jwt_ttl" do
    record = Struct.new(:to_gid_param).new("Z2lkOi8vYXBwL1VzZXIvMQ")
    header, claims, *signed, signature = parts(described_class.encode(current_user: record, room: 1))
    expect(header).to eq("alg" => "HS256")
    expect(JSON.parse(claims["ext"])).to eq("current_user" => "Z2lkOi8vYXBwL1VzZXIvMQ", "room" => 1)
    expect(claims["exp"]).to be_within(2).of(Time.now.to_i + 60)
    digest = OpenSSL::HMAC.digest("SHA256", "app", signed.join("."))
    expect(signature).to eq(Base64.urlsafe_encode64(digest, padding: false))
  end

  it "takes jwt_secret over secret, an explicit expiry, and no expiry with ttl 0" do
    AnyCable::RS.instance_variable_set(:@config, AnyCable::RS::Config.new({ "secret" => "app", "jwt_secret" => "jwt" }))
    _, claims, *signed, signature = parts(described_class.encode({ user: "a" }, expires_at: Time.at(2_000_000_000)))
    expect(claims["exp"]).to eq(2_000_000_000)
    expect(signature).to eq(Base64.urlsafe_encode64(OpenSSL::HMAC.digest("SHA256", "jwt", signed.join(".")), padding: false))
    expect(parts(described_class.encode({ user: "a" }, ttl: 0))[1]).not_to have_key("exp")
  end

  it "says when there is no key, and is AnyCable::JWT" do
    AnyCable::RS.instance_variable_set(:@config, AnyCable::RS::Config.new({}))
    expect { described_class.encode(user: "a") }.to raise_error(ArgumentError, /jwt_secret/)
    expect(AnyCable::JWT).to be(described_class)
  end
end
