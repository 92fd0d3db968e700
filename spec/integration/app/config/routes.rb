# frozen_string_literal: true

Rails.application.routes.draw do
  # Under anycable-rs, its Railtie mounts AnyCable::RS.server at /cable (config.anycable_rs.mount).
  mount ActionCable.server => "/cable" if CABLE_SERVER == "action_cable"

  get "/up", to: "health#show"
  get "/stats", to: "health#stats"
  get "/anycable_rails", to: "health#anycable_rails"
  post "/broadcast", to: "broadcasts#create"
  get "/token", to: "tokens#show" if CABLE_SERVER == "anycable_rs"
  if defined?(::Turbo::Engine)
    get "/rooms/:id", to: "rooms#show"
    post "/rooms/:id/messages", to: "rooms#create_message"
    get "/rooms/:id/signed", to: "rooms#signed"
    get "/turbo.js", to: "rooms#turbo_js"
  end
end
