# frozen_string_literal: true

# An action that takes a while and reports the most naps that ran at once in this process (the
# RPC server's, when the channels run remotely): how many calls the WebSocket server had in
# flight at once.
class SlowChannel < ApplicationCable::Channel
  LOCK = Mutex.new
  @running = 0
  @most = 0

  class << self
    attr_accessor :running, :most

    def count
      LOCK.synchronize do
        self.running += 1
        self.most = [most, running].max
      end
      yield
    ensure
      LOCK.synchronize { self.running -= 1 }
    end
  end

  def nap(data)
    self.class.count { sleep(data.fetch("seconds", 0.2).to_f) }
    transmit({ "napped" => data["n"], "most" => self.class.most })
  end
end
