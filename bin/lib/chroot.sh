# shellcheck shell=bash
# Shared by bin/trixie and bin/fresh-root: Debian roots made with debootstrap and entered with
# chroot. Source it after setup.sh, set CHROOT (the root's directory), then use:
#   bootstrap_root SUITE     unpack a pristine `debootstrap --variant=minbase SUITE` into CHROOT
#   write_apt_sources SUITE  the root's apt sources: the host's mirror, SUITE-updates, security
#   mount_system, mount_at   mounts under CHROOT, undone by unmount_all (also on exit/signals)
#   child CMD...             run CMD as a child the script waits for (signals reach it)
#
# Pristine bootstraps are cached as tarballs in ${ANYCABLE_RS_BOOTSTRAP_CACHE:-
# /var/cache/anycable-rs/bootstrap}, one per suite and mirror, remade after
# ANYCABLE_RS_BOOTSTRAP_MAX_AGE days (default 14): nothing a root installs ever goes back into
# the cache, so every root starts from what debootstrap alone made.

BOOTSTRAP_CACHE=$(realpath -m "${ANYCABLE_RS_BOOTSTRAP_CACHE:-/var/cache/anycable-rs/bootstrap}")
BOOTSTRAP_MAX_AGE=${ANYCABLE_RS_BOOTSTRAP_MAX_AGE:-14}
MOUNTED=() # targets this process mounted, in order; unmounted in reverse

die() {
  printf '%s: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# --- apt sources --------------------------------------------------------------------------

# Prints the URIs of the host's enabled apt sources (one-line .list and deb822 .sources) whose
# suite is not *-security (pass "security" to get only *-security ones) and whose path ends
# in /debian or /debian-security: the mirror or proxy this machine is known to reach.
host_debian_uris() {
  local kind=$1 files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk -v kind="$kind" '
    function wanted(uri, suite) {
      if (kind == "security") return suite ~ /-security$/ && uri ~ /\/debian-security\/?$/
      return suite !~ /-security$/ && uri ~ /\/debian\/?$/
    }
    BEGIN { enabled = 1 }
    FNR == 1 { if (deb822) flush(); deb822 = FILENAME ~ /\.sources$/ }
    !deb822 && $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if (wanted($i, $(i + 1))) print $i
      next
    }
    deb822 && /^[ \t]*$/ { flush(); next }
    deb822 && tolower($1) == "uris:" { uris = $0; sub(/^[^:]*:[ \t]*/, "", uris) }
    deb822 && tolower($1) == "suites:" { suites = $0; sub(/^[^:]*:[ \t]*/, "", suites) }
    deb822 && tolower($1) == "enabled:" && tolower($2) == "no" { enabled = 0 }
    END { if (deb822) flush() }
    function flush(   n, m, u, s, a, b) {
      if (enabled && uris != "") {
        n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
        for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) if (wanted(u[a], s[b])) print u[a]
      }
      uris = ""; suites = ""; enabled = 1
    }
  ' "${files[@]}"
}

first_line() { printf '%s' "${1%%$'\n'*}"; }

# MIRROR, SECURITY_MIRROR and APT_PROXY: what the host's apt uses, unless the caller set
# ROOT_MIRROR / ROOT_SECURITY_MIRROR (an empty security mirror means none).
MIRROR=${ROOT_MIRROR:-$(first_line "$(host_debian_uris main)")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
MIRROR=${MIRROR%/}
SECURITY_MIRROR=${ROOT_SECURITY_MIRROR-$(first_line "$(host_debian_uris security)")}
SECURITY_MIRROR=${SECURITY_MIRROR%/}
# An apt proxy the host is configured with (debootstrap only reads http_proxy).
APT_PROXY=
eval "$(apt-config shell APT_PROXY Acquire::http::Proxy 2>/dev/null || true)"

# Says in one line what to do when the Debian archive cannot be reached.
check_archive() {
  local url=$MIRROR/dists/$1/Release
  command -v curl >/dev/null || need_packages curl ca-certificates
  curl -fsS -o /dev/null --max-time 30 ${APT_PROXY:+--proxy "$APT_PROXY"} "$url" ||
    die "cannot reach the Debian archive ($url): connect this machine to it, or set ROOT_MIRROR to a mirror it reaches"
}

write_apt_sources() {
  local suite=$1 updates=$1-updates
  [ "$suite" != sid ] || updates=
  rm -f "$CHROOT/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s\nComponents: main\n' "$MIRROR" "$suite" "$updates"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [ -n "$SECURITY_MIRROR" ] && [ "$suite" != sid ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$SECURITY_MIRROR" "$suite"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$CHROOT/etc/apt/sources.list.d/debian.sources"
  # sid's Release file is valid for a week only: apt refuses a mirror (or proxy cache) that
  # serves one older than that, though its packages are fine for tests.
  if [ "$suite" = sid ]; then
    printf 'Acquire::Check-Valid-Until "false";\n' >"$CHROOT/etc/apt/apt.conf.d/01valid-until"
  fi
  if [ -n "$APT_PROXY" ]; then
    printf 'Acquire::http::Proxy "%s";\n' "$APT_PROXY" >"$CHROOT/etc/apt/apt.conf.d/01proxy"
  else
    rm -f "$CHROOT/etc/apt/apt.conf.d/01proxy"
  fi
  # No daemons start inside (invoke-rc.d asks this): tests start the services they need.
  printf '#!/bin/sh\nexit 101\n' >"$CHROOT/usr/sbin/policy-rc.d"
  chmod 755 "$CHROOT/usr/sbin/policy-rc.d"
  echo "$suite" >"$CHROOT/etc/debian_chroot"
  copy_host_file /etc/resolv.conf
  copy_host_file /etc/hosts
  copy_host_trust
}

# The certificate authorities this machine adds to Debian's (a proxy's, a company's): the
# root's ca-certificates package takes them in when it is installed (or update-ca-certificates
# is run), as it did on the host.
copy_host_trust() {
  local dir=/usr/local/share/ca-certificates
  [ -d "$dir" ] || return 0
  mkdir -p "$CHROOT$dir"
  cp -rL "$dir/." "$CHROOT$dir/"
}

# Copies over a file of the host, never through a symlink inside the root.
copy_host_file() {
  [ -e "$1" ] || return 0
  rm -f "$CHROOT$1"
  cp -L "$1" "$CHROOT$1"
}

# --- pristine bootstraps ------------------------------------------------------------------

# Makes (once per suite, mirror and BOOTSTRAP_MAX_AGE) the tarball of a bare minbase root.
bootstrap_tarball() {
  local suite=$1 key tarball work script=() started=$SECONDS
  key=$(printf '%s\n' "$suite" "$MIRROR" "$APT_PROXY" | sha256sum | cut -c1-12)
  tarball=$BOOTSTRAP_CACHE/$suite-minbase-$key.tar
  mkdir -p "$BOOTSTRAP_CACHE"
  (
    flock 7
    if [ -f "$tarball" ] && [ -z "$(find "$tarball" -mtime "+$BOOTSTRAP_MAX_AGE")" ]; then exit 0; fi
    need_packages debootstrap debian-archive-keyring
    check_archive "$suite"
    # Debian 12's debootstrap may predate a newer suite's script; those bootstrap like sid.
    [ -e "/usr/share/debootstrap/scripts/$suite" ] || script=(/usr/share/debootstrap/scripts/sid)
    work=$(mktemp -d "$BOOTSTRAP_CACHE/.$suite.XXXXXX")
    chmod 755 "$work" # it becomes the root's /, which mktemp made private
    log "debootstrap --variant=minbase $suite $MIRROR (once; kept as $tarball)"
    env "http_proxy=${APT_PROXY:-${http_proxy:-}}" \
      debootstrap --variant=minbase "$suite" "$work" "$MIRROR" "${script[@]}" ||
      { rm -rf --one-file-system "$work"; die "debootstrap $suite failed"; }
    tar -C "$work" --numeric-owner -cf "$tarball.partial" .
    mv -f "$tarball.partial" "$tarball"
    rm -rf --one-file-system "$work"
    log "debootstrap done in $((SECONDS - started)) s"
  ) 7>>"$BOOTSTRAP_CACHE/$suite.lock" >&2 || exit 1
  printf '%s\n' "$tarball"
}

# Unpacks the pristine bootstrap of SUITE into the (empty or missing) CHROOT.
bootstrap_root() {
  local tarball
  tarball=$(bootstrap_tarball "$1")
  mkdir -p "$CHROOT"
  tar -C "$CHROOT" --numeric-owner -xpf "$tarball"
  chmod 755 "$CHROOT" # a root's / is world-readable (users other than root run there too)
}

# --- mounts -------------------------------------------------------------------------------

# Mount points under the root in this namespace, deepest first (findmnt escapes blanks as \x20).
mounts_under_root() {
  local target
  findmnt -rn -o TARGET | while IFS= read -r target; do
    target=$(printf '%b' "$target")
    case $target in "$CHROOT"/*) printf '%s\n' "$target" ;; esac
  done | sort -r
}

# Unmounts what a killed earlier session (or debootstrap) left under the root. Stacked mounts
# need more than one pass.
unmount_stale() {
  local pass target targets
  for pass in 1 2 3 4 5; do
    mapfile -t targets < <(mounts_under_root)
    [ ${#targets[@]} -gt 0 ] || return 0
    [ "$pass" -gt 1 ] || log "unmounting ${#targets[@]} stale mount(s) under $CHROOT"
    for target in "${targets[@]}"; do
      umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
    done
  done
  mapfile -t targets < <(mounts_under_root)
  [ ${#targets[@]} -eq 0 ] || die "cannot unmount: ${targets[*]}"
}

# mount_at PATH-INSIDE-ROOT MOUNT-ARGS...: mounts at $CHROOT/PATH and remembers it.
mount_at() {
  local target=$CHROOT$1
  shift
  mkdir -p "$target"
  mount "$@" "$target"
  MOUNTED+=("$target")
}

unmount_all() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null ||
      printf '%s: could not unmount %s\n' "$(basename "$0")" "${MOUNTED[i]}" >&2
  done
  MOUNTED=()
}

# What apt and a shell need: /proc, /sys, /dev (with /dev/pts) and a private /dev/shm, which
# Chromium needs for its renderers.
mount_system() {
  mount_at /proc -t proc proc
  mount_at /sys --bind -o ro /sys
  mount_at /dev --bind /dev
  mount_at /dev/pts --bind /dev/pts
  mount_at /dev/shm -t tmpfs -o mode=1777,nosuid,nodev shm
}

# Removes a root this script made, after making sure nothing is mounted in it any more (rm's
# --one-file-system does not notice a bind mount of the same filesystem).
remove_root() {
  unmount_stale
  [ -e "$CHROOT" ] || return 0
  findmnt -rn -o TARGET >/dev/null || die "findmnt failed: not removing $CHROOT"
  [ -z "$(mounts_under_root)" ] || die "still mounted under $CHROOT: not removing it"
  rm -rf --one-file-system "$CHROOT"
}

# --- children and signals -----------------------------------------------------------------

# Commands inside the root run as a background child that the script waits for: bash runs a
# trap only once a foreground command ends, while `wait` returns at once. Ctrl-C reaches the
# child from the terminal itself (forwarding it too would make RSpec abort without cleaning
# up), so on INT the script waits for the child; a TERM or HUP sent to the script alone is
# passed on. Either way the mounts come off once the child is gone (the caller's EXIT trap
# calls unmount_all).
CHILD=
# stdin for the child (a background job would get /dev/null)
{ exec 8<&0; } 2>/dev/null || exec 8</dev/null

child() {
  local status=0
  # Without job control bash starts background jobs with SIGINT ignored: undo that.
  (
    trap - INT QUIT
    exec "$@"
  ) <&8 8<&- &
  CHILD=$!
  wait "$CHILD" || status=$?
  CHILD=
  return "$status"
}

on_signal() {
  trap '' INT TERM HUP
  if [ -n "$CHILD" ]; then
    [ "$1" = INT ] || kill -s "$1" "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

# Re-runs the calling script in a private mount namespace, so its mounts are invisible to the
# host and vanish even after `kill -9`; returns when that is not possible (or already done).
enter_private_namespace() {
  [ -z "${ROOT_IN_NAMESPACE:-}" ] || return 0
  [ -z "${ROOT_NO_UNSHARE:-}" ] || return 0
  unshare --mount --propagation private true 2>/dev/null || return 0
  ROOT_IN_NAMESPACE=1 exec unshare --mount --propagation private -- "$(realpath "$0")" "$@"
}
