# frozen_string_literal: true

module AnyCable
  module RS
    # The thread ("anycable-rs-log") that hands the engine's log lines to the app's logger
    # (AnyCable::RS.logger: Rails.logger in a Rails app), prefixed "anycable-rs: ", at the
    # severity the engine gave them. The engine formats the lines on its own threads and queues
    # them (bounded: lines that find the queue full are dropped, and a later line says how
    # many); this thread takes them without the GVL.
    #
    # Threads do not survive fork: each process starts its own (AnyCable::RS does, with its
    # node; RPCServer with the gRPC server). `stop` delivers what is queued before it returns,
    # so the lines of a shutdown (clients told server_restart) still reach the logger.
    class LogDrain
      # Lines taken per wake-up.
      BATCH = 256
      # Seconds one take waits without the GVL (`stop` and Thread#kill wake it earlier).
      WAIT = 1.0

      attr_reader :thread

      # logger: a Logger, or something that returns one when called (asked per batch, so a
      # logger assigned later is used).
      def initialize(logger)
        @logger = logger
        @stopping = false
        @thread = nil
      end

      def start
        @thread = Thread.new { run }
        @thread.name = "anycable-rs-log"
        @thread.report_on_exception = false
        self
      end

      # Whether its thread runs in this process and was not asked to stop.
      def running?
        !@stopping && !@thread.nil? && @thread.alive?
      end

      # Delivers the lines queued so far, then ends the thread (within `timeout` seconds).
      # Returns whether it ended in time.
      def stop(timeout: 5)
        return true unless @thread

        @stopping = true
        Native.wake_log_lines
        @thread.join(timeout) ? true : false
      end

      # Delivers the lines queued right now on the calling thread (e.g. when no drain runs).
      def flush
        until (lines = Native.take_log_lines(BATCH, 0)).empty?
          deliver(lines)
        end
      end

      private

      def run
        deliver(Native.take_log_lines(BATCH, WAIT)) until @stopping
        flush
      end

      def deliver(lines)
        logger = @logger.respond_to?(:call) ? @logger.call : @logger
        lines.each { |severity, message| logger.add(severity, "anycable-rs: #{message}") }
      rescue StandardError => e
        # A failing logger must not stop the drain (nor fill the queue forever).
        warn("anycable-rs: cannot write engine log lines: #{e.class}: #{e.message}")
      end
    end
  end
end
