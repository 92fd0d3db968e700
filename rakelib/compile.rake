# frozen_string_literal: true

# Builds the Rust extension with cargo and places it in lib/anycable/rs/<ruby major.minor>/,
# the per-Ruby folder lib/anycable/rs/native.rb tries first: a checkout used by two Rubies
# (the Debian 13 CI entry) keeps one build each. ANYCABLE_RS_PROFILE=dev selects the debug
# profile (faster to build).
require "fileutils"
require "rbconfig"

ROOT = File.expand_path("..", __dir__)

def anycable_rs_profile
  ENV.fetch("ANYCABLE_RS_PROFILE", "release")
end

def anycable_rs_target_dir
  ENV.fetch("CARGO_TARGET_DIR", File.join(ROOT, "target"))
end

desc "Compile the Rust extension into lib/anycable/rs/<ruby>/anycable_rs.so (ANYCABLE_RS_PROFILE=dev: debug build)"
task :compile do
  profile = anycable_rs_profile
  sh "cargo", "build", "--profile", profile, "--package", "anycable_rs", chdir: ROOT
  built = File.join(anycable_rs_target_dir, profile == "dev" ? "debug" : profile, "libanycable_rs.#{RbConfig::CONFIG["SOEXT"]}")
  dest = File.join(ROOT, "lib/anycable/rs", RUBY_VERSION[/\A\d+\.\d+/], "anycable_rs.#{RbConfig::CONFIG["DLEXT"]}")
  FileUtils.mkdir_p(File.dirname(dest))
  # Replace rather than overwrite: a running process may have the old file mapped.
  FileUtils.rm_f(dest)
  FileUtils.cp(built, dest)
end
