# frozen_string_literal: true

# Builds anycable_rs.so when the gem is installed from source.
#
# With the rb_sys gem installed (the usual case for users) its mkmf helper drives cargo.
# Without it (machines with no RubyGems access, Debian-packaged Ruby) this writes a small
# Makefile that runs cargo itself. Either way the build uses the release profile unless
# ANYCABLE_RS_PROFILE=dev asks for a debug build, and honours CARGO_TARGET_DIR.
require "mkmf"
require "shellwords"

TARGET = "anycable/rs/anycable_rs"
PROFILE = ENV.fetch("ANYCABLE_RS_PROFILE", "release")

begin
  require "rb_sys/mkmf"
rescue LoadError
  nil
end

if defined?(RbSys)
  create_rust_makefile(TARGET) { |r| r.profile = PROFILE.to_sym }
  return
end

unless find_executable("cargo")
  abort <<~MSG
    anycable-rs needs Rust's cargo to compile its native extension, and cargo is not on PATH.
    Install Rust (https://rustup.rs), then install the gem again.
  MSG
end

root = File.expand_path("../..", __dir__)
target_dir = ENV.fetch("CARGO_TARGET_DIR", File.join(root, "target"))
built = File.join(target_dir, PROFILE == "dev" ? "debug" : PROFILE, "libanycable_rs.#{RbConfig::CONFIG["SOEXT"]}")
installed = "$(DESTDIR)$(sitearchdir)/#{TARGET}.#{RbConfig::CONFIG["DLEXT"]}"

File.write("Makefile", <<~MAKE)
  # Written by extconf.rb (no rb_sys gem found): cargo builds, make installs.
  sitearchdir ?= #{RbConfig::CONFIG["sitearchdir"]}
  CARGO ?= cargo

  all: build

  # RubyGems exports SOURCE_DATE_EPOCH (the install's time) and build scripts of C code (ring's)
  # track it, so against a shared CARGO_TARGET_DIR every install would rebuild them and
  # everything above them; the extension's bits do not depend on it.
  build:
  \tcd #{root.shellescape} && env -u SOURCE_DATE_EPOCH $(CARGO) build --profile #{PROFILE} --package anycable_rs --locked

  install: build
  \tmkdir -p "$(dir #{installed})"
  \trm -f "#{installed}"
  \tcp #{built.shellescape} "#{installed}"

  clean:

  .PHONY: all build install clean
MAKE
