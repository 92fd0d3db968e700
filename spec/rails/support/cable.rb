# frozen_string_literal: true

require "concurrent/array"
require "concurrent/map"

# The app code the RPC handler runs: a GlobalID model, the connection and the channels.
module RPCHandlerSpec
  # What the app's callbacks did, in order ([event, details...]); cleared before each example.
  EVENTS = Concurrent::Array.new

  # A tiny in-memory model with GlobalID (GlobalID's default locator calls User.find).
  class User
    include GlobalID::Identification

    STORE = Concurrent::Map.new

    attr_reader :id, :name

    def self.create(id, name)
      STORE[id] = new(id, name)
    end

    def self.find(id)
      STORE.fetch(Integer(id)) { raise KeyError, "User #{id} not found" }
    end

    def initialize(id, name)
      @id = id
      @name = name
    end
  end

  class Connection < ActionCable::Connection::Base
    # Rails < 7.1 has no command callbacks: declare the same chain Rails 7.1's
    # ActionCable::Connection::Callbacks declares, so the handler's support for it is exercised here too.
    unless respond_to?(:before_command)
      include ActiveSupport::Callbacks
      define_callbacks :command

      def self.before_command(*methods, &)
        set_callback(:command, :before, *methods, &)
      end
    end

    identified_by :current_user, :token
    state_attr_accessor :seen

    before_command do
      EVENTS << [:before_command, token]
      throw :abort if token == "halt"
    end

    def connect
      raise ArgumentError, "connect exploded" if request.params[:explode]

      reject_unauthorized_connection if request.params[:token] == "reject"
      return close(reason: "custom", reconnect: true) if request.params[:token] == "close"

      self.token = request.params[:token]
      user_id = cookies.encrypted[:user_id]
      self.current_user = User.find(user_id) if user_id
      self.seen = {
        "url" => request.url,
        "api_key" => request.headers["X-Api-Key"],
        "ip" => request.remote_ip,
        "ssl" => request.ssl?,
        "plain_cookie" => cookies[:plain]
      }
    end

    def disconnect
      EVENTS << [:disconnect, token, current_user&.name]
      raise "disconnect exploded" if token == "explode-on-disconnect"
    end
  end

  class ApplicationChannel < ActionCable::Channel::Base
  end

  class ChatChannel < ApplicationChannel
    state_attr_accessor :room, :joined_by, :count

    def subscribed
      reject if params[:room] == "secret"
      self.room = params[:room]
      self.joined_by = current_user
      self.count = 0
      transmit({ hello: room })
      stream_from "chat:#{room}"
    end

    def unsubscribed
      EVENTS << [:unsubscribed, room, joined_by&.name, count, token]
    end

    def arrive(data)
      join_presence("chat:#{room}", id: current_user&.name, info: { name: data["as"] })
    end

    def depart
      leave_presence(current_user&.name)
    end

    def speak(data)
      self.count = count + 1
      transmit({ said: data["body"], by: current_user&.name, room: room, count: count })
    end

    def ping
      transmit({ pong: true, token: token, seen: connection.seen })
    end

    def follow(data)
      stream_for User.find(data["user_id"])
    end

    def unfollow(data)
      stop_stream_for User.find(data["user_id"])
    end

    def leave
      stop_stream_from "chat:#{room}"
    end

    def quit
      stop_all_streams
    end

    def explode
      raise ArgumentError, "speak failed"
    end

    def kick
      connection.close(reason: "kicked", reconnect: false)
    end

    def in_executor
      transmit({ executor: Rails.application.executor.active? })
    end
  end

  # Uses what a stateless call cannot honour: a stream callback and a periodic timer.
  class TickerChannel < ApplicationChannel
    periodically every: 1 do
      transmit({ tick: true })
    end

    def subscribed
      stream_from("ticker") { |message| transmit(message) }
    end
  end

  class BrokenChannel < ApplicationChannel
    def unsubscribed
      raise "unsubscribed exploded"
    end
  end
end
