# frozen_string_literal: true

# GET /up: the harness polls it until Puma serves requests.
class HealthController < ActionController::API
  def show
    render plain: "ok #{CABLE_SERVER}"
  end

  # GET /stats: anycable-rs' live clients and streams in this process, and its RPC calls so far
  # ({} under Action Cable).
  def stats
    return render(json: {}) unless CABLE_SERVER == "anycable_rs"

    render json: AnyCable::RS.stats.merge("rpc_call_total" => AnyCable::RS.metrics.fetch("rpc_call_total", 0))
  end

  # GET /anycable_rails: what AnyCable's Rails gem, when loaded (CABLE_WITH_ANYCABLE_RAILS),
  # says and started.
  def anycable_rails
    return render(json: { "loaded" => false }) unless defined?(::AnyCable::Rails::Railtie)

    render json: { "loaded" => true, "enabled" => ::AnyCable::Rails.enabled?, "embedded" => ::AnyCable.config.embedded?,
                   "cli_loaded" => !defined?(::AnyCable::CLI).nil?,
                   "grpc_threads" => Thread.list.count { |thread| thread.name.to_s.match?(/grpc|rpc/i) } }
  end
end
