# frozen_string_literal: true

# A model-like chat message that broadcasts itself with turbo-rails' Turbo::Broadcastable
# (rendering app/views/messages/_message.html.erb), as a model with `broadcasts_to` does.
class Message
  include ActiveModel::Model
  include Turbo::Broadcastable

  attr_accessor :id, :room, :body

  def to_key
    [id]
  end

  def persisted?
    true
  end
end
