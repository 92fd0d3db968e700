# frozen_string_literal: true

# AnyCable's `state_attr_accessor` called directly (only anycable-rs and AnyCable's Rails gem
# define it), with a String and an Integer kept between commands; `unsubscribed` reports them
# and the connection's identifier. Only subscribed by anycable-rs-only specs.
class CounterChannel < ApplicationCable::Channel
  state_attr_accessor :user, :count

  def subscribed
    self.user = current_user
    self.count = 0
  end

  def bump
    self.count = count + 1
    transmit({ "count" => count, "user" => user })
  end

  def unsubscribed
    ApplicationCable.log({ "event" => "unsubscribed", "channel" => self.class.name, "user" => user,
                           "current_user" => current_user, "count" => count })
  end
end
