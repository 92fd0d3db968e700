# frozen_string_literal: true

module AnyCable
  module RS
    # Removes one cause of Puma workers hanging on shutdown under Ruby >= 3.3 (Puma issue
    # #3677, fixed on Puma's main branch after 8.0.2, in no release yet). A worker's TERM
    # handler wakes the server thread by writing to a pipe with the buffered `IO#<<`; when
    # that write meets the server thread's `IO#close` of the same pipe, Ruby 3.3's close waits
    # forever, the worker never exits and, on a deploy, is killed after
    # `worker_shutdown_timeout`: its WebSocket clients never hear `server_restart`. Puma's
    # master repeats TERM every 0.2 s while it waits, so the race is met often. A single
    # unbuffered `write(2)` takes no such lock.
    #
    # Applied by the Railtie when the app runs with Puma (`apply` is a no-op elsewhere, on
    # Ruby < 3.3, and on a Puma whose `notify_safely` already writes unbuffered). Hangs with
    # the same symptom (the server thread waiting in `IO#close` of the pipe) still happen with
    # it: see docs/architecture.md §3.
    module PumaShutdownFix
      def self.apply
        return false if RUBY_VERSION < "3.3" || !defined?(::Puma)

        require "puma/server"
        return false unless ::Puma::Server.private_method_defined?(:notify_safely)
        return false if ::Puma::Server.ancestors.include?(self) || unbuffered?(::Puma::Server.instance_method(:notify_safely))

        ::Puma::Server.prepend(self)
        true
      end

      # Whether Puma's own method already uses syswrite (a Puma release with the fix).
      def self.unbuffered?(method)
        file, line = method.source_location
        file && File.foreach(file).drop(line - 1).first(15).join.include?("syswrite")
      rescue SystemCallError
        false
      end

      private

      def notify_safely(message)
        notify = @notify
        notify.syswrite(message) if notify && !notify.closed?
      rescue IOError, NoMethodError, Errno::EPIPE, Errno::EBADF
        nil # the server thread is shutting down and closed the pipe already
      end
    end
  end
end
