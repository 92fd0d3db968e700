# frozen_string_literal: true

# Builds the Rust extension with cargo and places it where lib/anycable/rs/native.rb looks
# for a source build. ANYCABLE_RS_PROFILE=dev selects the debug profile (faster to build).
require "fileutils"
require "rbconfig"

ROOT = File.expand_path("..", __dir__)

def anycable_rs_profile
  ENV.fetch("ANYCABLE_RS_PROFILE", "release")
end

def anycable_rs_target_dir
  ENV.fetch("CARGO_TARGET_DIR", File.join(ROOT, "target"))
end

desc "Compile the Rust extension into lib/anycable/rs/anycable_rs.so (ANYCABLE_RS_PROFILE=dev for a debug build)"
task :compile do
  profile = anycable_rs_profile
  sh "cargo", "build", "--profile", profile, "--package", "anycable_rs", chdir: ROOT
  built = File.join(anycable_rs_target_dir, profile == "dev" ? "debug" : profile, "libanycable_rs.#{RbConfig::CONFIG["SOEXT"]}")
  dest = File.join(ROOT, "lib/anycable/rs/anycable_rs.#{RbConfig::CONFIG["DLEXT"]}")
  # Replace rather than overwrite: a running process may have the old file mapped.
  FileUtils.rm_f(dest)
  FileUtils.cp(built, dest)
end
