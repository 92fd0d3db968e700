# frozen_string_literal: true

require "open3"
require "tmpdir"

# Proves the packaging: `gem build` + `gem install --local` compiles the extension through
# ext/anycable_rs/extconf.rb and `require "anycable-rs"` works from the installed gem alone.
RSpec.describe "gem build and gem install --local" do
  def run!(env, *cmd, chdir:)
    out, status = Open3.capture2e(env, *cmd, chdir: chdir)
    expect(status).to be_success, "#{cmd.join(" ")} failed:\n#{out}"
    out
  end

  it "compiles the Rust core on install and loads from the installed gem" do
    Dir.mktmpdir("anycable-rs-gem") do |tmp|
      gem_file = File.join(tmp, "anycable-rs.gem")
      run!({}, "gem", "build", "anycable-rs.gemspec", "--output", gem_file, chdir: ROOT)

      home = File.join(tmp, "gems")
      # Reuse the checkout's cargo target dir so dependencies are not compiled twice.
      target = ENV.fetch("CARGO_TARGET_DIR", File.join(ROOT, "target"))
      env = { "GEM_HOME" => home, "GEM_PATH" => home, "CARGO_TARGET_DIR" => target,
              "RUBYOPT" => nil, "RUBYLIB" => nil, "BUNDLE_GEMFILE" => nil, "BUNDLER_SETUP" => nil }
      out = run!(env, "gem", "install", "--local", "--no-document", gem_file, chdir: tmp)
      expect(out).to include("Building native extensions", "Successfully installed anycable-rs-#{AnyCable::RS::VERSION}")

      script = 'require "anycable-rs"; so = $LOADED_FEATURES.grep(/anycable_rs\.so/).first; ' \
               "puts AnyCable::RS::Native::ENGINE_VERSION, so, AnyCable::RS.config.path"
      version, loaded_from, path = run!(env, "ruby", "-e", script, chdir: tmp).lines.map(&:chomp)
      expect(version).to eq(AnyCable::RS::VERSION)
      expect(loaded_from).to start_with(home)
      expect(path).to eq("/cable")
      # The `anycable-rs` command (anycable-rs rpc) comes with the gem.
      command = run!(env, File.join(home, "bin", "anycable-rs"), "--version", chdir: tmp)
      expect(command).to eq("anycable-rs #{AnyCable::RS::VERSION}\n")
    end
  end
end
