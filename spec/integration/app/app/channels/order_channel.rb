# frozen_string_literal: true

# Transmits inside `subscribed` around starting a stream: all of it must reach the client
# before the confirmation, and the stream must be live once confirmed.
class OrderChannel < ApplicationCable::Channel
  def subscribed
    transmit({ "step" => 1 })
    stream_from "order:#{params[:room]}"
    transmit({ "step" => 2 })
  end
end
