# frozen_string_literal: true

module ApplicationCable
  # Identifies the chatter by the name kept in the encrypted cookie set on joining.
  class Connection < ActionCable::Connection::Base
    identified_by :current_user

    def connect
      self.current_user = cookies.encrypted[:user_name].presence || reject_unauthorized_connection
    end
  end
end
