# shellcheck shell=bash disable=SC2034 # ROOT and BASE_PACKAGES are for the scripts that source this
# Shared by bin/demo, bin/test and bin/trixie: installs what is missing (Debian/Ubuntu, idempotent) and
# prepares the Ruby bundles. Source it, then call `need_packages <pkg>...` and `bundle_local DIR`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export DEBIAN_FRONTEND=noninteractive
export BUNDLE_SILENCE_ROOT_WARNING=1 # CI runs as root on purpose

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages that are not installed yet; apt-get update runs only then.
need_packages() {
  local missing=() sudo=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local cmd=(apt-get install -y -q --no-install-recommends "${missing[@]}")
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null || ! sudo -n true 2>/dev/null; then
      printf 'Missing Debian packages, and installing needs root or passwordless sudo: run: sudo apt-get update && sudo %s (then this again).\n' "${cmd[*]}" >&2
      exit 1
    fi
    sudo=(sudo DEBIAN_FRONTEND=noninteractive)
  fi
  log "installing ${missing[*]}${sudo:+ (sudo)}"
  if ! "${sudo[@]}" apt-get update -q || ! "${sudo[@]}" "${cmd[@]}"; then
    printf 'Could not install %s (apt-get failed above): make sure this machine reaches the Debian archive of /etc/apt/sources.list*, then run this again.\n' "${missing[*]}" >&2
    exit 1
  fi
}

# Installs packages only when a command is missing (Node may come from elsewhere than Debian).
need_command() {
  local command=$1
  shift
  command -v "$command" >/dev/null || need_packages "$@"
}

need_cargo() {
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null; then
    printf 'Rust is missing: install it with rustup (https://rustup.rs), then run this again.\n' >&2
    exit 1
  fi
}

# Compiles the extension (rake compile, not under the gem's bundle: bin/demo and bin/test must
# hand cargo the same environment, or one would rebuild what the other built).
compile_extension() {
  (cd "$ROOT" && rake compile) && return 0
  printf 'Compiling the extension failed (above): if cargo could not download crates, this machine must reach crates.io (or the mirror in ~/.cargo/config.toml).\n' >&2
  exit 1
}

# The packages every use needs: Ruby with Rails and Puma from Debian, what rb-sys builds with,
# and the certificates cargo needs to fetch crates.
BASE_PACKAGES=(ruby-full ruby-dev ruby-bundler rake ruby-rails puma gcc libc6-dev make pkg-config libclang-dev
  ca-certificates)
# Rails from a source tree instead (gemfiles/rails.rb; bin/sid): not Debian's.
if [ -n "${ANYCABLE_RS_RAILS_PATH:-}" ]; then
  for i in "${!BASE_PACKAGES[@]}"; do [ "${BASE_PACKAGES[$i]}" != ruby-rails ] || unset "BASE_PACKAGES[$i]"; done
fi
# What the test-app's bundle holds besides Rails and Puma: bin/demo installs it all (Bundler
# resolves every group, even the ones it is told to leave out).
APP_PACKAGES=(ruby-redis ruby-capybara ruby-rspec-rails ruby-selenium-webdriver)

# `bundle install --local`: resolves against the Debian-packaged gems, never the network. A
# lock written by another Debian release (the Debian 13 CI entry shares this checkout) is
# resolved afresh.
bundle_local() {
  (cd "$1" && {
    bundle check >/dev/null 2>&1 || bundle install --local --quiet 2>/dev/null ||
      { rm -f Gemfile.lock && bundle install --local --quiet; }
  })
}
