# frozen_string_literal: true

require "fileutils"
require "open3"
require "tmpdir"

# What bin/demo and bin/test say when they cannot install something themselves
# (bin/lib/setup.sh): one line that says what to do.
RSpec.describe "bin/lib/setup.sh" do
  # Runs SCRIPT after sourcing a copy of setup.sh that any user can read, with ENV only.
  def run_setup(script, env:, as_nobody: false)
    Dir.mktmpdir("setup-sh") do |dir|
      FileUtils.mkdir_p(File.join(dir, "bin/lib"))
      FileUtils.cp(File.join(ROOT, "bin/lib/setup.sh"), File.join(dir, "bin/lib"))
      FileUtils.chmod_R("a+rX", dir)
      command = ["bash", "-c", "source #{dir}/bin/lib/setup.sh; #{script}"]
      command = %w[setpriv --reuid=nobody --regid=nogroup --clear-groups] + command if as_nobody
      out, err, status = Open3.capture3(env, *command, unsetenv_others: true, chdir: dir)
      [out, err, status]
    end
  end

  it "asks in one line for rustup when cargo is missing" do
    _out, err, status = run_setup("need_cargo", env: { "PATH" => "/usr/bin:/bin", "HOME" => "/nonexistent" })
    expect(status.exitstatus).to eq(1)
    expect(err.lines.size).to eq(1)
    expect(err).to include("install it with rustup (https://rustup.rs)")
  end

  it "gives the apt-get command in one line when it may not install packages" do
    skip "needs root to run the script as another user" unless Process.uid.zero?

    _out, err, status = run_setup("need_packages anycable-rs-no-such-package",
                                  env: { "PATH" => "/usr/sbin:/usr/bin:/sbin:/bin", "HOME" => "/nonexistent" }, as_nobody: true)
    expect(status.exitstatus).to eq(1)
    expect(err.lines.size).to eq(1)
    expect(err).to include("needs root or passwordless sudo",
                           "sudo apt-get install -y -q --no-install-recommends anycable-rs-no-such-package")
  end
end
