# frozen_string_literal: true

# The bridge without Rails: anycable-rs with a no-op handler (welcome, confirm, echo), so
# `SERVER=bridge bench/run --performers 1 --broadcasts 0` measures the WebSocket + bridge +
# GVL round trip that every RPC call pays; compare with SERVER=ceiling for the overhead.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "anycable-rs"
require "json"

# Answers like an app that accepts everyone and echoes every action's data.
class NoopHandler
  def connect(_request)
    { "status" => 1, "identifiers" => "{}", "transmissions" => ['{"type":"welcome"}'] }
  end

  def command(request)
    identifier = request["identifier"]
    if request["command"] == "subscribe"
      return { "status" => 1, "streams" => ["bench"],
               "transmissions" => [JSON.generate(identifier: identifier, type: "confirm_subscription")] }
    end

    data = JSON.parse(request["data"]).tap { |d| d.delete("action") }
    { "status" => 1, "transmissions" => [JSON.generate(identifier: identifier, message: data)] }
  end

  def disconnect(_request)
    { "status" => 1 }
  end
end

AnyCable::RS.handler = NoopHandler.new
AnyCable::RS.config.allowed_origins = ["*"]
map("/cable") { run AnyCable::RS.server }
# What cable-bench's join expects from the test-app.
map("/join") { run ->(_env) { [302, { "location" => "/", "set-cookie" => "bench=1" }, []] } }
map("/") { run ->(_env) { [200, {}, ['<input name="authenticity_token" value="x">']] } }
