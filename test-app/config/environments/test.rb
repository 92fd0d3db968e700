# frozen_string_literal: true

Rails.application.configure do
  config.cache_classes = true
  config.consider_all_requests_local = true
  config.action_controller.allow_forgery_protection = false
  config.secret_key_base = "test-only-secret-key-base-of-the-anycable-rs-test-app"
end
