# frozen_string_literal: true

# GET /up: the harness polls it until Puma serves requests.
class HealthController < ActionController::API
  def show
    render plain: "ok #{CABLE_SERVER}"
  end

  # GET /stats: anycable-rs' live clients and streams in this process ({} under Action Cable).
  def stats
    render json: CABLE_SERVER == "anycable_rs" ? AnyCable::RS.stats : {}
  end
end
