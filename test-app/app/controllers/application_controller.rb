# frozen_string_literal: true

# Base controller of the chat app.
class ApplicationController < ActionController::Base
  private

  def current_user
    cookies.encrypted[:user_name].presence
  end
  helper_method :current_user
end
