# frozen_string_literal: true

Rails.application.routes.draw do
  # Under anycable-rs, its Railtie mounts AnyCable::RS.server at /cable (config.anycable_rs.mount).
  mount ActionCable.server => "/cable" if CABLE_SERVER == "action_cable"

  get "/up", to: "health#show"
  get "/stats", to: "health#stats"
  post "/broadcast", to: "broadcasts#create"
end
