# frozen_string_literal: true

Rails.application.routes.draw do
  # WebSockets are served by anycable-rs' Rust hub inside this Puma process. (CABLE_SERVER=
  # action_cable serves them with stock Action Cable instead: bench/ compares the two.)
  if ENV["CABLE_SERVER"] == "action_cable"
    mount ActionCable.server => "/cable"
  else
    mount AnyCable::RS.server => "/cable"
  end

  root "rooms#index"
  post "/join", to: "rooms#join", as: :join
  get "/rooms/:room", to: "rooms#show", as: :room, constraints: { room: /[\w-]{1,40}/ }
  get "/action_cable.js", to: "action_cable_client#show", as: :action_cable_client
end
