# frozen_string_literal: true

require "fileutils"
require "net/http"
require "socket"
require "timeout"
require_relative "support/free_port"

# The README's first command: bin/demo must bring the chat up and answer HTTP 200 on `/`.
RSpec.describe "bin/demo" do
  def get(port, path)
    Net::HTTP.start("127.0.0.1", port, open_timeout: 1, read_timeout: 5) { |http| http.get(path) }
  rescue SystemCallError, Net::OpenTimeout, EOFError
    nil
  end

  it "serves the test-app chat on $PORT" do
    port = FreePort.pick
    log = File.join(ROOT, "tmp", "demo-spec.log")
    FileUtils.mkdir_p(File.dirname(log))
    env = { "PORT" => port.to_s, "BUNDLE_GEMFILE" => nil, "RUBYOPT" => nil }
    pid = Process.spawn(env, File.join(ROOT, "bin/demo"), out: log, err: log, pgroup: true)
    response = Timeout.timeout(120) do
      loop do
        raise "bin/demo exited early:\n#{File.read(log)}" if Process.wait(pid, Process::WNOHANG)

        result = get(port, "/")
        break result if result

        sleep 0.25
      end
    end
    expect(response.code).to eq("200")
    expect(response.body).to include("Your name", "/action_cable.js")
    expect(get(port, "/action_cable.js").code).to eq("200")
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
