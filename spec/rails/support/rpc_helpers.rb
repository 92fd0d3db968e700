# frozen_string_literal: true

require "json"
require "rack/utils"

# Builds RPC requests the way the WebSocket server sends them, and applies response state the
# way it does (deltas merged into the connection's cstate and the identifier's istate).
module RPCHelpers
  CHAT = "RPCHandlerSpec::ChatChannel"

  def request_env(url: "ws://example.com/cable?token=t1", headers: {}, cstate: {}, istate: {})
    { "url" => url, "headers" => { "REMOTE_ADDR" => "1.2.3.4" }.merge(headers), "cstate" => cstate, "istate" => istate }
  end

  # A Cookie header carrying user_id in the app's encrypted cookie jar.
  def encrypted_cookie(user_id)
    request = ActionDispatch::Request.new(Rails.application.env_config.merge("HTTP_HOST" => "example.com"))
    request.cookie_jar.encrypted[:user_id] = user_id
    "user_id=#{Rack::Utils.escape(request.cookie_jar[:user_id])}"
  end

  def identifier_for(channel = CHAT, **params)
    JSON.generate({ channel: channel, **params })
  end

  def run_command(command, identifier, identifiers:, data: nil, cstate: {}, istate: {}, url: "ws://example.com/cable?token=t1")
    handler.command(
      "command" => command, "identifier" => identifier, "connection_identifiers" => identifiers,
      "data" => data, "env" => request_env(url: url, cstate: cstate, istate: istate)
    )
  end

  def message(identifier, action, identifiers:, **data)
    run_command("message", identifier, identifiers: identifiers, data: JSON.generate({ action: action, **data }))
  end

  def confirmation(identifier)
    JSON.generate({ identifier: identifier, type: "confirm_subscription" })
  end

  def transmission(identifier, message)
    JSON.generate({ identifier: identifier, message: message })
  end

  def log
    RPCHandlerSpec::LOG.string
  end
end
