# frozen_string_literal: true

require "anycable/rs"
