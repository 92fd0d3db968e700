# frozen_string_literal: true

# A room whose subscribers may whisper (typing indicators): AnyCable's `whisper: true`, which
# anycable-rs honours (spec/integration/whisper_spec.rb).
class WhisperChannel < ApplicationCable::Channel
  def subscribed
    stream_from "whisper:#{params[:room]}", whisper: true
  end
end
