# frozen_string_literal: true

require "fileutils"
require "open3"
require "tmpdir"

RSpec.describe AnyCable::RS::NativeLoader do
  it "says exactly what to run when no build of the extension exists" do
    Dir.mktmpdir do |tmp|
      FileUtils.cp_r(File.join(ROOT, "lib"), tmp)
      Dir[File.join(tmp, "lib/**/*.so")].each { |so| File.delete(so) }
      out, status = Open3.capture2e({ "RUBYOPT" => nil }, "ruby", "-I", File.join(tmp, "lib"), "-e", 'require "anycable-rs"')
      expect(status).not_to be_success
      expect(out).to include("LoadError", "native extension (anycable_rs.so) is not built", "bundle exec rake compile",
                             "gem pristine anycable-rs")
    end
  end

  it "prefers a precompiled build for this Ruby version" do
    expect(described_class::PRECOMPILED).to eq("anycable/rs/#{RUBY_VERSION[/\A\d+\.\d+/]}/anycable_rs")
    Dir.mktmpdir do |tmp|
      FileUtils.cp_r(File.join(ROOT, "lib"), tmp)
      lib = File.join(tmp, "lib")
      so = Dir[File.join(lib, "anycable/rs/anycable_rs.so")].first
      FileUtils.mkdir_p(File.join(lib, File.dirname(described_class::PRECOMPILED)))
      FileUtils.mv(so, File.join(lib, "#{described_class::PRECOMPILED}.so"))
      script = 'require "anycable-rs"; puts $LOADED_FEATURES.grep(/anycable_rs\.so/)'
      out, status = Open3.capture2e({ "RUBYOPT" => nil }, "ruby", "-I", lib, "-e", script)
      expect(status).to be_success, out
      expect(out.strip).to end_with("#{described_class::PRECOMPILED}.so")
    end
  end
end
