# frozen_string_literal: true

require "puma"
require "anycable/rs/puma_shutdown_fix"

# The backport of Puma's unbuffered wake-up write (AnyCable::RS::PumaShutdownFix); the hang it
# prevents is covered by the cluster-mode shutdown examples of the integration specs.
RSpec.describe AnyCable::RS::PumaShutdownFix do
  if RUBY_VERSION >= "3.3"
    it "makes Puma's server wake-up a single unbuffered write that tolerates a closed pipe" do
      described_class.apply
      expect(Puma::Server.ancestors.first(2)).to include(described_class)
      expect(described_class.apply).to be(false) # once is enough

      server = Puma::Server.allocate
      reader, writer = IO.pipe
      server.instance_variable_set(:@notify, writer)
      server.send(:notify_safely, "?")
      expect(reader.read_nonblock(1)).to eq("?") # written through, nothing buffered
      writer.close
      expect(server.send(:notify_safely, "?")).to be_nil
      server.instance_variable_set(:@notify, nil)
      expect(server.send(:notify_safely, "?")).to be_nil
    ensure
      reader&.close
    end
  else
    it "leaves Puma alone on Ruby < 3.3, whose IO#close does not wait for writers" do
      expect(described_class.apply).to be(false)
      expect(Puma::Server.ancestors).not_to include(described_class) if defined?(Puma::Server)
    end
  end
end
