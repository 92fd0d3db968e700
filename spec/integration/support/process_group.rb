# frozen_string_literal: true

module IntegrationSupport
  # For a helper that spawned a server with `pgroup: true` and keeps its pid in @pid: signals
  # its whole process group and waits for it to exit.
  module ProcessGroup
    private

    # Signals the process group the server leads.
    def signal(name)
      Process.kill(name, -@pid)
    rescue Errno::ESRCH, Errno::EPERM
      nil
    end

    # True once the process has exited (reaped), waiting at most `timeout` seconds.
    def wait_exit(timeout)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      loop do
        return true if Process.wait(@pid, Process::WNOHANG)
        return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) >= deadline

        sleep 0.05
      end
    rescue Errno::ECHILD
      true
    end
  end
end
