# frozen_string_literal: true

# What turbo-rails renders broadcasts with (ApplicationController.render).
class ApplicationController < ActionController::Base
  layout false
end
