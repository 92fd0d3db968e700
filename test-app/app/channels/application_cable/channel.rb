# frozen_string_literal: true

module ApplicationCable
  # Base class of the app's channels.
  class Channel < ActionCable::Channel::Base
  end
end
