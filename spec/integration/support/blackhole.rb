# frozen_string_literal: true

require "open3"

module IntegrationSupport
  # Makes clients vanish the way a phone leaving the network does, with no FIN: an nftables
  # table drops every packet from or to one loopback address (loopback packets pass the output
  # hook once each way), so what the server sends is never acknowledged. Needs root and nft
  # (Debian: nftables); bin/test installs it.
  module Blackhole
    TABLE = "anycable_rs_spec_blackhole"

    def self.drop(address)
      rules = <<~NFT
        table inet #{TABLE} {
          chain out {
            type filter hook output priority 0; policy accept;
            ip saddr #{address} drop
            ip daddr #{address} drop
          }
        }
      NFT
      output, status = Open3.capture2e("nft", "-f", "-", stdin_data: rules)
      raise "nft refused the blackhole rules (root is needed): #{output}" unless status.success?

      yield
    ensure
      system("nft", "delete", "table", "inet", TABLE, err: File::NULL)
    end
  end
end
