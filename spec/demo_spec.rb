# frozen_string_literal: true

require "fileutils"
require "net/http"
require "open3"
require "socket"
require "timeout"
require_relative "support/free_port"

# The README's first command: bin/demo must bring the chat up, answer HTTP 200 on `/` and serve
# `/cable` to the stock @rails/actioncable client (spec/integration/client/demo_check.mjs).
RSpec.describe "bin/demo" do
  # Installing and compiling may take long on a cold machine (within bin/test the suite has
  # compiled already: then it takes seconds); booting after that may not.
  def build_timeout = Integer(ENV.fetch("DEMO_build_timeout", 1800))
  def boot_timeout = Integer(ENV.fetch("DEMO_boot_timeout", 120))

  def get(port, path)
    Net::HTTP.start("127.0.0.1", port, open_timeout: 1, read_timeout: 5) { |http| http.get(path) }
  rescue SystemCallError, Net::OpenTimeout, Net::ReadTimeout, EOFError
    nil
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Waits for the log line that ends the build, then for the first answer on `/`.
  def wait_for_demo(pid, port, log)
    started = now
    built_at = nil
    loop do
      raise "bin/demo exited early:\n#{File.read(log)}" if Process.wait(pid, Process::WNOHANG)

      built_at ||= now if File.read(log).include?("chat at http://localhost:#{port}")
      if built_at
        response = get(port, "/")
        return response if response
        raise "bin/demo compiled but did not answer within #{boot_timeout} s:\n#{File.read(log)}" if now - built_at > boot_timeout
      elsif now - started > build_timeout
        raise "bin/demo did not finish installing and compiling within #{build_timeout} s:\n#{File.read(log)}"
      end
      sleep 0.25
    end
  end

  it "serves the test-app chat on $PORT, / and /cable" do
    port = FreePort.pick
    log = File.join(ROOT, "tmp", "demo-spec.log")
    FileUtils.mkdir_p(File.dirname(log))
    File.write(log, "")
    env = { "PORT" => port.to_s, "BUNDLE_GEMFILE" => nil, "RUBYOPT" => nil }
    pid = Process.spawn(env, File.join(ROOT, "bin/demo"), out: log, err: log, pgroup: true)
    response = wait_for_demo(pid, port, log)
    expect(response.code).to eq("200")
    expect(response.body).to include("Your name", "/action_cable.js")
    expect(get(port, "/action_cable.js").code).to eq("200")

    out, status = Open3.capture2e("node", File.join(ROOT, "spec/integration/client/demo_check.mjs"), "http://127.0.0.1:#{port}")
    expect(status).to be_success, "the stock client's check failed:\n#{out}\nbin/demo's log:\n#{File.read(log)}"
    expect(out).to include("demo check passed")
    # bin/test compiled the extension already: the demo must not compile it again.
    expect(File.read(log)).not_to include("Compiling ")
  ensure
    if pid
      begin
        Process.kill("TERM", -pid)
        Timeout.timeout(20) { Process.wait(pid) }
      rescue Errno::ESRCH, Errno::ECHILD
        nil # already gone (and reaped)
      end
    end
  end
end
