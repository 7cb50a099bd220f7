# scripts/lib/setup.sh - shared set-up for scripts/test, scripts/demo and
# scripts/bench: Debian packages, hugepages, build. Sourced, not run.
# Every step is idempotent, so a machine that already has everything pays
# only for the checks.

ENIFLOW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Packages the build needs, then the tools the tests and demo drive.
# dpdk-dev also brings dpdk-testpmd (the virtio_user peer of
# test/e2e/vswitch_vhost.sh) and, through libdpdk-dev, the net_vhost and
# virtio PMDs; coreutils (stdbuf) is always there.
ENIFLOW_BUILD_PKGS="dpdk-dev libdpdk-dev libnuma-dev libjansson-dev libmicrohttpd-dev
  liblz4-dev libmaxminddb-dev meson ninja-build pkg-config gcc lz4"
ENIFLOW_TOOL_PKGS="tshark iproute2 iputils-ping curl iperf3 netcat-openbsd python3
  jq procps strace clang libclang-rt-14-dev wrk nfdump"

log() { printf '[eniflow] %s\n' "$*" >&2; }
die() { printf '[eniflow] error: %s\n' "$*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" = 0 ] || die "run as root: it installs packages, reserves hugepages and creates network namespaces"
}

# Install the Debian packages from $@ that are not installed yet.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer once, no prompt.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install failed for: ${missing[*]}"
}

# Reserve at least $1 2-MiB hugepages (default 1024 = 2 GiB) and mount hugetlbfs.
ensure_hugepages() {
	local want=${1:-1024}
	local nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	[ -w "$nr" ] || die "cannot reserve hugepages: $nr is not writable (not root, or no 2 MiB hugepage support)"
	local have; have=$(cat "$nr")
	if [ "$have" -lt "$want" ]; then
		echo "$want" > "$nr" 2>/dev/null || true
		have=$(cat "$nr")
		[ "$have" -ge "$want" ] || die "asked for $want hugepages of 2 MiB, the kernel gave $have (free memory too fragmented?)"
	fi
	if ! grep -q '^[^ ]* [^ ]* hugetlbfs ' /proc/mounts; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs nodev /dev/hugepages || die "cannot mount hugetlbfs on /dev/hugepages"
	fi
}

# Configure (once) and build the meson tree $1 with extra meson options.
build_tree() {
	local dir=$1; shift
	if [ ! -f "$ENIFLOW_ROOT/$dir/build.ninja" ]; then
		meson setup "$ENIFLOW_ROOT/$dir" "$ENIFLOW_ROOT" "$@" >/dev/null ||
			die "meson setup $dir failed"
	fi
	ninja -C "$ENIFLOW_ROOT/$dir" >/dev/null || { ninja -C "$ENIFLOW_ROOT/$dir"; die "build of $dir failed"; }
}
