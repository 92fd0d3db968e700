# frozen_string_literal: true

# POST /broadcast {"stream": "...", "message": <any JSON value>}: a broadcast made outside any
# WebSocket connection, as a model callback or a job would. With "count": N, N broadcasts of
# the message with "n" set to 0...N, made in one go as a background job's loop would: inside
# AnyCable::RS.batch_broadcasts on anycable-rs (one call into the node), one by one on stock
# Action Cable.
class BroadcastsController < ActionController::API
  def create
    body = JSON.parse(request.raw_post)
    stream = body.fetch("stream")
    message = body.fetch("message")
    if (count = body["count"])
      batch { count.times { |n| ActionCable.server.broadcast(stream, message.merge("n" => n)) } }
    else
      ActionCable.server.broadcast(stream, message)
    end
    head :no_content
  end

  private

  def batch(&)
    CABLE_SERVER == "anycable_rs" ? AnyCable::RS.batch_broadcasts(&) : yield
  end
end
