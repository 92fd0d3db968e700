# frozen_string_literal: true

# Tells the client what the server saw of the WebSocket request: once as recorded by
# Connection#connect, once as computed here from the request.
class EchoChannel < ApplicationCable::Channel
  def subscribed
    seen_here = ApplicationCable.request_info(connection.send(:request)).merge("user" => current_user)
    transmit({ "connect" => JSON.parse(connect_info), "channel" => seen_here, "pid" => Process.pid })
  end
end
