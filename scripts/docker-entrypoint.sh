#!/bin/sh
# jitbroker's container entrypoint. It checks what would otherwise make the daemon fail late or
# run unsafely, then execs the jitbroker CLI, so the daemon gets the signals (tini is PID 1 in the
# image). POSIX sh; it runs outside a container too, which is how test/e2e/docker-entrypoint.test.ts
# drives it.
#
#   JITBROKER_APP_DIR     the directory holding dist/ and config/                 default /app
#   JITBROKER_NODE        the node executable                                      default node
#   JITBROKER_DATA_DIR    the data dir: created 0700 if missing, made 0700,        default /var/lib/jitbroker
#                         must be owned by this user and writable
#   JITBROKER_ALLOW_ROOT  1: run as root anyway (refused otherwise)
#
# `serve` without --config listens on 0.0.0.0 (JITBROKER_HOST) unless JITBROKER_HOST or
# JITBROKER_HTTP_HOST says otherwise. On a non-loopback address it needs one of
# JITBROKER_HTTP_TLS_CERT + JITBROKER_HTTP_TLS_KEY (HTTPS) or JITBROKER_HTTP_ALLOW_INSECURE=true
# (plain HTTP behind a TLS proxy); it never sets allowInsecure itself. With --config the file
# decides and the daemon does the same check.
#
# Exit code 2: refused before starting (as the daemon's own refusals); 1: the app is not where
# JITBROKER_APP_DIR says; anything else is the jitbroker command's own.
set -eu

me=jitbroker-entrypoint

refuse() {
	printf '%s: refusing to start:\n' "$me" >&2
	for line in "$@"; do
		printf '  %s\n' "$line" >&2
	done
	exit 2
}

app_dir=${JITBROKER_APP_DIR:-/app}
node_bin=${JITBROKER_NODE:-node}
cli=$app_dir/dist/cli/main.js
uid=$(id -u)

[ "$#" -gt 0 ] || set -- serve

# 1. Not as root: the daemon holds the admin password of every managed device.
if [ "$uid" = 0 ] && [ "${JITBROKER_ALLOW_ROOT:-}" != 1 ]; then
	refuse "running as root (uid 0): jitbroker holds the local admin password of every managed device and must run as an unprivileged user." \
		"The image runs as uid 10001: do not override it (docker run --user, Kubernetes runAsUser: 0)." \
		"To run as root anyway (not recommended), set JITBROKER_ALLOW_ROOT=1."
fi

# 2. The data dir (database, vault master key, identity and checkpoint keys): this user's, 0700, writable.
data_dir=${JITBROKER_DATA_DIR:-/var/lib/jitbroker}
export JITBROKER_DATA_DIR="$data_dir"
umask 077
# shellcheck disable=SC2174 # parents made on the way get 0700 from the umask; the data dir itself from -m
if [ ! -e "$data_dir" ] && ! mkdir -p -m 0700 "$data_dir" 2>/dev/null; then
	refuse "data dir $data_dir does not exist and uid $uid cannot create it." \
		"Mount a volume there (docker run -v jitbroker-data:/var/lib/jitbroker) or set JITBROKER_DATA_DIR to a directory uid $uid may write."
fi
if [ ! -d "$data_dir" ]; then
	refuse "data dir $data_dir is not a directory."
fi
if [ ! -O "$data_dir" ] && [ "$uid" != 0 ]; then
	refuse "data dir $data_dir is owned by uid $(stat -c %u "$data_dir" 2>/dev/null || echo '?'), not by uid $uid that runs jitbroker: it must be this user's own, mode 0700." \
		"Fix the volume's owner, e.g. chown -R $uid:$(id -g) on the host directory, or use a named volume (created with the image's owner)."
fi
if ! chmod 0700 "$data_dir" 2>/dev/null; then
	refuse "data dir $data_dir: cannot set its mode to 0700 (read-only file system?)."
fi
probe=$data_dir/.jitbroker-write-test.$$
if ! (: >"$probe") 2>/dev/null; then
	refuse "data dir $data_dir is not writable by uid $uid (read-only mount?): the daemon writes its database and keys there."
fi
rm -f "$probe"

# 3. Where `serve` listens: all addresses in a container, but never plain HTTP there unless asked for.
has_config_file() {
	for arg in "$@"; do
		case $arg in
		-c | --config | --config=*) return 0 ;;
		esac
	done
	return 1
}

is_loopback() {
	case $1 in
	localhost | ::1 | 127.[0-9]*) return 0 ;;
	*) return 1 ;;
	esac
}

if [ "$1" = serve ] && ! has_config_file "$@"; then
	if [ -z "${JITBROKER_HOST:-}" ] && [ -z "${JITBROKER_HTTP_HOST:-}" ]; then
		export JITBROKER_HOST=0.0.0.0
	fi
	# JITBROKER_HOST wins over JITBROKER_HTTP_HOST, as in the daemon's configuration.
	host=${JITBROKER_HOST:-${JITBROKER_HTTP_HOST:-}}
	cert=${JITBROKER_HTTP_TLS_CERT:-}
	key=${JITBROKER_HTTP_TLS_KEY:-}
	insecure=${JITBROKER_HTTP_ALLOW_INSECURE:-}
	if [ -n "$cert" ] || [ -n "$key" ]; then
		if [ -z "$cert" ] || [ -z "$key" ]; then
			refuse "HTTPS needs both JITBROKER_HTTP_TLS_CERT and JITBROKER_HTTP_TLS_KEY (PEM files); only one is set."
		fi
	elif ! is_loopback "$host" && [ "$insecure" != true ]; then
		if [ -n "$insecure" ] && [ "$insecure" != false ]; then
			refuse "JITBROKER_HTTP_ALLOW_INSECURE=$insecure: accepted: true or false."
		fi
		refuse "jitbroker would listen on $host over plain HTTP: bearer tokens and passwords would cross the network unencrypted." \
			"Choose one:" \
			"- HTTPS: mount a certificate and its key and set JITBROKER_HTTP_TLS_CERT=/run/secrets/tls.crt JITBROKER_HTTP_TLS_KEY=/run/secrets/tls.key" \
			"- plain HTTP that only a TLS-terminating proxy on a private network reaches: set JITBROKER_HTTP_ALLOW_INSECURE=true" \
			"- loopback only (a proxy in the same network namespace, e.g. a sidecar): set JITBROKER_HOST=127.0.0.1" \
			"- or pass serve --config FILE and set http.host with http.tls or http.allowInsecure there."
	fi
fi

if [ ! -f "$cli" ]; then
	printf '%s: %s not found: set JITBROKER_APP_DIR to the directory holding dist/ (npm run build).\n' "$me" "$cli" >&2
	exit 1
fi
exec "$node_bin" "$cli" "$@"
