# frozen_string_literal: true

require "base64"
require "json"
require "openssl"

module AnyCable
  module RS
    # AnyCable's signed stream names, for the `$pubsub` channel (docs/hotwire.md):
    # `Streams.signed("chat/42")` gives the name a client subscribes with
    # (`{"channel":"$pubsub","signed_stream_name":...}`); the engine verifies it with
    # `streams_secret` (default: `secret`) and never calls the app. The format is AnyCable's,
    # so names signed by anycable-rails (and the clients holding them) keep working. Also
    # reachable as `AnyCable::Streams` when AnyCable's own gem does not define it.
    module Streams
      SEPARATOR = "--"

      class << self
        # `stream_name` signed with the streams secret.
        def signed(stream_name)
          encoded = ::Base64.urlsafe_encode64(::JSON.dump(stream_name))
          "#{encoded}#{SEPARATOR}#{signature(encoded)}"
        end

        # The stream name `signed_stream_name` carries, or nil when it is not signed with the
        # streams secret.
        def verified(signed_stream_name)
          encoded, given = signed_stream_name.to_s.split(SEPARATOR, 2)
          return if encoded.to_s.empty? || given.nil?

          expected = signature(encoded)
          return unless given.bytesize == expected.bytesize && OpenSSL.fixed_length_secure_compare(expected, given)

          ::JSON.parse(::Base64.urlsafe_decode64(encoded))
        rescue ArgumentError, ::JSON::ParserError
          nil
        end

        # The stream name of a set of streamables, as Action Cable and turbo-rails join them:
        # records by their GlobalID, the rest by `to_param`, with ":".
        def name_from(streamables)
          if streamables.is_a?(Array)
            streamables.map { |streamable| name_from(streamable) }.join(":")
          else
            (streamables.to_gid_param if streamables.respond_to?(:to_gid_param)) || streamables.to_s
          end
        end

        private

        def signature(encoded)
          key = RS.config.streams_secret || RS.config.secret
          raise ArgumentError, "streams signing secret is missing: set streams_secret (or secret)" unless key

          OpenSSL::HMAC.hexdigest("SHA256", key, encoded)
        end
      end

      # View helper (as AnyCable's Rails gem names it): the signed name of `streamables` for a
      # `$pubsub` subscription, e.g. `signed_stream_name([room, :messages])`.
      module Helper
        def signed_stream_name(streamables)
          Streams.signed(Streams.name_from(streamables))
        end
      end
    end
  end

  Streams = RS::Streams unless const_defined?(:Streams, false)
end
