# frozen_string_literal: true

# POST /broadcast {"stream": "...", "message": <any JSON value>}: a broadcast made outside any
# WebSocket connection, as a model callback or a job would.
class BroadcastsController < ActionController::API
  def create
    body = JSON.parse(request.raw_post)
    ActionCable.server.broadcast(body.fetch("stream"), body.fetch("message"))
    head :no_content
  end
end
