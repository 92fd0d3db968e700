# frozen_string_literal: true

# Streams from its room and keeps the room in channel state (istate under a stateless
# server): one subscribe that answers with streams, state and a confirmation.
class RoomChannel < ApplicationCable::Channel
  channel_state :room

  def subscribed
    self.room = params[:room].to_s
    stream_from "room:#{room}"
    ApplicationCable.count_call("subscribed", current_user)
  end
end
