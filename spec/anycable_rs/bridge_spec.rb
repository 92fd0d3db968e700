# frozen_string_literal: true

require "timeout"

# The worker side of the in-process bridge: waiting for jobs without the GVL must never make a
# Ruby thread unkillable, deaf to Thread#raise or to signals/timeouts, or block other threads.
RSpec.describe AnyCable::RS::Native::Bridge do
  subject(:bridge) { described_class.new(16) }

  def elapsed
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    yield
    Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  end

  it "returns an empty batch after a short slice when no job comes" do
    expect(bridge.take(8, 0.1)).to eq([])
    expect(bridge.size).to eq(0)
  end

  it "lets other Ruby threads run while a worker waits" do
    waiters = Array.new(2) { Thread.new { loop { bridge.take(8, 0.1) } } }
    sleep 0.05
    busy = Thread.new { 2_000_000.times.sum }
    expect(busy.join(2)&.value).to eq(1_999_999_000_000) # would time out if a waiter kept the GVL
    waiters.each { |waiter| waiter.kill.join(2) }
  end

  it "wakes a waiting worker for Thread#kill and Thread#raise" do
    worker = Thread.new { loop { bridge.take(8, 0.1) } }
    sleep 0.05
    expect(elapsed { worker.kill.join(2) }).to be < 0.5
    expect(worker).not_to be_alive

    raised = Thread.new do
      loop { bridge.take(8, 0.1) }
    rescue ArgumentError => e
      e.message
    end
    sleep 0.05
    raised.raise(ArgumentError, "stop waiting")
    expect(raised.value).to eq("stop waiting")
  end

  it "lets Timeout interrupt a wait on the main thread" do
    spent = elapsed do
      expect { Timeout.timeout(0.2) { loop { bridge.take(1, 0.1) } } }.to raise_error(Timeout::Error)
    end
    expect(spent).to be < 1.0
  end

  it "tells workers to stop once closed" do
    workers = Array.new(3) { Thread.new { loop { break :stopped if bridge.take(8, 0.1).nil? } } }
    bridge.close
    expect(workers.map { |w| w.join(2)&.value }).to eq(%i[stopped stopped stopped])
  end
end
