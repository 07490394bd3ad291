#!/usr/bin/env bash
# Runs the shim's semantics suite: t_server in one network namespace, t_client in another, both
# with the shim preloaded and pointed at a running Slim router.
#
#   run-suite.sh --server-ns NS --server-ip IP --client-ns NS --client-ip IP
#                (--router SOCK | --server-router SOCK --client-router SOCK)
#                [--variant glibc|asan|musl] [--shim-dir DIR | --server-shim-dir DIR --client-shim-dir DIR]
#                [--cases "name ..."] [--port-base N] [--list]
#
# NS is a name under /run/netns or a path to a netns file. IP is each side's overlay address.
# SOCK is the router socket of that side's host, passed as SLIM_ROUTER_SOCKET; "default" leaves
# SLIM_ROUTER_SOCKET unset, so the shim finds router.sock next to itself (as in a container).
# Variants: glibc = build/glibc shim with build/test programs; asan = build/asan shim with
# build/test-asan programs (libasan preloaded first); musl = build/musl shim with build/test-musl
# programs. --shim-dir DIR: take the shim from DIR (DIR/libslimsocket.so, for musl
# DIR/musl/libslimsocket.so), e.g. a router's run directory; --server-shim-dir and
# --client-shim-dir do it for one side (each host's own run directory). Needs root (nsenter).
# Prints PASS/FAIL per case; exit status is the number of failed cases (0 = all passed).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
server_ns= server_ip= client_ns= client_ip= server_router= client_router= variant=glibc
server_shim_dir= client_shim_dir= cases= port_base=21000 list=0
while [ $# -gt 0 ]; do
	case $1 in
	--server-ns) server_ns=$2; shift 2 ;;
	--server-ip) server_ip=$2; shift 2 ;;
	--client-ns) client_ns=$2; shift 2 ;;
	--client-ip) client_ip=$2; shift 2 ;;
	--router) server_router=$2 client_router=$2; shift 2 ;;
	--server-router) server_router=$2; shift 2 ;;
	--client-router) client_router=$2; shift 2 ;;
	--shim-dir) server_shim_dir=$2 client_shim_dir=$2; shift 2 ;;
	--server-shim-dir) server_shim_dir=$2; shift 2 ;;
	--client-shim-dir) client_shim_dir=$2; shift 2 ;;
	--variant) variant=$2; shift 2 ;;
	--cases) cases=$2; shift 2 ;;
	--port-base) port_base=$2; shift 2 ;;
	--list) list=1; shift ;;
	*) echo "run-suite: unknown argument $1" >&2; exit 100 ;;
	esac
done

all_cases="block nonblock epoll-lt epoll-et epoll-oneshot epoll-before-listen epoll-before-connect
poll ppoll select pselect accept-flags-none accept-flags-cloexec refused fork-workers
fork-workers-exclusive reuseport-workers threads shutdown-listener dup exec concurrent-200 mixed-shim-and-static sockopts server-reexec
relisten client-without-router server-without-router router-faults
v6-block v6-nonblock v6-epoll v6-epoll-before-connect v6-mixed-shim-and-static v6-bind-mapped
v6-server-reexec v6-dup v6-sockopts v6-refused v6only-listener v6-straight"
if [ $list = 1 ]; then echo $all_cases; exit 0; fi
[ -n "$cases" ] || cases=$all_cases
for v in server_ns server_ip client_ns client_ip server_router client_router; do
	[ -n "${!v}" ] || { echo "run-suite: --${v//_/-} is required" >&2; exit 100; }
done

case $variant in
glibc) shim=$here/build/glibc/libslimsocket.so bin=$here/build/test preload=$shim ;;
asan)
	shim=$here/build/asan/libslimsocket.so bin=$here/build/test-asan
	preload=$(gcc -print-file-name=libasan.so):$shim
	export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:exitcode=99}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}
	;;
musl) shim=$here/build/musl/libslimsocket.so bin=$here/build/test-musl preload=$shim ;;
*) echo "run-suite: unknown variant $variant" >&2; exit 100 ;;
esac
# The preload list of one side, with its shim taken from DIR if given.
side_preload() {
	[ -n "$1" ] || { echo "$preload"; return; }
	local new=$1/libslimsocket.so
	[ "$variant" = musl ] && new=$1/musl/libslimsocket.so
	echo "${preload/"$shim"/"$new"}"
}
server_preload=$(side_preload "$server_shim_dir")
client_preload=$(side_preload "$client_shim_dir")
static_client=$here/build/test/t_client_static
for f in ${server_preload//:/ } ${client_preload//:/ } "$bin/t_server" "$bin/t_client" "$bin/t_router_faults" "$static_client"; do
	[ -e "$f" ] || { echo "run-suite: $f missing (make -C native/shim)" >&2; exit 100; }
done

nspath() { case $1 in /*) echo "$1" ;; *) echo "/run/netns/$1" ;; esac; }
sns=$(nspath "$server_ns") cns=$(nspath "$client_ns")
tmp=$(mktemp -d /tmp/slim-shim-suite.XXXXXX)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in_ns NS PRELOAD ROUTER-SOCK PROGRAM ARGS...: run with the shim preloaded.
in_ns() {
	local ns=$1 pre=$2 sock=$3
	shift 3
	if [ "$sock" = default ]; then
		nsenter --net="$ns" env -u SLIM_ROUTER_SOCKET LD_PRELOAD="$pre" "$@"
	else
		nsenter --net="$ns" env LD_PRELOAD="$pre" SLIM_ROUTER_SOCKET="$sock" "$@"
	fi
}

failed=0
port=$port_base
log=

start_server() { # ROUTER-SOCK ARGS...
	local sock=$1
	shift
	in_ns "$sns" "$server_preload" "$sock" "$bin/t_server" --listen "$server_ip:$port" "$@" \
		>"$log.server.out" 2>"$log.server.err" &
	server_pid=$!
	for _ in $(seq 1 200); do
		grep -q '^READY' "$log.server.out" 2>/dev/null && return 0
		kill -0 "$server_pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

wait_server() {
	local rc=0
	wait "$server_pid" || rc=$?
	server_pid=
	return $rc
}

client() { # ROUTER-SOCK ARGS...
	local sock=$1
	shift
	in_ns "$cns" "$client_preload" "$sock" "$bin/t_client" --server "$server_ip:$port" --self "$client_ip" "$@" \
		>>"$log.client.out" 2>>"$log.client.err"
}

static_client() {
	nsenter --net="$cns" "$static_client" --server "$server_ip:$port" --self "$client_ip" "$@" \
		>>"$log.client.out" 2>>"$log.client.err"
}

# pair "SERVER ARGS" CLIENT-ARGS...: one server, one shim client; both must succeed.
pair() {
	local sargs=$1
	shift
	# shellcheck disable=SC2086
	start_server "$server_router" --peers "$client_ip" $sargs || return 1
	client "$client_router" "$@" || { wait_server; return 1; }
	wait_server
}

run_case() {
	case $1 in
	block) pair "--mode blocking --count 1 --expect-slim 1" --mode block --expect slim ;;
	nonblock) pair "--mode epoll-lt --count 1 --expect-slim 1" --mode nonblock --expect slim ;;
	epoll-lt)
		start_server "$server_router" --mode epoll-lt --count 3 --expect-slim 3 --check-close-range || return 1
		client "$client_router" --mode block --id 1 --expect slim && client "$client_router" --mode nonblock --id 2 &&
			client "$client_router" --mode concurrent --conns 1 --id 3 || { wait_server; return 1; }
		wait_server ;;
	epoll-et) pair "--mode epoll-et --count 20 --expect-slim 20" --mode concurrent --conns 20 --expect slim ;;
	epoll-oneshot) pair "--mode epoll-oneshot --count 20 --expect-slim 20" --mode concurrent --conns 20 --expect slim ;;
	epoll-before-listen) pair "--mode epoll-et --epoll-before-listen --count 5 --expect-slim 5" --mode concurrent --conns 5 --expect slim ;;
	epoll-before-connect) pair "--mode epoll-lt --count 1 --expect-slim 1" --mode epoll-before --expect slim ;;
	poll) pair "--mode poll --count 10 --expect-slim 10" --mode concurrent --conns 10 --expect slim ;;
	ppoll) pair "--mode ppoll --count 10 --expect-slim 10" --mode concurrent --conns 10 --expect slim ;;
	select) pair "--mode select --count 10 --expect-slim 10" --mode concurrent --conns 10 --expect slim ;;
	pselect) pair "--mode pselect --count 10 --expect-slim 10" --mode concurrent --conns 10 --expect slim ;;
	accept-flags-none) pair "--mode blocking --accept-flags none --accept-short --count 3 --expect-slim 3" --mode concurrent --conns 3 --expect slim ;;
	accept-flags-cloexec) pair "--mode epoll-lt --accept-flags cloexec --count 3 --expect-slim 3" --mode concurrent --conns 3 --expect slim ;;
	refused) client "$client_router" --mode refused ;;
	fork-workers) pair "--mode fork --workers 4 --count 60 --expect-slim 60" --mode concurrent --conns 60 --expect slim ;;
	fork-workers-exclusive) pair "--mode fork --workers 4 --exclusive --count 60 --expect-slim 60" --mode concurrent --conns 60 --expect slim ;;
	reuseport-workers) pair "--mode reuseport --workers 4 --count 80 --expect-slim 80 --expect-spread" --mode concurrent --conns 80 --expect slim ;;
	threads) pair "--mode threads --workers 8 --count 100 --expect-slim 100" --mode concurrent --conns 100 --expect slim ;;
	shutdown-listener)
		# shutdown() wakes threads blocked in accept(), and then nobody may complete a
		# handshake with the listener (its hidden twin included): connect() is refused.
		start_server "$server_router" --mode threads --workers 4 --count 4 --expect-slim 4 --shutdown-after || return 1
		client "$client_router" --mode concurrent --conns 4 --expect slim || { wait_server; return 1; }
		for _ in $(seq 1 100); do grep -q '^SHUTDOWN' "$log.server.out" && break; sleep 0.05; done
		client "$client_router" --mode refused || { wait_server; return 1; }
		wait_server ;;
	dup) pair "--mode blocking --count 1 --expect-slim 1" --mode dup --expect slim ;;
	exec) pair "--mode blocking --count 1 --expect-slim 1" --mode exec --expect slim ;;
	concurrent-200) pair "--mode epoll-et --count 200 --expect-slim 200" --mode concurrent --conns 200 --expect slim ;;
	mixed-shim-and-static)
		# One listening socket serves a client with the shim (host socket) and one without.
		start_server "$server_router" --mode epoll-lt --count 4 --expect-slim 2 --expect-overlay 2 --peers "$client_ip" || return 1
		client "$client_router" --mode block --id 1 --expect slim && static_client --mode block --id 2 --expect overlay &&
			static_client --mode nonblock --id 3 --expect overlay && client "$client_router" --mode nonblock --id 4 --expect slim ||
			{ wait_server; return 1; }
		wait_server ;;
	sockopts) pair "--mode blocking --count 1 --expect-slim 1" --mode sockopts --expect slim ;;
	server-reexec) pair "--mode epoll-lt --reexec --count 3 --expect-slim 3" --mode concurrent --conns 3 --expect slim ;;
	relisten) pair "--mode epoll-et --relisten --count 5 --expect-slim 5" --mode concurrent --conns 5 --expect slim ;;
	client-without-router)
		# No router for the client: its connect() takes the overlay, the server still serves it.
		start_server "$server_router" --mode epoll-lt --count 2 --expect-overlay 2 || return 1
		client /nonexistent/router.sock --mode block --id 1 --expect overlay &&
			client "" --mode nonblock --id 2 --expect overlay || { wait_server; return 1; }
		wait_server ;;
	server-without-router)
		# The server's listen() gets no hidden twin: Slim clients fall back to the overlay.
		start_server /nonexistent/router.sock --mode epoll-lt --count 2 --expect-overlay 2 || return 1
		client "$client_router" --mode block --id 1 --expect overlay && client "$client_router" --mode concurrent --conns 1 --id 2 --expect overlay ||
			{ wait_server; return 1; }
		wait_server ;;
	router-faults)
		# The client's router misbehaves in 14 ways (t_router_faults plays it): every connect()
		# still reaches the server, on the overlay, and no fd leaks.
		start_server "$server_router" --mode epoll-lt --count 14 --expect-overlay 14 || return 1
		in_ns "$cns" "$client_preload" "$tmp/hostile.sock" "$bin/t_router_faults" \
			--server "$server_ip:$port" --self "$client_ip" >>"$log.client.out" 2>>"$log.client.err" ||
			{ wait_server; return 1; }
		wait_server ;;
	# IPv6 dual-stack sockets (--family 6): an AF_INET6 listener on [::] serves IPv4 Slim clients
	# through a hidden IPv4 listener; an AF_INET6 client connecting to ::ffff:<server> is
	# replaced. Every address either side is shown must be the exact v4-mapped sockaddr_in6.
	v6-block)
		start_server "$server_router" --family 6 --v6only 0 --expect-twin 1 --accept-short --mode blocking \
			--count 2 --expect-slim 2 --peers "$client_ip" || return 1
		client "$client_router" --family 6 --mode block --id 1 --expect slim &&
			client "$client_router" --mode block --id 2 --expect slim || { wait_server; return 1; }
		wait_server ;;
	v6-nonblock) pair "--family 6 --mode epoll-lt --count 1 --expect-slim 1" --family 6 --mode nonblock --expect slim ;;
	# iperf3's case: IPv4 Slim clients of a server on [::].
	v6-epoll) pair "--family 6 --expect-twin 1 --mode epoll-et --count 20 --expect-slim 20" --mode concurrent --conns 20 --expect slim ;;
	v6-epoll-before-connect) pair "--mode epoll-lt --count 1 --expect-slim 1" --family 6 --mode epoll-before --expect slim ;;
	v6-mixed-shim-and-static)
		# The kernel's own v4-mapped addresses (static clients, on the overlay) pass the same
		# byte-for-byte checks as the shim's.
		start_server "$server_router" --family 6 --mode epoll-lt --accept-short --count 4 --expect-slim 2 --expect-overlay 2 \
			--peers "$client_ip" || return 1
		client "$client_router" --family 6 --mode block --id 1 --expect slim &&
			static_client --family 6 --mode block --id 2 --expect overlay &&
			static_client --mode nonblock --id 3 --expect overlay &&
			client "$client_router" --mode nonblock --id 4 --expect slim || { wait_server; return 1; }
		wait_server ;;
	v6-bind-mapped) pair "--family 6 --bind-mapped --expect-twin 1 --mode poll --count 3 --expect-slim 3" --family 6 --mode concurrent --conns 3 --expect slim ;;
	v6-server-reexec) pair "--family 6 --mode epoll-lt --reexec --count 3 --expect-slim 3" --family 6 --mode concurrent --conns 3 --expect slim ;;
	v6-dup) pair "--family 6 --mode blocking --count 1 --expect-slim 1" --family 6 --mode dup --expect slim ;;
	v6-sockopts) pair "--mode blocking --count 1 --expect-slim 1" --family 6 --mode sockopts --expect slim ;;
	v6-refused) client "$client_router" --family 6 --mode refused ;;
	v6only-listener)
		# IPV6_V6ONLY: no IPv4 clients, so no hidden listener.
		start_server "$server_router" --family 6 --v6only 1 --expect-twin 0 --mode blocking --count 0 || return 1
		wait_server ;;
	v6-straight) client "$client_router" --mode v6-straight ;;
	*) echo "unknown case $1" >"$log.client.err"; return 1 ;;
	esac
}

for c in $cases; do
	log=$tmp/$c
	: >"$log.server.out"
	: >"$log.server.err"
	: >"$log.client.out"
	: >"$log.client.err"
	start=$(date +%s.%N)
	if run_case "$c"; then
		printf 'PASS %-24s %ss\n' "$c" "$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')"
	else
		failed=$((failed + 1))
		printf 'FAIL %s\n' "$c"
		[ -n "$server_pid" ] && { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=; }
		for f in server.out server.err client.out client.err; do
			[ -s "$log.$f" ] && sed "s/^/    $f: /" "$log.$f" | tail -n 20
		done
	fi
	port=$((port + 1))
done
echo "run-suite ($variant): $failed failed"
exit $failed
