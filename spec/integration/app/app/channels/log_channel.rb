# frozen_string_literal: true

# Where `unsubscribed` and `disconnect` report that they ran (ApplicationCable.log).
class LogChannel < ApplicationCable::Channel
  def subscribed
    stream_from "log"
  end
end
