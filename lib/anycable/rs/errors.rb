# frozen_string_literal: true

module AnyCable
  module RS
    # Base class of every error anycable-rs raises.
    class Error < StandardError; end

    # A setting with an unknown name or a value it does not accept. The message names the
    # key and what it accepts (or the known key nearest to a misspelt one).
    class ConfigError < Error; end
  end
end
