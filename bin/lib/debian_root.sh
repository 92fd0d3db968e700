# shellcheck shell=bash
# The body of bin/trixie and bin/sid: a cached Debian root of another release, built from a
# pristine bootstrap (bin/lib/chroot.sh) with apt, and commands run inside it with the
# repository mounted. Source it after setup.sh and chroot.sh with these set:
#   SUITE           the Debian suite (trixie, sid)
#   PACKAGES        what apt installs in the root
#   SCRIPT_VERSION  bumped when a change must rebuild existing roots
#   PREFIX          of the caller's settings: <PREFIX>_ROOT, <PREFIX>_PASSENV,
#                   <PREFIX>_CARGO_TARGET_DIR; inside, <PREFIX>=1 is set
#   ROOT_ENV        (optional) more NAME=value pairs for commands inside
# then call `main "$@"`.

SELF=$(realpath "$0")
REPO=$ROOT
root_setting() { local name="${PREFIX}_$1"; printf '%s' "${!name:-$2}"; }
CHROOT=$(realpath -m "$(root_setting ROOT "/var/cache/anycable-rs/$SUITE")")
LOCK_FILE="$CHROOT.lock"
STAMP_FILE="$CHROOT/.anycable-rs-$SUITE.stamp"
OWNED="$CHROOT/.anycable-rs-$SUITE.root"                 # written first: ours to delete
BOOTSTRAPPED="$CHROOT/.anycable-rs-$SUITE.bootstrapped" # written when the bootstrap is unpacked
TARGET_DIR=$(root_setting CARGO_TARGET_DIR "$REPO/target/$SUITE")
PASSENV=$(root_setting PASSENV "")
RUSTUP_DIR=${RUSTUP_HOME:-$HOME/.rustup}
CARGO_DIR=${CARGO_HOME:-$HOME/.cargo}
# Upstream sources some stacks and specs load (README.md, "Upstream sources"), when present.
SHARED_DIR=$(realpath -m "$REPO/../shared")
IN_NAMESPACE=${ROOT_IN_NAMESPACE:-}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF"
}

stamp() {
  printf '%s\n' "version=$SCRIPT_VERSION" "suite=$SUITE" "mirror=$MIRROR" "security=$SECURITY_MIRROR" \
    "proxy=$APT_PROXY" "${PACKAGES[@]}" | sha256sum | cut -d' ' -f1
}

stamp_ok() { [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$(stamp)" ]; }

# --- cleanup ------------------------------------------------------------------------------

# Gemfile.lock files resolve against one Debian release's gems, and the repository is shared:
# commands in the root use their own locks (kept as <lock>.<suite> between runs) and the host's
# are put back when the command ends, however it ends.
LOCKS=(Gemfile.lock test-app/Gemfile.lock spec/integration/app/Gemfile.lock)
LOCKS_SWAPPED=
use_locks() { # use_locks PARK BRING: park the current locks as <lock>.PARK, bring <lock>.BRING in
  local lock
  for lock in "${LOCKS[@]}"; do
    if [ -f "$REPO/$lock" ]; then mv -f "$REPO/$lock" "$REPO/$lock.$1"; fi
    if [ -f "$REPO/$lock.$2" ]; then mv -f "$REPO/$lock.$2" "$REPO/$lock"; fi
  done
}

on_exit() {
  local status=$?
  trap - EXIT
  trap '' INT TERM HUP
  if [ -n "$LOCKS_SWAPPED" ]; then use_locks "$SUITE" host; fi
  unmount_all
  exit "$status"
}
trap on_exit EXIT

# The checkout and the Rust toolchain, at the same paths as on the host.
mount_workspace() {
  mount_at "$REPO" --bind "$REPO"
  if [ -d "$RUSTUP_DIR" ] && [ -d "$CARGO_DIR" ]; then
    mount_at "$RUSTUP_DIR" --bind -o ro "$RUSTUP_DIR"
    mount_at "$CARGO_DIR" --bind "$CARGO_DIR" # read-write: the registry and git caches
  else
    log "no rustup/cargo at $RUSTUP_DIR and $CARGO_DIR: cargo will be missing inside"
  fi
  if [ -d "$SHARED_DIR" ]; then mount_at "$SHARED_DIR" --bind -o ro "$SHARED_DIR"; fi
}

# --- locking ------------------------------------------------------------------------------

# fd 9 holds a lock on $LOCK_FILE: shared while a session uses the root, exclusive while the
# root is built (or, without a private namespace, for the whole session).
lock() {
  flock -n "$1" 9 || {
    log "waiting for another $(basename "$SELF") session to finish ($LOCK_FILE)"
    flock "$1" 9
  }
}

# --- building -----------------------------------------------------------------------------

in_root() {
  child chroot "$CHROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

wipe_root() {
  local path
  # A mistyped <PREFIX>_ROOT must not cost someone their directory.
  [ ! -e "$CHROOT" ] || [ -e "$OWNED" ] || [ -e "$BOOTSTRAPPED" ] || [ -z "$(ls -A "$CHROOT")" ] ||
    die "$CHROOT is not empty and was not made by $(basename "$SELF"): remove it yourself or pick another ${PREFIX}_ROOT"
  for path in "$REPO" "$RUSTUP_DIR" "$CARGO_DIR" "$SHARED_DIR"; do
    ! mountpoint -q "$CHROOT$path" || die "$CHROOT$path is mounted: not removing $CHROOT"
  done
  [ ! -e "$CHROOT" ] || log "removing $CHROOT"
  remove_root
}

fresh_root() {
  wipe_root
  mkdir -p "$CHROOT"
  touch "$OWNED"
  bootstrap_root "$SUITE"
  touch "$BOOTSTRAPPED"
}

install_packages() {
  local started=$SECONDS missing=() pkg
  log "apt-get update (inside $CHROOT)"
  in_root apt-get update -q
  for pkg in "${PACKAGES[@]}"; do
    in_root apt-cache show --no-all-versions "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] || die "not in $SUITE (remove from PACKAGES in $(basename "$SELF")): ${missing[*]}"
  log "apt-get install ${#PACKAGES[@]} packages (inside $CHROOT)"
  in_root dpkg --configure -a # finishes an install an earlier killed build left halfway
  in_root apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
  in_root update-ca-certificates >/dev/null # the host's extra authorities (write_apt_sources)
  in_root apt-get clean
  log "apt done in $((SECONDS - started)) s"
}

# Builds or updates the root; the caller holds the exclusive lock.
build_root() {
  [ -e "$BOOTSTRAPPED" ] || fresh_root
  rm -f "$STAMP_FILE"
  write_apt_sources "$SUITE"
  unmount_stale
  mount_system
  install_packages
  unmount_all
  stamp >"$STAMP_FILE"
  log "$SUITE root ready: $CHROOT"
}

# Makes sure the root is built and up to date, then holds the lock the session needs.
prepare_root() {
  local session_lock=-s
  [ -n "$IN_NAMESPACE" ] || session_lock=-x
  exec 9>>"$LOCK_FILE"
  lock "$session_lock"
  stamp_ok && return 0
  [ "$session_lock" = -x ] || {
    flock -u 9
    lock -x
  }
  stamp_ok || build_root
  [ "$session_lock" = -x ] || flock -s 9
}

# --- running ------------------------------------------------------------------------------

run_in_root() {
  local cwd=$REPO env=() name
  case $PWD/ in "$REPO"/*) cwd=$PWD ;; esac
  # Inherited from the host's namespace (a killed session without unshare): not ours to use.
  unmount_stale
  mount_system
  mount_workspace
  copy_host_file /etc/resolv.conf
  copy_host_file /etc/hosts
  mkdir -p "$CHROOT$HOME" "$TARGET_DIR"

  env=(
    "HOME=$HOME" USER=root LOGNAME=root LANG=C.UTF-8 "TERM=${TERM:-dumb}" "$PREFIX=1" ${ROOT_ENV[@]+"${ROOT_ENV[@]}"}
    "PATH=$CARGO_DIR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "RUSTUP_HOME=$RUSTUP_DIR" "CARGO_HOME=$CARGO_DIR" "CARGO_TARGET_DIR=$TARGET_DIR"
  )
  while IFS= read -r name; do
    case $name in
      CARGO_HOME | CARGO_TARGET_DIR | RUSTUP_HOME | "${PREFIX}"_*) ;;
      ANYCABLE_* | CABLE_* | CARGO_* | RUST* | CI | NO_COLOR) env+=("$name=${!name}") ;;
    esac
  done < <(compgen -e)
  for name in $PASSENV; do
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "${PREFIX}_PASSENV: not a variable name: $name"
    [ -z "${!name+set}" ] || env+=("$name=${!name}")
  done

  [ -t 2 ] && [ "$1" != /bin/bash ] && log "[$SUITE] $*"
  local status=0
  use_locks host "$SUITE"
  LOCKS_SWAPPED=1
  child chroot "$CHROOT" /usr/bin/env -i -C "$cwd" "${env[@]}" "$@" || status=$?
  use_locks "$SUITE" host
  LOCKS_SWAPPED=
  unmount_all
  return "$status"
}

# --- main ---------------------------------------------------------------------------------

main() {
  local command=${1:-help}
  case $command in
    build | rebuild | run | shell) ;;
    help | -h | --help)
      usage
      return 0
      ;;
    *)
      printf '%s: unknown command %s (commands: build, rebuild, run, shell, help)\n' "$(basename "$SELF")" "$command" >&2
      return 2
      ;;
  esac
  shift
  case $command in
    run) [ $# -gt 0 ] || die "usage: $(basename "$SELF") run COMMAND [ARG...]" ;;
    *) [ $# -eq 0 ] || die "usage: $(basename "$SELF") $command (no arguments)" ;;
  esac
  [ "$(id -u)" -eq 0 ] || die "needs root (mount, chroot): run it as root, or with sudo -E so that \
RUSTUP_HOME/CARGO_HOME/HOME still point at your Rust toolchain"
  case $CHROOT in
    /?*/?*) ;;
    *) die "${PREFIX}_ROOT=$CHROOT: pick a directory at least two levels deep (it gets rm -rf'ed)" ;;
  esac
  case $CHROOT/ in "$REPO"/*) die "${PREFIX}_ROOT=$CHROOT must be outside the repository" ;; esac
  case $REPO/ in "$CHROOT"/*) die "the repository must be outside ${PREFIX}_ROOT=$CHROOT" ;; esac

  # The common case ends here: the root is up to date, nothing else to do.
  if [ "$command" = build ] && stamp_ok; then
    log "$SUITE root up to date: $CHROOT"
    return 0
  fi

  # Re-run in a private mount namespace (see the top). Before that, clear stale mounts a killed
  # session without namespace left in the host's, when no session is using the root.
  if [ -z "$IN_NAMESPACE" ] && [ -n "$(mounts_under_root)" ] && [ -e "$LOCK_FILE" ]; then
    (flock -n -x 9 && unmount_stale) 9>>"$LOCK_FILE" || true
  fi
  enter_private_namespace "$command" "$@"

  mkdir -p "$(dirname "$CHROOT")"
  case $command in
    build) prepare_root ;;
    rebuild)
      exec 9>>"$LOCK_FILE"
      lock -x
      wipe_root
      build_root
      ;;
    run)
      prepare_root
      run_in_root "$@"
      ;;
    shell)
      prepare_root
      run_in_root /bin/bash -i
      ;;
  esac
}

