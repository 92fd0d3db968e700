# frozen_string_literal: true

desc "Run the gem's RSpec suite (spec/)"
task spec: :compile do
  sh "rspec", chdir: ROOT
end

namespace :spec do
  desc "Run the test-app's RSpec suite, browser system specs included"
  task app: :compile do
    Bundler.with_unbundled_env do
      sh "bundle", "exec", "rspec", chdir: File.join(ROOT, "test-app")
    end
  end
end
