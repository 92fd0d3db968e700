# frozen_string_literal: true

# Rejects the subscription when the `reject` param is truthy.
class GateChannel < ApplicationCable::Channel
  def subscribed
    if params[:reject]
      reject
    else
      stream_from "gate:#{current_user}"
    end
  end
end
