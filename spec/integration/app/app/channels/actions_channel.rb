# frozen_string_literal: true

# Actions with and without data, one that raises, and state kept between commands.
class ActionsChannel < ApplicationCable::Channel
  channel_state :notes

  def subscribed
    self.notes = ""
  end

  # With data: sends back what it received (including "action").
  def echo(data)
    transmit({ "echo" => data })
  end

  # Without data.
  def ping_me
    transmit({ "pong" => current_user })
  end

  def boom(_data)
    raise ArgumentError, "boom requested by the spec"
  end

  # Acknowledges, as commands may run concurrently under stock Action Cable.
  def remember(data)
    self.notes = [notes.presence, data["note"]].compact.join(",")
    transmit({ "remembered" => data["note"] })
  end

  def recall
    transmit({ "notes" => notes })
  end

  def unsubscribed
    log({ "event" => "unsubscribed", "tag" => params[:tag], "notes" => notes })
  end
end
