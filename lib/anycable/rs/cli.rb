# frozen_string_literal: true

require "optparse"

module AnyCable
  module RS
    # The `anycable-rs` command.
    #
    #   anycable-rs rpc [--host 127.0.0.1:50051] [--require config/environment.rb]
    #
    # `rpc` boots the Rails application (config/environment.rb of the current directory, or the
    # file given with --require) and serves its channels over gRPC (AnyCable's RPC service) until
    # SIGTERM or SIGINT, then stops gracefully: running calls finish within `shutdown_timeout`.
    # The address defaults to ANYCABLE_RPC_HOST, else 127.0.0.1:50051 (AnyCable's default);
    # settings come from ANYCABLE_* and the app's AnyCable::RS.configure, as for the node
    # (`rpc_pool_size` worker threads run the calls).
    class CLI
      DEFAULT_HOST = "127.0.0.1:50051"
      DEFAULT_APP = "config/environment.rb"

      def initialize(argv, out: $stdout, err: $stderr, env: ENV)
        @argv = argv.dup
        @out = out
        @err = err
        @env = env
      end

      # Runs the command; returns the exit status.
      def run
        case (command = @argv.shift)
        when "rpc" then rpc
        when "-v", "--version" then version
        when nil, "-h", "--help", "help" then usage(command.nil? ? 1 : 0)
        else
          @err.puts("anycable-rs: unknown command #{command.inspect}")
          usage(1)
        end
      rescue OptionParser::ParseError, Error => e
        @err.puts("anycable-rs: #{e.message}")
        1
      end

      private

      def rpc
        options = { host: @env["ANYCABLE_RPC_HOST"].to_s.strip, app: nil }
        options[:host] = DEFAULT_HOST if options[:host].empty?
        rpc_options(options).parse!(@argv)
        raise OptionParser::InvalidArgument, "unexpected #{@argv.join(" ")}" unless @argv.empty?

        $stdout.sync = true # a server's log lines go out as they are written
        boot(options[:app] || File.join(Dir.pwd, DEFAULT_APP))
        RPCServer.new(host: options[:host]).run ? 0 : 1
      end

      def rpc_options(options)
        OptionParser.new do |parser|
          parser.banner = "Usage: anycable-rs rpc [options]"
          parser.on("--host HOST:PORT", "Address to listen on (default: ANYCABLE_RPC_HOST or #{DEFAULT_HOST})") do |host|
            options[:host] = host
          end
          parser.on("-r", "--require PATH", "The application to load (default: ./#{DEFAULT_APP})") do |path|
            options[:app] = path
          end
        end
      end

      # Loads the application, then anycable-rs (when the app did not): the app first, so that
      # the gem's Railtie is defined before the app initializes.
      def boot(path)
        path = File.expand_path(path)
        raise Error, "no application at #{path} (run in the app's directory, or pass --require PATH)" unless File.file?(path)

        require path
        require "anycable-rs"
      end

      def version
        require "anycable/rs/version"
        @out.puts("anycable-rs #{VERSION}")
        0
      end

      def usage(status)
        (status.zero? ? @out : @err).puts(<<~USAGE)
          Usage: anycable-rs rpc [--host HOST:PORT] [--require PATH]

            rpc    Serve this Rails app's channels over gRPC (AnyCable's RPC) to anycable-go or
                   anycable-rs nodes (rpc_host: HOST:PORT), until SIGTERM or SIGINT.
        USAGE
        status
      end
    end
  end
end
