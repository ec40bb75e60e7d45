# nginx.sh - sourced by tests: a private nginx on 127.0.0.1 serving one
# directory, for real HTTP transfers (Range, throttling, dropped
# connections) without touching the system's nginx, its config or service.
# Everything it writes (config, pid, logs, temp dirs) lives in NGINX_DIR.
#
#   nginx_start ROOT_DIR  start; sets NGINX_PORT, NGINX_URL, NGINX_DIR
#   nginx_stop            fast shutdown (open transfers are cut), keeps
#                         NGINX_DIR so that the logs can be read
#   nginx_restart         nginx_stop, then start again on the same port
#   nginx_cleanup         nginx_stop and remove NGINX_DIR
#
# Only NGINX_DIR is needed by stop, restart and cleanup, so a later shell can
# act on a server an earlier one started. The master runs as a daemon with
# its stdio on /dev/null: a caller reading our stdout through a pipe (popen)
# would otherwise wait for the server to exit.
#
# Locations: / (plain), /slow/ (256 KiB/s), /veryslow/ (32 KiB/s),
# /slowfirst/ (32 KiB/s unless the request has a Range header, so that a
# transfer cut by nginx_stop resumes fast), /norange/ (Range ignored, always
# 200), /chunked/ (no Content-Length, because SSI drops it; files served
# there must not hold "<!--#"), /status503/ (always 503), /redir/X (302 to
# /X), /loop/ (redirects to itself), /flaky/X (503 until ROOT/flaky/X
# exists), /busy/X (429 with Retry-After: 1 until ROOT/busy/X exists),
# /echo/ (200 with "METHOD CONTENT_TYPE CONTENT_LENGTH X_SLURM_USER_TOKEN"
# of the request), /dav/ (as / but PUT writes ROOT's files, making their
# directories; only when nginx has the dav module), and like it /davget403/
# (GET is 403), /davsmall/ (PUT bodies up to 1 KiB) and /davauth/ (401
# unless Authorization matches the regex NGINX_AUTH_RE, by default the unit
# tests' credentials), /davrace/ (as /dav/, but a GET of a key ending in
# /started is 404, as if another start's PUT came after this probe),
# /davnostart/ (as /dav/, but a GET of a key ending in /started is 403: a
# store that refuses the wrapper's probe).
# The dav locations honour "If-None-Match: *" on PUT (412 when the file
# exists), which nginx's dav module ignores: a map and two ifs, the
# recipe README gives for a run store on nginx. access.log in NGINX_DIR
# has one line per request: "METHOD URI STATUS BYTES range=RANGE".

NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

# Installs nginx when it is missing (CI runs as root on Debian).
nginx_ensure() {
	[ -x "$NGINX_BIN" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "nginx.sh: $NGINX_BIN missing and not root" >&2
		return 1
	fi
	apt-get update >/dev/null 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light \
		>/dev/null 2>&1 ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y nginx \
		>/dev/null 2>&1
	[ -x "$NGINX_BIN" ]
}

# _nginx_conf ROOT PORT: the config on stdout. Temp paths point into
# NGINX_DIR because the compiled-in ones are under /var/lib/nginx; they are
# only named for modules this binary has.
_nginx_conf() {
	_v=$("$NGINX_BIN" -V 2>&1)
	echo "daemon on;"
	echo "worker_processes 1;"
	echo "pid $NGINX_DIR/nginx.pid;"
	echo "error_log $NGINX_DIR/error.log warn;"
	# Workers must read ROOT (often under a 0700 mktemp dir) as we can.
	[ "$(id -u)" -eq 0 ] && echo "user root root;"
	echo "events { worker_connections 64; }"
	echo "http {"
	echo "	default_type application/octet-stream;"
	echo "	log_format tfs '\$request_method \$request_uri \$status" \
	     "\$body_bytes_sent range=\$http_range conn=\$connection';"
	echo "	access_log $NGINX_DIR/access.log tfs;"
	echo "	client_body_temp_path $NGINX_DIR/tmp/body;"
	for _m in proxy fastcgi uwsgi scgi; do
		case $_v in
		*--without-http_${_m}_module*) ;;
		*) echo "	${_m}_temp_path $NGINX_DIR/tmp/$_m;" ;;
		esac
	done
	echo "	sendfile on;"
	echo "	map \$http_range \$tfs_first_rate { \"\" 32k; default 0; }"
	# /davauth/'s credentials: NGINX_AUTH_RE, or the unit tests' two (one
	# with a '"' and a '\\', which curl's config must get quoted)
	echo "	map \$http_authorization \$tfs_auth_ok {" \
	     "\"~^(${NGINX_AUTH_RE:-Bearer (store-secret-4711|q.x.y)})\$\" 1;" \
	     "default 0; }"
	# If-None-Match: * on a PUT: 412 when the file is there (checked and
	# renamed in one pass of the worker: README says what is left)
	echo "	map \$http_if_none_match \$tfs_inm { \"*\" 1; default 0; }"
	_inm='set $tfs_c $tfs_inm; if (-e $request_filename) { set $tfs_c "${tfs_c}e"; } if ($tfs_c = 1e) { return 412; }'
	echo "	server {"
	echo "		listen 127.0.0.1:$2;"
	echo "		root $1;"
	echo "		location /slow/ { alias $1/; limit_rate 256k; }"
	echo "		location /veryslow/ { alias $1/; limit_rate 32k; }"
	echo "		location /slowfirst/ { alias $1/;" \
	     "limit_rate \$tfs_first_rate; }"
	echo "		location /norange/ { alias $1/; max_ranges 0; }"
	echo "		location /chunked/ { alias $1/; ssi on; ssi_types *; }"
	echo "		location /status503/ { return 503; }"
	case $_v in
	*--with-http_dav_module*)
		echo "		location /dav/ { alias $1/; $_inm dav_methods PUT;" \
		     "create_full_put_path on; client_max_body_size 64m; }"
		echo "		location /davget403/ { alias $1/; $_inm" \
		     "dav_methods PUT; create_full_put_path on;" \
		     "limit_except PUT { deny all; } }"
		echo "		location /davsmall/ { alias $1/; $_inm" \
		     "dav_methods PUT;" \
		     "create_full_put_path on; client_max_body_size 1k; }"
		echo "		location /davauth/ {" \
		     "if (\$tfs_auth_ok = 0) { return 401; }" \
		     "alias $1/; $_inm dav_methods PUT;" \
		     "create_full_put_path on; client_max_body_size 64m; }"
		echo "		location /davnostart/ { alias $1/;" \
		     "set \$tfs_g \"\$request_method:\$uri\";" \
		     "if (\$tfs_g ~ \"^GET:.*/started\$\") { return 403; }" \
		     "$_inm dav_methods PUT;" \
		     "create_full_put_path on; client_max_body_size 64m; }"
		echo "		location /davrace/ { alias $1/;" \
		     "set \$tfs_g \"\$request_method:\$uri\";" \
		     "if (\$tfs_g ~ \"^GET:.*/started\$\") { return 404; }" \
		     "$_inm dav_methods PUT;" \
		     "create_full_put_path on; client_max_body_size 64m; }" ;;
	esac
	echo "		location /redir/ {" \
	     "rewrite ^/redir/(.*)\$ /\$1 redirect; }"
	echo "		location /loop/ {" \
	     "rewrite ^/loop/(.*)\$ /loop/\$1 redirect; }"
	echo "		location /flaky/ { try_files \$uri =503; }"
	echo "		location /busy/ { try_files \$uri @busy; }"
	echo "		location @busy { add_header Retry-After 1 always;" \
	     "return 429; }"
	echo "		location /echo/ { return 200 \"\$request_method" \
	     "\$content_type \$content_length \$http_x_slurm_user_token\"; }"
	echo "	}"
	echo "}"
}

# _nginx_launch: starts the master with the config in NGINX_DIR and waits
# for its pid file. Returns 1 when nginx refused to start (port taken).
_nginx_launch() {
	rm -f "$NGINX_DIR/nginx.pid"
	"$NGINX_BIN" -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" \
		-e "$NGINX_DIR/error.log" </dev/null >/dev/null \
		2>>"$NGINX_DIR/stderr.log" || return 1
	# The daemonised child writes the pid file after the parent returned;
	# the socket is already listening, so the port answers from here on.
	_i=0
	while [ ! -s "$NGINX_DIR/nginx.pid" ]; do
		_i=$((_i + 1))
		[ $_i -gt 100 ] && return 1
		sleep 0.05
	done
	return 0
}

# nginx_serve_state: serves the test's $STATE/runs (the local provider's
# artifact root) with nginx_start; returns 1 when nginx would not start.
nginx_serve_state() {
	mkdir -p "$STATE/runs"
	chmod 755 "$WORK" "$STATE" "$STATE/runs"
	nginx_start "$STATE/runs"
}

nginx_start() {
	if [ $# -ne 1 ] || [ ! -d "$1" ]; then
		echo "usage: nginx_start ROOT_DIR" >&2
		return 1
	fi
	nginx_ensure || return 1
	_root=$(cd "$1" && pwd) || return 1
	NGINX_DIR=$(mktemp -d /tmp/tfs-nginx.XXXXXX) || return 1
	mkdir -p "$NGINX_DIR/tmp"
	# Files created by tests may be 0600 and their dir 0700; workers run
	# as root when we are root, and as us otherwise, so no chmod is needed.
	_try=0
	while [ $_try -lt 20 ]; do
		_try=$((_try + 1))
		_r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		_port=$((18080 + _r % 2000))
		_nginx_conf "$_root" "$_port" >"$NGINX_DIR/nginx.conf"
		if _nginx_launch; then
			NGINX_PORT=$_port
			NGINX_URL=http://127.0.0.1:$_port
			echo "$_port" >"$NGINX_DIR/port"
			export NGINX_PORT NGINX_URL NGINX_DIR
			return 0
		fi
	done
	echo "nginx.sh: cannot start nginx:" >&2
	cat "$NGINX_DIR/error.log" "$NGINX_DIR/stderr.log" 2>/dev/null |
		tail -5 >&2
	rm -rf "$NGINX_DIR"
	NGINX_DIR=
	return 1
}

# _nginx_alive PID: true while the process exists and is not a zombie. The
# daemonised master is a child of PID 1, which in a container may reap it
# late or never, and a zombie no longer holds the port.
_nginx_alive() {
	[ -r "/proc/$1/stat" ] || { kill -0 "$1" 2>/dev/null; return; }
	_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$_st" ] && [ "$_st" != Z ]
}

# Fast shutdown (TERM): the master cuts open connections, stops its worker
# and exits; we wait for it, and kill its process group after 5 s.
nginx_stop() {
	[ -n "$NGINX_DIR" ] && [ -s "$NGINX_DIR/nginx.pid" ] || return 0
	_pid=$(cat "$NGINX_DIR/nginx.pid")
	case $_pid in ''|*[!0-9]*) return 1 ;; esac
	kill -TERM "$_pid" 2>/dev/null
	_i=0
	while _nginx_alive "$_pid"; do
		_i=$((_i + 1))
		if [ $_i -gt 100 ]; then
			kill -s KILL -- "-$_pid" 2>/dev/null
			sleep 0.1
			break
		fi
		sleep 0.05
	done
	rm -f "$NGINX_DIR/nginx.pid"
	return 0
}

nginx_restart() {
	[ -n "$NGINX_DIR" ] && [ -f "$NGINX_DIR/nginx.conf" ] || return 1
	nginx_stop
	_i=0
	# The old sockets are closed once the master is gone (nginx sets
	# SO_REUSEADDR), but give a slow kernel a few tries.
	until _nginx_launch; do
		_i=$((_i + 1))
		[ $_i -gt 20 ] && return 1
		sleep 0.05
	done
	NGINX_PORT=$(cat "$NGINX_DIR/port")
	NGINX_URL=http://127.0.0.1:$NGINX_PORT
	export NGINX_PORT NGINX_URL
	return 0
}

nginx_cleanup() {
	nginx_stop
	case $NGINX_DIR in /tmp/tfs-nginx.*) rm -rf "$NGINX_DIR" ;; esac
	NGINX_DIR=
}
