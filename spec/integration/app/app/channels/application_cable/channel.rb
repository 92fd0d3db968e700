# frozen_string_literal: true

module ApplicationCable
  class Channel < ActionCable::Channel::Base
    # Channel state that lasts between commands: instance variables under stock Action Cable,
    # AnyCable's `state_attr_accessor` under a stateless server that provides it.
    def self.channel_state(*names)
      if respond_to?(:state_attr_accessor)
        state_attr_accessor(*names)
      else
        attr_accessor(*names)
      end
    end

    private

    def log(event)
      ApplicationCable.log(event.merge("channel" => self.class.name, "user" => current_user))
    end
  end
end
