# frozen_string_literal: true

require "fileutils"
require "open3"
require "tmpdir"

RSpec.describe AnyCable::RS::NativeLoader do
  def with_lib_copy
    Dir.mktmpdir do |tmp|
      FileUtils.cp_r(File.join(ROOT, "lib"), tmp)
      yield File.join(tmp, "lib")
    end
  end

  def load_from(lib)
    script = 'require "anycable-rs"; puts $LOADED_FEATURES.grep(/anycable_rs\.so/)'
    # A child Ruby that sees only `lib` (not this bundle, not the checkout's build).
    clean = { "RUBYOPT" => nil, "RUBYLIB" => nil, "BUNDLER_SETUP" => nil, "BUNDLE_GEMFILE" => nil }
    Open3.capture2e(clean, "ruby", "-I", lib, "-e", script)
  end

  let(:per_ruby) { "#{described_class::PRECOMPILED}.so" }
  let(:source_install) { "#{described_class::SOURCE_BUILT}.so" }

  it "says exactly what to run when no build of the extension exists" do
    with_lib_copy do |lib|
      Dir[File.join(lib, "**/*.so")].each { |so| File.delete(so) }
      out, status = load_from(lib)
      expect(status).not_to be_success
      expect(out).to include("LoadError", "native extension (anycable_rs.so) is not built", "bundle exec rake compile",
                             "gem pristine anycable-rs")
    end
  end

  it "prefers the build for this Ruby version" do
    expect(described_class::PRECOMPILED).to eq("anycable/rs/#{RUBY_VERSION[/\A\d+\.\d+/]}/anycable_rs")
    with_lib_copy do |lib|
      File.write(File.join(lib, source_install), "not a shared object: loading it would fail")
      out, status = load_from(lib)
      expect(status).to be_success, out
      expect(out.strip).to end_with(per_ruby)
    end
  end

  it "falls back to the build a source install of the gem made" do
    with_lib_copy do |lib|
      FileUtils.mv(File.join(lib, per_ruby), File.join(lib, source_install))
      out, status = load_from(lib)
      expect(status).to be_success, out
      expect(out.strip).to end_with(source_install)
    end
  end
end
