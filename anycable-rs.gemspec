# frozen_string_literal: true

require_relative "lib/anycable/rs/version"

Gem::Specification.new do |spec|
  spec.name = "anycable-rs"
  spec.version = AnyCable::RS::VERSION
  spec.authors = ["anycable-rs contributors"]
  spec.summary = "Action Cable / AnyCable WebSockets on a Rust hub inside your Rails app's own Puma process"
  spec.description = <<~DESC
    Serves Action Cable clients from a tokio hub running inside the Rails process: mount it in
    config/routes.rb and the same Puma that serves HTTP holds thousands of WebSocket clients,
    with the app's channels unchanged and AnyCable's wire contracts (RPC, broadcasting).
  DESC
  spec.homepage = "https://github.com/anycable-rs/anycable-rs"
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"
  spec.metadata["rubygems_mfa_required"] = "true"

  # bench/'s manifest and sources ride along only because the cargo workspace lists them.
  spec.files = Dir[
    "lib/**/*.rb", "lib/generators/**/*.tt", "exe/*", "ext/**/*.{rs,rb,toml,proto,lua}", "bench/Cargo.toml", "bench/src/**/*.rs",
    "Cargo.toml", "Cargo.lock", "rustfmt.toml", "README.md", "LICENSE", "anycable-rs.gemspec"
  ] - Dir["ext/engine/proto/codegen/**/*"] # the code generator of rpc.proto runs in a checkout only
  spec.require_paths = ["lib"]
  # `anycable-rs rpc`: the app's channels served over gRPC to anycable-go or other nodes.
  spec.bindir = "exe"
  spec.executables = ["anycable-rs"]
  spec.extensions = ["ext/anycable_rs/extconf.rb"]
end
