# frozen_string_literal: true

require "English"

module AnyCable
  module RS
    # The Ruby threads of the in-process RPC bridge. Each one takes jobs from the bridge
    # (waiting without the GVL), runs the handler's `connect`/`command`/`disconnect` with the
    # GVL, and answers the job. They stop when the bridge is closed and drained. A thread that
    # ends any other way (Thread#kill, an exception escaping its loop) is replaced at once and
    # counted (`replaced`), so the pool keeps its size for the life of the process.
    class Workers
      # Jobs taken per wake-up: fewer GVL round trips when calls pile up.
      BATCH = 8
      # Seconds a worker waits without the GVL before checking in (Thread#kill and shutdown wake
      # it at once; workers get no signals, so this need not be short).
      WAIT = 1.0

      attr_reader :threads, :size, :replaced

      # Set by at_exit, which runs before Ruby kills the remaining threads: those are not
      # replaced (that would make the exit kill replacements forever).
      @exiting = false
      at_exit { @exiting = true }

      class << self
        def exiting?
          @exiting
        end
      end

      def initialize(bridge, handler, size:, logger:)
        @bridge = bridge
        @handler = handler
        @size = size
        @logger = logger
        @threads = []
        @replaced = 0
        @lock = Mutex.new
      end

      def start
        @threads = Array.new(@size) { |index| spawn(index) }
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

      # The thread starts with interrupts deferred (it inherits the mask it is created under), so
      # a Thread#kill that comes before `work` still runs the ensure and gets it replaced.
      def spawn(index)
        Thread.handle_interrupt(Object => :never) do
          thread = Thread.new do
            finished = false
            begin
              Thread.handle_interrupt(Object => :immediate) { work }
              finished = true
            ensure
              replace(index, $ERROR_INFO) unless finished
            end
          end
          thread.name = "anycable-rs-worker-#{index}"
          thread
        end
      end

      # Runs in the dying thread's ensure; a replacement whose bridge is closed ends at once.
      def replace(index, error)
        return if Workers.exiting?

        @lock.synchronize do
          @threads[index] = spawn(index)
          @replaced += 1
        end
        why = error ? "#{error.class}: #{error.message}" : "killed"
        @logger.warn("anycable-rs: bridge worker thread #{index} ended (#{why}); started a replacement " \
                     "(#{@replaced} so far)")
      rescue ThreadError
        nil # the process is exiting: no new threads
      end

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
