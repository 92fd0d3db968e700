# frozen_string_literal: true

# Single mode by default; PUMA_WORKERS=2 runs cluster mode with preload_app! (each worker
# then starts its own WebSocket node on first use), or without it when PUMA_PRELOAD=0 (each
# worker boots the app: what a phased restart, SIGUSR1, needs).
threads 5, 5
workers_count = Integer(ENV.fetch("PUMA_WORKERS", 0))
if workers_count.positive?
  workers workers_count
  # Puma 7 and later preload by default: off must be said.
  preload_app!(ENV["PUMA_PRELOAD"] != "0")
end
bind "tcp://127.0.0.1:#{Integer(ENV.fetch("PORT", 3000))}"
environment ENV.fetch("RAILS_ENV", "test")
