# frozen_string_literal: true

# anycable-rs hands the app only the request headers it is told to (AnyCable's `headers`
# setting, default: cookie); the specs also read X-Api-Token in connect.
if CABLE_SERVER == "anycable_rs"
  AnyCable::RS.configure { |config| config.headers = %w[cookie x-api-token] }
end
