# frozen_string_literal: true

require "anycable/rs/version"
require "anycable/rs/errors"
require "anycable/rs/native"
require "anycable/rs/config"

module AnyCable
  # anycable-rs: Action Cable / AnyCable WebSockets served by a Rust (tokio) hub inside the
  # application's own process. Nothing starts at require time.
  module RS
    class << self
      # The process-wide settings: defaults, then ANYCABLE_* environment variables.
      def config
        @config ||= Config.from_env
      end

      # Yields the settings for changes: `AnyCable::RS.configure { |c| c.ping_interval = 5 }`.
      def configure
        yield config
        config
      end
    end
  end
end
