# frozen_string_literal: true

module AnyCable
  module RS
    # The Ruby threads of the in-process RPC bridge. Each one takes jobs from the bridge
    # (waiting without the GVL), runs the handler's `connect`/`command`/`disconnect` with the
    # GVL, and answers the job. They stop when the bridge is closed and drained.
    class Workers
      # Jobs taken per wake-up: fewer GVL round trips when calls pile up.
      BATCH = 8
      # Seconds a worker waits without the GVL before checking in (Thread#kill and shutdown wake
      # it at once; workers get no signals, so this need not be short).
      WAIT = 1.0

      attr_reader :threads, :size

      def initialize(bridge, handler, size:, logger:)
        @bridge = bridge
        @handler = handler
        @size = size
        @logger = logger
        @threads = []
      end

      def start
        @threads = Array.new(@size) do |index|
          Thread.new do
            Thread.current.name = "anycable-rs-worker-#{index}"
            work
          end
        end
        self
      end

      # How many worker threads are no longer running (killed, or ended by a bug).
      def dead
        @threads.count { |thread| !thread.alive? }
      end

      # Waits for every worker to finish (after the bridge was closed).
      def join(timeout)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        @threads.all? do |thread|
          thread.join([deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max)
        end
      end

      private

      def work
        while (jobs = @bridge.take(BATCH, WAIT))
          begin
            jobs.each { |job| perform(job) }
          ensure
            # Killed or raised mid-batch: no client may be left waiting for an unrun job.
            jobs.each { |job| job.fail("the worker stopped before running it") unless job.answered? }
          end
        end
      end

      def perform(job)
        job.reply(@handler.public_send(job.kind, job.payload))
      rescue StandardError => e
        # The handler turns the app's exceptions into ERROR replies itself; this is a bug in
        # the handler or an unanswerable reply. Fail the call, keep the worker.
        @logger.error("anycable-rs: #{job.kind} job failed: #{e.class}: #{e.message}\n#{e.backtrace&.join("\n")}")
        job.fail("#{e.class}: #{e.message}") unless job.answered?
      end
    end
  end
end
