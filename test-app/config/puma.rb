# frozen_string_literal: true

threads_count = Integer(ENV.fetch("RAILS_MAX_THREADS", 5))
threads threads_count, threads_count
port Integer(ENV.fetch("PORT", 3000))
environment ENV.fetch("RAILS_ENV", "development")

# Puma cluster mode when WEB_CONCURRENCY > 1 (Heroku sets it from the dyno size). Each worker
# starts its own anycable-rs node on first use; broadcasts reach every worker through Redis.
# WEB_CONCURRENCY=1 (app.json) or 0 is single mode: one process, no master. (`workers` is always
# set: Puma's own default would read WEB_CONCURRENCY=1 as a cluster of one worker.)
workers_count = Integer(ENV.fetch("WEB_CONCURRENCY", 0))
if workers_count > 1
  workers workers_count
  preload_app!
else
  workers 0
end
