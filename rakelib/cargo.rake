# frozen_string_literal: true

# The engine's own checks: tests, lints and formatting, as CI runs them.
namespace :cargo do
  desc "cargo test (engine and extension)"
  task(:test) { sh "cargo", "test", "--workspace", chdir: ROOT }

  desc "cargo clippy with warnings as errors"
  task(:clippy) { sh "cargo", "clippy", "--workspace", "--all-targets", "--", "-D", "warnings", chdir: ROOT }

  desc "cargo fmt --check"
  task(:fmt) { sh "cargo", "fmt", "--all", "--check", chdir: ROOT }
end
