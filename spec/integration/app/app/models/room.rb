# frozen_string_literal: true

# A model-like chat room (no database): found by id, named by its GlobalID in stream names,
# as an Active Record model is by turbo-rails.
class Room
  include ActiveModel::Model
  include GlobalID::Identification

  attr_accessor :id

  def self.find(id)
    new(id: id.to_s)
  end
end
