#!/usr/bin/env bash
# Proves the README's quick start on a pristine Debian 12: bootstraps a minimal bookworm root
# (debootstrap --variant=minbase, installed here when missing), clones the current commit into it,
# and runs each README command inside it (chroot, with /proc, /sys and /dev mounted), as root:
#
#   1. bash scripts/run.sh     installs, builds, trains the default model, prints the accuracy
#   2. bash scripts/test.sh    installs, builds, runs the whole test suite
#
# then installs the Debian package that step 2 made (build/backprop_VERSION_amd64.deb) with apt in a
# second pristine root and builds tests/consumers against it (find_package and pkg-config). Prints
# the time and the last lines of each step; unmounts and removes everything afterwards, also on
# failure or Ctrl-C. Exits non-zero if any step fails, and with 3 if this machine cannot make a
# chroot at all (not root, or mounting is not permitted).
#
#   bash scripts/check-fresh-machine.sh [--quick]   (--quick: step 1 only)
#
# Environment: BP_FRESH_CACHE (default /var/cache/backprop-fresh) keeps the bootstrapped base as a
# tarball between runs (delete it to bootstrap anew); BP_FRESH_MIRROR (default
# http://deb.debian.org/debian); BP_FRESH_TAIL (default 12) lines shown per step; BP_FRESH_LOGS
# (default /tmp/bp-fresh-logs) keeps the whole log of each step that failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
quick=0
[[ ${1:-} == --quick ]] && quick=1

cache=${BP_FRESH_CACHE:-/var/cache/backprop-fresh}
mirror=${BP_FRESH_MIRROR:-http://deb.debian.org/debian}
tail_lines=${BP_FRESH_TAIL:-12}
base=$cache/bookworm-minbase.tar
commit=$(git rev-parse HEAD)

if ((EUID != 0)); then
  echo "check-fresh-machine: needs root (debootstrap, chroot, mount)" >&2
  exit 3
fi
[[ -z $(git status --porcelain --untracked-files=no) ]] ||
  echo "check-fresh-machine: note: uncommitted changes are not checked, only commit ${commit:0:12}"

work=$(mktemp -d /tmp/bp-fresh-XXXXXX)
logs=${BP_FRESH_LOGS:-/tmp/bp-fresh-logs}
rm -rf "$logs"
mounts=()

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # Processes still running inside a root (after Ctrl-C) would keep its mounts busy.
  local pid
  for pid in /proc/[0-9]*; do
    [[ $(readlink "$pid/root" 2>/dev/null) == "$work"/* ]] && kill -9 "${pid#/proc/}" 2>/dev/null
  done
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
  done
  if grep -q " $work/" /proc/mounts; then
    echo "check-fresh-machine: mounts under $work remain; not removing it" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo "check-fresh-machine: interrupted" >&2; exit 130' INT TERM

# The bootstrapped base, made once and kept as a tarball.
make_base() {
  bash scripts/install-deps.sh fresh >/dev/null
  mkdir -p "$cache"
  echo "bootstrapping Debian 12 (bookworm, minbase) from $mirror"
  local started=$SECONDS dir=$work/base
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    return 1
  }
  # The package sources of a standard installation: the release, its updates and security.
  cat >"$dir/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
  tar -C "$dir" -cf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf "$dir"
  echo "bootstrapped in $((SECONDS - started)) s"
}

# new_root NAME: a pristine root under $work/NAME with /proc, /sys and /dev mounted.
new_root() {
  local root=$work/$1
  mkdir -p "$root"
  tar -C "$root" -xf "$base"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # The machine's network setup carries over, as on a fresh machine of this kind: its name servers,
  # and the certificate authorities its Node.js is told to trust (npm reaches its registry with them).
  if [[ -n ${NODE_EXTRA_CA_CERTS:-} && -f $NODE_EXTRA_CA_CERTS ]]; then
    mkdir -p "$root/etc/ssl" && cp "$NODE_EXTRA_CA_CERTS" "$root/etc/ssl/machine-ca-certificates.crt"
  fi
  mount -t proc proc "$root/proc" && mounts+=("$root/proc")
  mount -t sysfs sysfs "$root/sys" && mounts+=("$root/sys")
  mount --bind /dev "$root/dev" && mounts+=("$root/dev")
  mount --bind /dev/pts "$root/dev/pts" && mounts+=("$root/dev/pts")
  mount -t tmpfs tmpfs "$root/dev/shm" && mounts+=("$root/dev/shm")
}

# in_root NAME COMMAND: runs COMMAND with bash inside the root, as root, in a clean environment.
in_root() {
  local extra=()
  [[ -f $work/$1/etc/ssl/machine-ca-certificates.crt ]] &&
    extra=(NODE_EXTRA_CA_CERTS=/etc/ssl/machine-ca-certificates.crt)
  chroot "$work/$1" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 "${extra[@]}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$2"
}

results=()
failures=0
# step TITLE ROOT COMMAND: runs, times and summarises one step.
step() {
  local title=$1 root=$2 command=$3 log=$work/step-${#results[@]}.log started=$SECONDS status=0
  echo
  echo "==== $title"
  echo "\$ $command"
  in_root "$root" "$command" >"$log" 2>&1 || status=$?
  local took=$((SECONDS - started))
  tail -n "$tail_lines" "$log" | sed 's/^/    /'
  if ((status != 0)); then  # the whole log outlives the roots, for a look at what failed
    mkdir -p "$logs" && cp "$log" "$logs/step-${#results[@]}.log"
    echo "    (whole log: $logs/step-${#results[@]}.log)"
  fi
  results+=("$(printf '%-52s %5d s  %s' "$title" "$took" "$( ((status == 0)) && echo ok || echo "FAILED (exit $status)")")")
  ((status == 0)) || failures=$((failures + 1))
  return $status
}

[[ -f $base ]] || make_base
if ! new_root machine 2>"$work/mount.log"; then
  echo "check-fresh-machine: cannot mount inside a chroot here: $(head -n 1 "$work/mount.log")" >&2
  exit 3
fi
git clone --quiet --no-hardlinks "$repo" "$work/machine/root/backprop"
git -C "$work/machine/root/backprop" checkout --quiet "$commit"
echo "pristine Debian $(cat "$work/machine/etc/debian_version") root with backprop ${commit:0:12}"

step "README 1: bash scripts/run.sh" machine "cd /root/backprop && bash scripts/run.sh" || true
if ((quick == 0)); then
  step "README 2: bash scripts/test.sh" machine "cd /root/backprop && bash scripts/test.sh" || true

  # The package in a second pristine root: apt resolves its Depends; a compiler, CMake and
  # pkg-config build the consumer projects against /usr.
  deb=$(find "$work/machine/root/backprop/build" -maxdepth 1 -name 'backprop_*.deb' -printf '%f\n' \
    2>/dev/null | head -n 1 || true)
  if [[ -n $deb ]]; then
    new_root package
    cp "$work/machine/root/backprop/build/$deb" "$work/package/root/"
    cp -r "$work/machine/root/backprop/tests/consumers" "$work/package/root/consumers"
    step "apt-get install ./$deb (pristine root)" package \
      "cd /root && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ./$deb g++ cmake make pkg-config && backprop --version" &&
      step "consumers of the installed package" package \
        "cd /root/consumers && cmake -S find_package -B /tmp/fp && cmake --build /tmp/fp && /tmp/fp/consumer && bash pkg_config/build.sh /usr /tmp/pc" ||
      true
  else
    results+=("$(printf '%-52s %7s  %s' "Debian package" "" "FAILED (no build/backprop_*.deb)")")
    failures=$((failures + 1))
  fi
fi

echo
echo "==== summary (pristine Debian 12, commit ${commit:0:12})"
printf '%s\n' "${results[@]}"
((failures == 0))
