# frozen_string_literal: true

# GET /token?user=alice[&expired=1]: an AnyCable JWT identification token for the user, made by
# AnyCable::JWT.encode as an app's view or API would (spec/integration/jwt_spec.rb).
class TokensController < ActionController::API
  def show
    identifiers = { current_user: params.require(:user), connect_info: { "via" => "jwt" }.to_json }
    expires_at = Time.now - 1 if params[:expired]
    render plain: AnyCable::JWT.encode(identifiers, expires_at: expires_at)
  end
end
