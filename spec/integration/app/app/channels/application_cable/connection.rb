# frozen_string_literal: true

module ApplicationCable
  # Identifies the user by the `user` cookie (or `?user=` query parameter); "reject" or none is
  # refused. What connect saw is kept as an identifier (a JSON string) so that it survives a
  # stateless server that rebuilds the connection for every command.
  class Connection < ActionCable::Connection::Base
    identified_by :current_user, :connect_info

    def connect
      user = cookies[:user].presence || request.params[:user].presence
      reject_unauthorized_connection if user.nil? || user == "reject"

      self.current_user = user
      self.connect_info = ApplicationCable.request_info(request).merge("user" => user).to_json
      ApplicationCable.count_call("connect", user)
    end

    def disconnect
      ApplicationCable.log({ "event" => "disconnect", "user" => current_user })
    end
  end

  # What a spec can check about the WebSocket handshake request.
  def self.request_info(request)
    {
      "url" => request.url,
      "host" => request.host,
      "token" => request.headers["X-Api-Token"],
      "authorization" => request.headers["Authorization"],
      "params" => request.query_parameters,
      "cookie" => request.cookies["user"]
    }
  end

  # Appends one line per call to CABLE_CALLS_LOG when it is set (any process, any worker): what
  # the restart specs count to see that a restored session cost no call.
  def self.count_call(call, user)
    path = ENV.fetch("CABLE_CALLS_LOG", nil)
    File.open(path, "a") { |file| file.puts(JSON.generate("call" => call, "user" => user, "pid" => Process.pid)) } if path
  end

  # Reports a callback to the "log" stream (LogChannel) that specs listen on. Broadcasts may
  # be delivered out of order, so "at" (monotonic nanoseconds) tells the order they ran in.
  def self.log(event)
    event = event.merge("at" => Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond))
    ActionCable.server.broadcast("log", event)
    # Also on disk when asked, for what must be observed while no client is connected (shutdown).
    path = ENV.fetch("CABLE_EVENTS_LOG", nil)
    File.open(path, "a") { |file| file.puts(JSON.generate(event)) } if path
  end
end
