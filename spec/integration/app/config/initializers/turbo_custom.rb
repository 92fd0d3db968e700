# frozen_string_literal: true

# CABLE_TURBO_CUSTOM=1: the app customises turbo-rails' channel, as apps do to authorise
# streams; its subscribes must then run this code (spec/integration/turbo_spec.rb).
if ENV["CABLE_TURBO_CUSTOM"] == "1" && defined?(Turbo::Engine)
  Rails.application.config.to_prepare do
    Turbo::StreamsChannel.class_eval do
      def subscribed
        ApplicationCable.count_call("turbo_subscribe", current_user)
        name = verified_stream_name_from_params
        # A rule only the app knows: no `forbidden` subscriptions.
        name && !params[:forbidden] ? stream_from(name) : reject
      end
    end
  end
end
