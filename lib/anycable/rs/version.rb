# frozen_string_literal: true

module AnyCable
  module RS
    VERSION = "0.1.0"
  end
end
