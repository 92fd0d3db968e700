# frozen_string_literal: true

# A room that shows who is in it: AnyCable's presence API, which anycable-rs serves
# (spec/integration/presence_spec.rb). Each user is present as their name; `away` leaves the
# presence set while staying subscribed.
class PresenceChannel < ApplicationCable::Channel
  def subscribed
    stream_from "presence:#{params[:room]}"
    join_presence(id: current_user, info: { name: current_user.to_s.capitalize })
  end

  def away
    leave_presence(current_user)
  end
end
