# frozen_string_literal: true

require "stringio"
require "uri"

module AnyCable
  module RS
    module Rails
      # Builds the Rack env of the request that opened a WebSocket from an AnyCable RPC `Env`
      # (`url` + `headers`), so the app's connection class sees `cookies`, `request.params`,
      # `request.headers` and `request.url` as it would under Action Cable.
      #
      # Upgrade headers are left out on purpose: without them Action Cable never builds a
      # WebSocket driver of its own for the connection.
      module RequestEnv
        SCHEMES = { "ws" => "http", "wss" => "https", "http" => "http", "https" => "https" }.freeze
        DEFAULT_PORTS = { "http" => 80, "https" => 443 }.freeze
        UPGRADE_HEADERS = %w[connection upgrade].freeze
        # Distinct URLs whose parsed Rack env is kept: every call of a connection repeats its URL,
        # and parsing it is a tenth of a `perform`'s cost. Past this many the cache starts over.
        URL_CACHE_SIZE = 256

        HEADER_KEYS = {} # rubocop:disable Style/MutableConstant -- a cache, filled under the GVL
        @url_envs = {}

        class << self
          # env: {"url" => "wss://host/cable?x=1", "headers" => {"cookie" => "...", "REMOTE_ADDR" => "..."}}
          def build(env)
            rack_env = url_env(env["url"].to_s).dup
            rack_env["rack.input"] = StringIO.new("".b)
            (env["headers"] || {}).each do |name, value|
              key = header_key(name.to_s)
              rack_env[key] = value if key
            end
            rack_env
          end

          private

          # The frozen URL part of the env, parsed once per URL. Hash reads and writes are atomic
          # under the GVL; two threads parsing the same new URL at once both get a correct env.
          def url_env(url)
            @url_envs[url] ||= begin
              @url_envs = {} if @url_envs.size >= URL_CACHE_SIZE
              parse_url(url).transform_values { |value| value.is_a?(String) ? value.freeze : value }.freeze
            end
          end

          def parse_url(url)
            uri = URI.parse(url.to_s)
            scheme = SCHEMES[uri.scheme]
            unless scheme && uri.host
              raise ArgumentError, "env.url must be an absolute ws(s):// or http(s):// URL, got #{url.inspect}"
            end

            port = uri.port || DEFAULT_PORTS.fetch(scheme)
            {
              "REQUEST_METHOD" => "GET",
              "SCRIPT_NAME" => "",
              "PATH_INFO" => uri.path.empty? ? "/" : uri.path,
              "QUERY_STRING" => uri.query.to_s,
              "SERVER_NAME" => uri.hostname,
              "SERVER_PORT" => port.to_s,
              "SERVER_PROTOCOL" => "HTTP/1.1",
              "HTTP_HOST" => port == DEFAULT_PORTS[scheme] ? uri.host : "#{uri.host}:#{port}",
              "HTTPS" => scheme == "https" ? "on" : "off",
              "rack.url_scheme" => scheme,
              "rack.errors" => $stderr,
              "rack.multithread" => true
            }
          end

          # "cookie" → HTTP_COOKIE, "x-api-key" → HTTP_X_API_KEY, "REMOTE_ADDR" stays; upgrade headers → nil.
          # Memoised: the configured header names are few.
          def header_key(name)
            HEADER_KEYS.fetch(name) do
              key = rack_key(name)
              HEADER_KEYS.size < URL_CACHE_SIZE ? HEADER_KEYS[name.dup.freeze] = key : key
            end
          end

          def rack_key(name)
            return "REMOTE_ADDR" if name.casecmp?("REMOTE_ADDR")
            return if UPGRADE_HEADERS.include?(name.downcase)

            "HTTP_#{name.upcase.tr("-", "_")}"
          end
        end
      end
    end
  end
end
