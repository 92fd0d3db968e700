# frozen_string_literal: true

require "puma"
require "anycable/rs/puma_shutdown_fix"

# Puma's server wake-up written by a thread of its own (AnyCable::RS::PumaShutdownFix); the
# hang it prevents is covered by the shutdown examples of the integration specs (and measured
# by hand: see docs/architecture.md §3).
RSpec.describe AnyCable::RS::PumaShutdownFix do
  if RUBY_VERSION >= "3.3"
    let(:server) { Puma::Server.allocate }
    let(:pipe) { IO.pipe }

    after { pipe.each { |io| io.close unless io.closed? } }

    it "wakes the server from a signal handler, tolerating a closed or missing pipe" do
      described_class.apply
      expect(Puma::Server.ancestors.first(2)).to include(described_class)
      expect(described_class.apply).to be(false) # once is enough

      reader, writer = pipe
      server.instance_variable_set(:@notify, writer)
      woken = Queue.new
      previous = trap("USR2") { woken << server.send(:notify_safely, "?") }
      Process.kill("USR2", Process.pid)
      expect(woken.pop(timeout: 5)).to be_nil
      expect(reader.read_nonblock(1)).to eq("?")
      writer.close
      expect(server.send(:notify_safely, "?")).to be_nil
      server.instance_variable_set(:@notify, nil)
      expect(server.send(:notify_safely, "?")).to be_nil
    ensure
      trap("USR2", previous || "DEFAULT")
    end
  else
    it "leaves Puma alone on Ruby < 3.3, whose IO#close does not wait for writers" do
      expect(described_class.apply).to be(false)
      expect(Puma::Server.ancestors).not_to include(described_class) if defined?(Puma::Server)
    end
  end
end
