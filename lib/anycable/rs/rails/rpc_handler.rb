# frozen_string_literal: true

require "action_cable"
require_relative "socket"
require_relative "state"
require_relative "identifiers"
require_relative "connection_factory"
require_relative "channel_factory"
require_relative "connection_ext"
require_relative "channel_ext"
require_relative "compat/rails_6_1_to_7_2"

module AnyCable
  module RS
    module Rails
      # The RPC handler: runs a Rails app's own Action Cable connection and channel classes for
      # AnyCable's three RPC calls (Connect, Command, Disconnect), AnyCable-style. Requests and
      # responses are plain Hashes shaped like the AnyCable RPC messages in protobuf-JSON form
      # (snake_case String keys, enums as numbers); see docs/architecture.md §6.2.
      #
      # Every call is stateless: it builds a fresh connection (and channel) from the request's
      # env, identifiers and cstate/istate, runs the app's code against a Socket that records what
      # it does, and answers with that record. Nothing is kept between calls, so any number of
      # threads may share one handler. Exceptions never leave a call: they become status ERROR.
      #
      #   handler = AnyCable::RS::Rails::RPCHandler.new
      #   handler.connect("env" => {"url" => "ws://example.com/cable", "headers" => {"cookie" => "..."}})
      #   # => {"status" => 1, "identifiers" => "{...}", "transmissions" => ["{\"type\":\"welcome\"}"], ...}
      class RPCHandler
        ERROR = 0
        SUCCESS = 1
        FAILURE = 2
        COMMANDS = %w[subscribe unsubscribe message].freeze

        # request: {"env" => {"url", "headers", "cstate"}}
        # => {"status", "identifiers", "transmissions", "error_msg", "env" => {"cstate", "istate"}}
        def connect(request)
          env = request.fetch("env")
          socket = Socket.new(cstate: env["cstate"])
          connection = nil
          within_app do
            connection = ConnectionFactory.build(env, socket)
            status = open_connection(connection, request["sid"])
            identifiers = status == SUCCESS ? Identifiers.dump(connection) : ""
            connect_response(status, socket, identifiers: identifiers)
          end
        rescue Exception => e # rubocop:disable Lint/RescueException -- nothing may escape into the calling worker
          connect_response(ERROR, Socket.new, error_msg: report(:connect, e, connection))
        end

        # request: {"command", "identifier", "connection_identifiers", "data",
        #           "env" => {"url", "headers", "cstate", "istate" (of this identifier)}}
        # => {"status", "disconnect", "stop_streams", "streams", "stopped_streams", "transmissions",
        #     "error_msg", "env" => {"cstate", "istate"}}
        def command(request)
          env = request.fetch("env")
          identifier = request.fetch("identifier")
          socket = Socket.new(cstate: env["cstate"])
          socket.restore_istate(identifier, State.new(env["istate"]))
          connection = nil
          within_app do
            connection = ConnectionFactory.build(env, socket, identifiers: request["connection_identifiers"])
            with_command_callbacks(connection, socket, identifier) { execute_command(connection, socket, request) }
          end
        rescue Exception => e # rubocop:disable Lint/RescueException -- nothing may escape into the calling worker
          command_response(ERROR, Socket.new, nil, error_msg: report(:command, e, connection))
        end

        # request: {"identifiers", "subscriptions" => [identifier, ...],
        #           "env" => {"url", "headers", "cstate", "istate" => {identifier => "<state JSON>"}}}
        # => {"status", "error_msg"}
        #
        # Every subscription is unsubscribed and the connection's `disconnect` is called even when
        # some of them raise; the errors are joined into error_msg.
        def disconnect(request)
          env = request.fetch("env")
          socket = Socket.new(cstate: env["cstate"])
          connection = nil
          errors = within_app do
            connection = ConnectionFactory.build(env, socket, identifiers: request["identifiers"])
            istates = env["istate"] || {}
            results = Array(request["subscriptions"]).map do |identifier|
              attempt(:disconnect, connection) { close_subscription(connection, socket, identifier, istates[identifier]) }
            end
            results << attempt(:disconnect, connection) { connection.disconnect if connection.respond_to?(:disconnect) }
            results.compact
          end
          { "status" => errors.empty? ? SUCCESS : ERROR, "error_msg" => errors.join("; ") }
        rescue Exception => e # rubocop:disable Lint/RescueException -- nothing may escape into the calling worker
          { "status" => ERROR, "error_msg" => report(:disconnect, e, connection) }
        end

        private

        # Runs the block inside the app's reloader (code reloading and the executor's hooks), when
        # there is a Rails application.
        def within_app(&)
          app = ::Rails.application if defined?(::Rails.application)
          app ? app.reloader.wrap(&) : yield
        end

        # Action Cable's handle_open without the socket: `connect`, then the welcome message
        # (with the session id when the server gives one, as AnyCable servers do).
        def open_connection(connection, sid)
          connection.connect if connection.respond_to?(:connect)
          return FAILURE if connection.anycable_rs_socket.closed?

          welcome = { type: ActionCable::INTERNAL[:message_types][:welcome] }
          welcome[:sid] = sid if sid
          connection.transmit(welcome)
          SUCCESS
        rescue ActionCable::Connection::Authorization::UnauthorizedError
          connection.close(reason: ActionCable::INTERNAL[:disconnect_reasons][:unauthorized], reconnect: false)
          FAILURE
        end

        # Rails >= 7.1 runs the connection's before/after/around_command callbacks around every
        # command; a callback that halts the chain means the command is not run.
        def with_command_callbacks(connection, socket, identifier)
          return yield unless connection.class.respond_to?(:before_command)

          response = nil
          connection.run_callbacks(:command) { response = yield }
          response || command_response(FAILURE, socket, identifier, error_msg: "Command halted by a command callback")
        end

        # Action Cable's Connection::Subscriptions#execute_command for one stateless call.
        def execute_command(connection, socket, request)
          command, identifier = request.values_at("command", "identifier")
          raise ArgumentError, "Unknown command: #{command.inspect}" unless COMMANDS.include?(command)

          channel = ChannelFactory.build(connection, identifier)
          return channel_not_found(connection, socket, identifier) unless channel

          status =
            case command
            when "subscribe" then subscribe(channel)
            when "unsubscribe" then unsubscribe(channel, socket)
            else perform(channel, request["data"])
            end
          command_response(status, socket, identifier)
        rescue Exception => e # rubocop:disable Lint/RescueException -- as Action Cable: the app's rescue_from sees every error
          connection.rescue_with_handler(e)
          raise
        end

        def subscribe(channel)
          channel.subscribe_to_channel
          Compat.subscription_rejected?(channel) ? FAILURE : SUCCESS
        end

        def unsubscribe(channel, socket)
          channel.unsubscribe_from_channel
          socket.stop_all_streams
          SUCCESS
        end

        def perform(channel, data)
          channel.perform_action(ActiveSupport::JSON.decode(data))
          SUCCESS
        end

        def channel_not_found(connection, socket, identifier)
          name = log_channel_not_found(connection, identifier)
          command_response(FAILURE, socket, identifier, error_msg: "Channel not found: #{name}")
        end

        # One subscription of a closed connection: restore its state, run its unsubscribe callbacks.
        def close_subscription(connection, socket, identifier, state_json)
          socket.restore_istate(identifier, State.parse(state_json))
          channel = ChannelFactory.build(connection, identifier)
          if channel
            channel.unsubscribe_from_channel
          else
            log_channel_not_found(connection, identifier)
          end
        end

        # Logs as Action Cable does; returns the channel name.
        def log_channel_not_found(connection, identifier)
          name = ChannelFactory.channel_name(identifier)
          connection.logger.error "Subscription class not found: #{name.inspect}"
          name
        end

        # Runs the block; nil when it succeeds, else the reported error message.
        def attempt(call, connection)
          yield
          nil
        rescue Exception => e # rubocop:disable Lint/RescueException -- one failing subscription must not stop the rest
          report(call, e, connection)
        end

        # Logs the error with its backtrace and returns the RPC error_msg, "Class: message".
        def report(call, error, connection)
          logger = connection&.logger || ActionCable.server.logger
          logger&.error "anycable-rs #{call} failed: #{error.class}: #{error.message}\n#{Array(error.backtrace).join("\n")}"
          "#{error.class}: #{error.message}"
        end

        def connect_response(status, socket, identifiers: "", error_msg: "")
          {
            "status" => status,
            "identifiers" => identifiers,
            "transmissions" => socket.transmissions,
            "error_msg" => error_msg,
            "env" => { "cstate" => socket.cstate.changes, "istate" => {} }
          }
        end

        def command_response(status, socket, identifier, error_msg: "")
          {
            "status" => status,
            "disconnect" => socket.closed?,
            "stop_streams" => socket.stop_streams?,
            "streams" => socket.streams,
            "stopped_streams" => socket.stopped_streams,
            "transmissions" => socket.transmissions,
            "error_msg" => error_msg,
            "env" => { "cstate" => socket.cstate.changes, "istate" => socket.istate(identifier).changes },
            "presence" => socket.presence
          }.compact
        end
      end
    end
  end
end
