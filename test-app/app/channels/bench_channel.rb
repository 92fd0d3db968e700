# frozen_string_literal: true

# Used by the load generator in bench/: every subscriber streams "bench"; `echo` measures an
# RPC round trip; `broadcast` fans a payload out to every subscriber.
class BenchChannel < ApplicationCable::Channel
  def subscribed
    stream_from "bench"
  end

  def echo(data)
    transmit(data)
  end

  def broadcast(data)
    ActionCable.server.broadcast("bench", data["payload"])
  end
end
