# frozen_string_literal: true

# One stream per room; `speak` broadcasts a message to everyone in the room. Under anycable-rs
# the stream is also the room's whisper stream: the page's typing notices go from client to
# client without reaching this code; and its presence set: the pages show who is here
# (docs/hotwire.md).
class ChatChannel < ApplicationCable::Channel
  def subscribed
    room = params[:room].to_s
    return reject unless RoomsController::ROOM.match?(room)

    stream_from stream_name, whisper: true
    join_presence(id: current_user, info: { name: current_user })
  end

  def speak(data)
    body = data["body"].to_s.strip.first(1000)
    return if body.empty?

    ActionCable.server.broadcast(stream_name, { user: current_user, body: body, sent_at: Time.now.utc.iso8601(3) })
  end

  private

  def stream_name
    "chat:#{params[:room]}"
  end
end
