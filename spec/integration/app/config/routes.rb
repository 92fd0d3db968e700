# frozen_string_literal: true

Rails.application.routes.draw do
  if CABLE_SERVER == "anycable_rs"
    mount AnyCable::RS.server => "/cable"
  else
    mount ActionCable.server => "/cable"
  end

  get "/up", to: "health#show"
  get "/stats", to: "health#stats"
  post "/broadcast", to: "broadcasts#create"
end
