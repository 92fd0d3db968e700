# frozen_string_literal: true

require "active_support/json"
require_relative "serializer"

module AnyCable
  module RS
    module Rails
      # Carries a connection's `identified_by` values between calls as AnyCable's `identifiers`
      # JSON object: a record becomes its GlobalID param (`to_gid_param`, as Action Cable's own
      # connection_identifier does), any other value is kept as is.
      #
      # On restore a GlobalID is located lazily, when the app first reads that identifier, so a
      # command that never touches `current_user` costs no lookup. Until then the instance variable
      # holds the GlobalID string, which keeps `connection_identifier` correct.
      module Identifiers
        class << self
          def dump(connection)
            encode(connection.identifiers) { |name| connection.public_send(name) }
          end

          # The identifiers JSON of the connections a RemoteConnection
          # (`ActionCable.server.remote_connections.where(...)`) stands for: the same keys in the
          # same order as #dump writes them at connect, so it matches them byte for byte.
          def dump_remote(remote_connection)
            encode(remote_connection.identifiers) { |name| remote_connection.instance_variable_get(:"@#{name}") }
          end

          def restore(connection, json)
            return if json.to_s.empty?

            ActiveSupport::JSON.decode(json).each do |name, value|
              next unless connection.identifiers.include?(name.to_sym)

              connection.instance_variable_set(:"@#{name}", value)
              locate_on_first_read(connection, name, value) if Serializer.global_id?(value)
            end
          end

          private

          # names in `identified_by` order; the block gives each one's value. nil values are left out.
          def encode(names)
            values = names.each_with_object({}) do |name, acc|
              value = yield(name)
              acc[name] = value.respond_to?(:to_gid_param) ? value.to_gid_param : value unless value.nil?
            end
            ActiveSupport::JSON.encode(values)
          end

          def locate_on_first_read(connection, name, global_id)
            ivar = :"@#{name}"
            connection.define_singleton_method(name) do
              value = instance_variable_get(ivar)
              value.equal?(global_id) ? instance_variable_set(ivar, Serializer.locate(global_id)) : value
            end
          end
        end
      end
    end
  end
end
