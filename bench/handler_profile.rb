# frozen_string_literal: true

# Times the Rails RPC handler alone (no sockets, no bridge): a `connect` of the test-app's
# connection through AnyCable::RS::Rails::RPCHandler#connect, and a `perform` of
# BenchChannel#echo through #command, as the in-process bridge calls them, and, when Debian's
# ruby-stackprof is installed, prints where a perform's time goes.
#
#   cd test-app && RAILS_ENV=production SECRET_KEY_BASE=x RAILS_LOG_LEVEL=warn \
#     bundle exec rails runner ../bench/handler_profile.rb
require "anycable/rs/rails/rpc_handler"

calls = Integer(ENV.fetch("CALLS", "20000"))
handler = AnyCable::RS::Rails::RPCHandler.new
request = ActionDispatch::TestRequest.create
request.cookie_jar.encrypted[:user_name] = "bench"
cookie = request.cookie_jar.instance_variable_get(:@set_cookies).map { |name, c| "#{name}=#{Rack::Utils.escape(c[:value])}" }
env = { "url" => "http://localhost:3000/cable", "headers" => { "cookie" => cookie.join("; "), "REMOTE_ADDR" => "127.0.0.1" } }

connected = handler.connect("env" => env)
abort "connect failed: #{connected.inspect}" unless connected["status"] == 1
identifier = '{"channel":"BenchChannel"}'
command = lambda do |name, data|
  handler.command("command" => name, "identifier" => identifier, "data" => data,
                  "connection_identifiers" => connected["identifiers"], "env" => env.merge("cstate" => {}, "istate" => {}))
end
abort "subscribe failed" unless command.call("subscribe", "")["status"] == 1
echo = '{"action":"echo","n":1}'
abort "echo failed" unless command.call("message", echo)["status"] == 1

3.times do
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  calls.times { |n| handler.connect("env" => env, "sid" => "bench-#{n}") }
  elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  puts "handler: #{(elapsed / calls * 1e6).round(1)} µs per connect (#{calls} calls)"
end

3.times do
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  calls.times { command.call("message", echo) }
  elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  puts "handler: #{(elapsed / calls * 1e6).round(1)} µs per perform (#{calls} calls)"
end

begin
  stackprof = Dir["/usr/lib/x86_64-linux-gnu/rubygems-integration/*/gems/stackprof-*/lib"].first
  ext = Dir["/usr/lib/x86_64-linux-gnu/rubygems-integration/*/extensions/*/*/stackprof-*"].first
  $LOAD_PATH.unshift(stackprof, ext) if stackprof && ext
  require "stackprof"
rescue LoadError
  puts "(apt-get install ruby-stackprof for a profile)"
  exit
end
profile = StackProf.run(mode: :wall, interval: 20) { calls.times { command.call("message", echo) } }
StackProf::Report.new(profile).print_text(false, 25)
