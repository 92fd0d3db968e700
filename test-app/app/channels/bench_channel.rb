# frozen_string_literal: true

# Used by the load generator in bench/: every subscriber streams "bench"; `echo` measures an
# RPC round trip; `broadcast` fans a payload out to every subscriber. A subscriber with
# `observe: true` streams "bench:left" instead, where every other subscription's
# `unsubscribed` reports (how bench/src/dead_peers.rs sees the server notice vanished peers).
class BenchChannel < ApplicationCable::Channel
  def subscribed
    stream_from(params[:observe] ? "bench:left" : "bench")
  end

  def unsubscribed
    ActionCable.server.broadcast("bench:left", { left: true }) unless params[:observe]
  end

  def echo(data)
    transmit(data)
  end

  def broadcast(data)
    ActionCable.server.broadcast("bench", data["payload"])
  end
end
