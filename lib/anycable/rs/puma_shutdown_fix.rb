# frozen_string_literal: true

module AnyCable
  module RS
    # Keeps Puma from hanging on SIGTERM under Ruby >= 3.3 (Puma issue #3677).
    #
    # The cause is Ruby's: when `IO#close` finds another thread inside a read or write of the
    # same descriptor, it interrupts that thread and waits until it reports that it left, and
    # the report locks a Mutex (`thread_io_wake_pending_closer` in Ruby 3.3's thread.c). Puma
    # wakes its server thread by writing to a pipe from its TERM handler, and Puma's master
    # repeats TERM every 0.2 s while it waits; when such a write meets the server thread's
    # close of that pipe, the report runs in the signal handler, where Ruby refuses to lock a
    # Mutex ("can't be called from trap context"), so it is never made and the close waits
    # forever (fixed in Ruby's master by ruby/ruby#13684, after 3.3.x). The worker never exits,
    # its clients never hear `server_restart`, and a deploy kills it after
    # `worker_shutdown_timeout`.
    #
    # So the wake-up is written by a thread of its own: not a trap context, it can report as
    # Ruby expects, and the close returns. Applied by the Railtie when the app runs with Puma
    # (`apply` is a no-op elsewhere and on Ruby < 3.3).
    module PumaShutdownFix
      # Longest wait of the signal handler for the writing thread (a pipe write does not block).
      WRITE_WAIT = 1

      def self.apply
        return false if RUBY_VERSION < "3.3" || !defined?(::Puma)

        require "puma/server"
        return false unless ::Puma::Server.private_method_defined?(:notify_safely)
        return false if ::Puma::Server.ancestors.include?(self)

        ::Puma::Server.prepend(self)
        true
      end

      # Writes `message` to the server's wake-up pipe unless it is closed already.
      def self.wake(notify, message)
        notify.syswrite(message) unless notify.closed?
      rescue IOError, Errno::EPIPE, Errno::EBADF
        nil # the server thread is shutting down and closed the pipe already
      end

      private

      def notify_safely(message)
        notify = @notify
        return unless notify

        Thread.new { PumaShutdownFix.wake(notify, message) }.join(WRITE_WAIT)
        nil
      end
    end
  end
end
