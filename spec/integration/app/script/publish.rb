# frozen_string_literal: true

# Publishes from a process of the app that serves no WebSocket clients, as `rails runner`, a
# console or a job worker would: the app's environment, then Action Cable's own API.
#
#   ruby script/publish.rb broadcast STREAM MESSAGE_JSON
#   ruby script/publish.rb disconnect IDENTIFIERS_JSON [reconnect]
#     IDENTIFIERS_JSON: every identified_by value, e.g. {"current_user":"u1","connect_info":{...}};
#     a value that is not a string is encoded with to_json, as Connection#connect encodes it.
require_relative "../config/environment"

command, *args = ARGV
case command
when "broadcast"
  ActionCable.server.broadcast(args.fetch(0), JSON.parse(args.fetch(1)))
when "disconnect"
  identifiers = JSON.parse(args.fetch(0)).to_h { |name, value| [name.to_sym, value.is_a?(String) ? value : value.to_json] }
  remote = ActionCable.server.remote_connections.where(**identifiers)
  args[1] == "false" ? remote.disconnect(reconnect: false) : remote.disconnect
else
  abort "usage: ruby script/publish.rb broadcast STREAM MESSAGE_JSON | disconnect IDENTIFIERS_JSON [reconnect]"
end
puts "published #{command}"
