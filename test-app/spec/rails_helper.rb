# frozen_string_literal: true

ENV["RAILS_ENV"] = "test"
require_relative "../config/environment"
require "rspec/rails"
require "capybara/rspec"

Dir[File.join(__dir__, "support/**/*.rb")].each { |file| require file }

RSpec.configure do |config|
  config.infer_spec_type_from_file_location!
  config.disable_monkey_patching!
  config.order = :random
end
