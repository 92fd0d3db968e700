# frozen_string_literal: true

require "socket"

# A TCP port on 127.0.0.1 that the kernel reports free right now, for the servers specs start
# (Puma, Redis, the demo). Shared by the gem's specs and test-app's.
module FreePort
  def self.pick
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end
end
