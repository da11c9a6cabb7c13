# shellcheck shell=bash disable=SC2034
# test/lib.sh: shell helpers shared by scripts/, test/with-redis, test/valgrind
# and bench/.
#
# Source it from bash:   . "$repo/test/lib.sh"
#
# It starts throwaway PostgreSQL and Redis servers on free loopback ports and
# stops them again.  Every function is prefixed ca_; sourcing the file changes
# no shell option of the caller (no set -e/-u/-o pipefail here), and each
# function reports failure through its return status with a message on stderr,
# so it behaves the same whether or not the caller runs under set -e.
#
#   ca_ensure_packages                  apt-get install what is missing
#   ca_build_install                    make clean, make -Werror, make install
#   ca_build_install_test_modules       the same for test/modules/* (tests only)
#   ca_free_port                        print a free loopback TCP port
#   ca_workdir                          make (and print) a temp dir postgres can write
#   ca_copy_tests DEST                  copy what the make test targets read into
#                                       DEST, for postgres whatever the checkout's mode
#   ca_copy_checkout DEST               copy the checkout's files, without build
#                                       products (what git ignores), into DEST
#   ca_redis_start DIR [redis args...]  start Redis; sets CA_REDIS_PORT, CA_REDIS_PID
#   ca_redis_stop [PID]                 stop it (default: $CA_REDIS_PID)
#   ca_redis_settings PORT              print the postgresql.conf lines the tests
#                                       need for a Redis on 127.0.0.1:PORT
#   ca_pg_start DIR [conf lines...]     initdb + start; sets CA_PG_PORT, CA_PG_HOST,
#                                       CA_PG_DIR (DIR), CA_PG_DATA (DIR/data);
#                                       CA_PG_POSTGRES=path starts that executable
#                                       instead of postgres (e.g. a valgrind wrapper)
#   ca_pg_stop [DIR]                    pg_ctl stop -m fast (default: $CA_PG_DIR)
#   ca_psql [psql args...]              psql -X -v ON_ERROR_STOP=1 as postgres
#   ca_as_postgres CMD [ARGS...]        run a command as the postgres OS user
#   ca_cleanup                          stop everything started, remove temp dirs
#
# CA_PG_VERSION (default 15) names the PostgreSQL used, under
# $CA_PG_ROOT/usr/lib/postgresql/$CA_PG_VERSION, and the packages CA_PACKAGES
# installs (scripts/test-versions sets it in its roots).
#
# Callers install the cleanup first thing:   trap ca_cleanup EXIT
#
# Everything started is recorded in files under one state directory made
# when this file is sourced (/tmp/cacheaside.XXXXXXXX), so servers started from a
# subshell or a command substitution are stopped too.  Set CA_KEEP_WORKDIR=1
# to keep the temporary directories (logs, data) for debugging.

# ---------------------------------------------------------------------------
# constants
# ---------------------------------------------------------------------------

CA_PG_VERSION="${CA_PG_VERSION:-15}"
# CA_PG_ROOT: a private, relocated copy of PostgreSQL's files made by
# scripts/private-pg (empty: the system's own).  The build is installed there
# and the servers run from there, so several checkouts can test at once
# without installing over each other.
CA_PG_ROOT="${CA_PG_ROOT:-}"
CA_PG_BINDIR="${CA_PG_ROOT}/usr/lib/postgresql/${CA_PG_VERSION}/bin"
CA_PG_CONFIG="${CA_PG_BINDIR}/pg_config"
CA_PGXS_DIR="${CA_PG_ROOT}/usr/lib/postgresql/${CA_PG_VERSION}/lib/pgxs"
CA_PG_REGRESS="${CA_PGXS_DIR}/src/test/regress/pg_regress"
CA_PG_ISOLATION_REGRESS="${CA_PGXS_DIR}/src/test/isolation/pg_isolation_regress"
CA_PG_TEST_PERL="${CA_PGXS_DIR}/src/test/perl"
CA_PYTHON=/usr/bin/python3
# a PATH for commands run as postgres: root's PATH may point into /root
CA_SAFE_PATH="${CA_PG_BINDIR}:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
# repository root (this file lives in <root>/test/lib.sh)
CA_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# a name of its own (mktemp), never one derived from the PID: processes in
# other PID namespaces (scripts/test-versions' runs) share /tmp
CA_STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/cacheaside.XXXXXXXX")" ||
	{ echo "cacheaside: error: cannot create a state directory" >&2; exit 1; }
chmod 755 "$CA_STATE_DIR"

# Debian packages every script of the project may need, for PostgreSQL
# $CA_PG_VERSION (scripts/test-versions installs them in its roots).  The
# server headers of 16 and later include <unicode/ucol.h> without depending
# on libicu-dev.
CA_PACKAGES=(
	"postgresql-${CA_PG_VERSION}" "postgresql-server-dev-${CA_PG_VERSION}"
	libhiredis-dev liblz4-dev libzstd-dev redis-server
	libipc-run-perl python3 python3-psycopg2 python3-flask
	python3-psycopg python3-asyncpg python3-sqlalchemy python3-django
	gcc make ca-certificates valgrind
)
if ((CA_PG_VERSION == 15)); then
	CA_PACKAGES+=(postgresql-contrib)
else
	CA_PACKAGES+=(libicu-dev)
fi

# ---------------------------------------------------------------------------
# messages and bookkeeping
# ---------------------------------------------------------------------------

ca_log() { printf '%s\n' "-- $*" >&2; }
ca_err() { printf '%s\n' "cacheaside: error: $*" >&2; }

# _ca_state: make sure the state directory exists (readable by postgres)
_ca_state()
{
	if [[ ! -d "$CA_STATE_DIR" ]]; then
		mkdir -p "$CA_STATE_DIR" || { ca_err "cannot create $CA_STATE_DIR"; return 1; }
		chmod 755 "$CA_STATE_DIR"
	fi
}

# _ca_record FILE LINE: remember something to clean up
_ca_record()
{
	_ca_state || return 1
	printf '%s\n' "$2" >>"$CA_STATE_DIR/$1"
}

# _ca_forget FILE LINE: drop a line recorded with _ca_record
_ca_forget()
{
	local f="$CA_STATE_DIR/$1"
	[[ -f "$f" ]] || return 0
	grep -vxF -- "$2" "$f" >"$f.new" || true
	mv -f "$f.new" "$f"
}

# _ca_pid_alive PID: true while the process exists and is not a zombie
_ca_pid_alive()
{
	local pid="$1" state
	kill -0 "$pid" 2>/dev/null || return 1
	state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
	[[ "$state" != "Z" && -n "$state" ]]
}

# _ca_wait_exit PID SECONDS: wait for a process to go away (reaps our children)
_ca_wait_exit()
{
	local pid="$1" tries=$(($2 * 10))
	while ((tries-- > 0)); do
		if ! _ca_pid_alive "$pid"; then
			wait "$pid" 2>/dev/null || true
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# ca_as_postgres CMD [ARGS...]: run a command as the postgres OS user, with a
# PATH that has the PostgreSQL binaries first.  The caller's working directory
# is kept: it must be readable by postgres when the command uses it.
ca_as_postgres()
{
	if [[ "$(id -u)" == 0 ]]; then
		runuser -u postgres -- env PATH="$CA_SAFE_PATH" "$@"
	elif [[ "$(id -un)" == postgres ]]; then
		env PATH="$CA_SAFE_PATH" "$@"
	else
		ca_err "run as root (or as postgres): initdb and pg_regress refuse root, so they run as postgres"
		return 1
	fi
}

# ---------------------------------------------------------------------------
# packages and build
# ---------------------------------------------------------------------------

# ca_ensure_packages [extra packages...]: install whatever is missing.
# nodejs/npm are only checked when CA_NEED_NODE=1 (the client suite sets it);
# a nodejs that ships npm itself (NodeSource) is accepted.
ca_ensure_packages()
{
	local missing=() p status
	for p in "${CA_PACKAGES[@]}" "$@"; do
		status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" || status=""
		[[ "$status" == "install ok installed" ]] || missing+=("$p")
	done
	if [[ "${CA_NEED_NODE:-0}" == 1 ]]; then
		command -v node >/dev/null 2>&1 || missing+=(nodejs)
		command -v npm >/dev/null 2>&1 || missing+=(npm)
	fi
	((${#missing[@]} == 0)) && return 0
	if [[ "$(id -u)" != 0 ]]; then
		ca_err "missing packages (${missing[*]}), and not root to install them"
		return 1
	fi
	ca_log "installing: ${missing[*]}"
	apt-get update -q || { ca_err "apt-get update failed"; return 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		{ ca_err "apt-get install ${missing[*]} failed"; return 1; }
	# Debian's postgresql package starts a default cluster on 5432; nothing
	# here uses it, but it is left alone (it may be someone else's).
	return 0
}

# ca_build_install: build with warnings as errors and install into PostgreSQL 15
ca_build_install()
{
	(
		cd "$CA_REPO" || exit 1
		make -s clean PG_CONFIG="$CA_PG_CONFIG" >/dev/null || exit 1
		make COPT='-Wall -Wextra -Werror' PG_CONFIG="$CA_PG_CONFIG" || exit 1
		make install PG_CONFIG="$CA_PG_CONFIG" >/dev/null || exit 1
	) || { ca_err "build or install of the extension failed"; return 1; }
}

# ca_build_install_test_modules: build and install the libraries of
# test/modules (for tests only: TAP tests that need one skip without it)
ca_build_install_test_modules()
{
	local m
	for m in "$CA_REPO"/test/modules/*/; do
		[[ -f "$m/Makefile" ]] || continue
		(
			cd "$m" || exit 1
			make -s clean PG_CONFIG="$CA_PG_CONFIG" >/dev/null || exit 1
			make -s COPT='-Wall -Wextra -Werror' PG_CFLAGS=-Wno-unused-parameter \
				PG_CONFIG="$CA_PG_CONFIG" || exit 1
			make -s install PG_CONFIG="$CA_PG_CONFIG" >/dev/null || exit 1
		) || { ca_err "build or install of test module $m failed"; return 1; }
	done
}

# ---------------------------------------------------------------------------
# ports and directories
# ---------------------------------------------------------------------------

# ca_free_port: print a TCP port that is free on 127.0.0.1 right now
ca_free_port()
{
	"$CA_PYTHON" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
' || { ca_err "cannot find a free port"; return 1; }
}

# ca_workdir [NAME]: create a temporary directory owned by postgres and print
# its path.  It lives under the state directory and goes with ca_cleanup.
ca_workdir()
{
	local d
	_ca_state || return 1
	d="$(mktemp -d "$CA_STATE_DIR/${1:-work}.XXXXXX")" || { ca_err "mktemp failed"; return 1; }
	chmod 755 "$d"
	if [[ "$(id -u)" == 0 ]]; then
		chown postgres: "$d" || { ca_err "cannot chown $d to postgres (is postgresql installed?)"; return 1; }
	fi
	printf '%s\n' "$d"
}

# ca_copy_tests DEST: copy the Makefile and the test inputs (sql/, expected/,
# test/) of the checkout into DEST, owned by postgres, so that make
# installcheck and make prove_installcheck can run there as postgres (they
# write their results beside the inputs) from a checkout postgres cannot
# read or write, such as a clone in a directory of mode 0700.
ca_copy_tests()
{
	local dest="${1:?ca_copy_tests: DEST}" d
	mkdir -p "$dest" || return 1
	cp "$CA_REPO/Makefile" "$dest/" || return 1
	for d in sql expected test; do
		cp -R "$CA_REPO/$d" "$dest/" || { ca_err "cannot copy $d to $dest"; return 1; }
	done
	if [[ "$(id -u)" == 0 ]]; then
		chown -R postgres: "$dest" || { ca_err "cannot chown $dest to postgres"; return 1; }
	fi
}

# ca_copy_checkout DEST: copy the checkout's files into DEST (created): in a
# git checkout those tracked and the untracked ones git does not ignore, so
# uncommitted changes come along and build products (*.o, *.so) do not;
# otherwise everything but .git
ca_copy_checkout()
{
	local dest="${1:?ca_copy_checkout: DEST}"
	mkdir -p "$dest" || return 1
	if git -C "$CA_REPO" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$CA_REPO" && git ls-files -z --cached --others --exclude-standard |
			xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
			tar --null -T - -cf -) | tar -C "$dest" -xf -
	else
		(cd "$CA_REPO" && tar --exclude=./.git -cf - .) | tar -C "$dest" -xf -
	fi
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------

# ca_redis_start DIR [extra redis-server args...]
# Starts redis-server in the foreground of a background job (not daemonized),
# bound to 127.0.0.1 on a free port, without persistence.  Waits (at most
# 10 s) until it answers PING, then exports CA_REDIS_PORT and CA_REDIS_PID.
ca_redis_start()
{
	local dir="${1:?ca_redis_start: DIR}" port pid attempt i
	shift
	mkdir -p "$dir" || return 1
	command -v redis-server >/dev/null || { ca_err "redis-server is not installed"; return 1; }
	for attempt in 1 2 3; do
		port="$(ca_free_port)" || return 1
		: >"$dir/redis.log"
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
			--daemonize no --dir "$dir" --pidfile "$dir/redis.pid" \
			--logfile "$dir/redis.log" "$@" </dev/null >>"$dir/redis.out" 2>&1 &
		pid=$!
		_ca_record redis.pids "$pid"
		for ((i = 0; i < 100; i++)); do
			if ! _ca_pid_alive "$pid"; then
				break
			fi
			if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]; then
				export CA_REDIS_PORT="$port" CA_REDIS_PID="$pid"
				ca_log "redis-server pid $pid on 127.0.0.1:$port"
				return 0
			fi
			sleep 0.1
		done
		# not answering: stop what we started and maybe retry on another port
		kill -TERM "$pid" 2>/dev/null || true
		_ca_wait_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
		_ca_forget redis.pids "$pid"
		if ! grep -qs 'Address already in use' "$dir/redis.log" "$dir/redis.out"; then
			break
		fi
		ca_log "port $port was taken, retrying"
	done
	ca_err "redis-server did not answer PING; its output and log ($dir):"
	cat "$dir/redis.out" "$dir/redis.log" >&2 2>/dev/null || true
	return 1
}

# ca_redis_stop [PID]: stop a Redis started by ca_redis_start and wait for it
ca_redis_stop()
{
	local pid="${1:-${CA_REDIS_PID:-}}"
	[[ -n "$pid" ]] || return 0
	if _ca_pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true # in case a test left it SIGSTOPped
		if ! _ca_wait_exit "$pid" 10; then
			ca_log "redis-server $pid ignored SIGTERM, killing it"
			kill -KILL "$pid" 2>/dev/null || true
			_ca_wait_exit "$pid" 5 || { ca_err "redis-server $pid did not exit"; return 1; }
		fi
	else
		wait "$pid" 2>/dev/null || true
	fi
	_ca_forget redis.pids "$pid"
	if [[ "$pid" == "${CA_REDIS_PID:-}" ]]; then
		unset CA_REDIS_PID CA_REDIS_PORT
	fi
	return 0
}

# ca_redis_settings PORT: print the postgresql.conf lines that point
# cacheaside at a Redis on 127.0.0.1:PORT, with the placeholder setting the
# regression tests read to reach the same Redis through redis-cli
ca_redis_settings()
{
	local port="${1:?ca_redis_settings: PORT}"
	printf '%s\n' \
		"cacheaside.host = '127.0.0.1'" \
		"cacheaside.port = $port" \
		"cacheaside_test.redis_port = $port"
}

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

# ca_pg_start DIR [extra postgresql.conf lines...]
# initdb (as postgres, trust authentication) into DIR/data, listen on
# 127.0.0.1 at a free port with the Unix socket in DIR, append the extra lines
# to postgresql.conf and start it with pg_ctl -w (log: DIR/postgres.log).
# Exports CA_PG_PORT, CA_PG_HOST (the socket directory), CA_PG_DIR, CA_PG_DATA.
ca_pg_start()
{
	local dir="${1:?ca_pg_start: DIR}" port line attempt
	shift
	mkdir -p "$dir" || return 1
	if [[ "$(id -u)" == 0 ]]; then chown postgres: "$dir" || return 1; fi
	chmod 755 "$dir" || return 1
	if ! ca_as_postgres "$CA_PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust \
		-E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		ca_err "initdb failed; its output:"
		cat "$dir/initdb.log" >&2
		return 1
	fi
	_ca_record pg.dirs "$dir"
	for attempt in 1 2 3; do
		port="$(ca_free_port)" || return 1
		{
			echo ""
			echo "# added by test/lib.sh ca_pg_start"
			echo "listen_addresses = '127.0.0.1'"
			echo "port = $port"
			echo "unix_socket_directories = '$dir'"
			echo "fsync = off"
			echo "logging_collector = off"
			for line in "$@"; do printf '%s\n' "$line"; done
		} >"$dir/ca_pg.conf"
		chown postgres: "$dir/ca_pg.conf" 2>/dev/null || true
		# include the generated file last so a retry can replace it
		grep -qxF "include = '$dir/ca_pg.conf'" "$dir/data/postgresql.conf" ||
			echo "include = '$dir/ca_pg.conf'" >>"$dir/data/postgresql.conf"
		if ca_as_postgres "$CA_PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
			${CA_PG_POSTGRES:+-p "$CA_PG_POSTGRES"} -w -t 300 start >"$dir/pg_ctl.log" 2>&1; then
			export CA_PG_PORT="$port" CA_PG_HOST="$dir" CA_PG_DIR="$dir" CA_PG_DATA="$dir/data"
			ca_log "postgres on 127.0.0.1:$port (socket dir $dir)"
			return 0
		fi
		if grep -q 'could not bind' "$dir/postgres.log" 2>/dev/null; then
			ca_log "port $port was taken, retrying"
			continue
		fi
		break
	done
	ca_err "PostgreSQL did not start; pg_ctl output and server log:"
	cat "$dir/pg_ctl.log" "$dir/postgres.log" >&2 2>/dev/null || true
	return 1
}

# ca_pg_stop [DIR]: stop the server started by ca_pg_start in DIR
ca_pg_stop()
{
	local dir="${1:-${CA_PG_DIR:-}}" pid
	[[ -n "$dir" ]] || return 0
	if [[ -f "$dir/data/postmaster.pid" ]]; then
		if ! ca_as_postgres "$CA_PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1; then
			pid="$(head -n1 "$dir/data/postmaster.pid" 2>/dev/null)" || pid=""
			if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
				ca_log "pg_ctl stop failed, sending SIGQUIT to postmaster $pid"
				kill -QUIT "$pid" 2>/dev/null || true
				_ca_wait_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
			fi
		fi
	fi
	_ca_forget pg.dirs "$dir"
	if [[ "$dir" == "${CA_PG_DIR:-}" ]]; then
		unset CA_PG_PORT CA_PG_HOST CA_PG_DIR CA_PG_DATA
	fi
	return 0
}

# ca_psql [psql args...]: psql as postgres against the last ca_pg_start server
# (database $CA_PG_DB, default postgres).  -f FILE needs a file postgres can read;
# stdin works anywhere.
ca_psql()
{
	[[ -n "${CA_PG_PORT:-}" ]] || { ca_err "ca_psql: no server (call ca_pg_start first)"; return 1; }
	ca_as_postgres "$CA_PG_BINDIR/psql" -X -v ON_ERROR_STOP=1 -h "$CA_PG_HOST" \
		-p "$CA_PG_PORT" -U postgres -d "${CA_PG_DB:-postgres}" "$@"
}

# ca_pg_dsn: print a libpq connection string for the last ca_pg_start server
ca_pg_dsn()
{
	printf 'host=127.0.0.1 port=%s user=postgres dbname=%s\n' "$CA_PG_PORT" "${CA_PG_DB:-postgres}"
}

# ---------------------------------------------------------------------------
# cleanup
# ---------------------------------------------------------------------------

# ca_cleanup: stop every server started through this file (also those started
# from subshells), then remove the temporary directories.  Safe to call twice.
# Preserves the exit status it was called with, so `trap ca_cleanup EXIT` keeps
# the script's status.
ca_cleanup()
{
	local rc=$? pid dir
	if [[ -f "$CA_STATE_DIR/pg.dirs" ]]; then
		while IFS= read -r dir; do
			if [[ -n "$dir" ]]; then ca_pg_stop "$dir" || true; fi
		done < <(cat "$CA_STATE_DIR/pg.dirs")
	fi
	if [[ -f "$CA_STATE_DIR/redis.pids" ]]; then
		while IFS= read -r pid; do
			if [[ -n "$pid" ]]; then ca_redis_stop "$pid" || true; fi
		done < <(cat "$CA_STATE_DIR/redis.pids")
	fi
	# servers that tools started inside our directories and may have left
	# behind when interrupted: pg_regress temporary instances, TAP nodes and
	# RedisServer.pm servers (checked by process name before signalling)
	if [[ -d "$CA_STATE_DIR" ]]; then
		local f comm
		while IFS= read -r f; do
			pid="$(head -n1 "$f" 2>/dev/null)" || continue
			[[ "$pid" =~ ^[0-9]+$ ]] || continue
			comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || continue
			# both servers run in the directory of their pid file
			[[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$(cd "$(dirname "$f")" && pwd -P)" ]] || continue
			case "$(basename "$f"):$comm" in
			postmaster.pid:postgres*)
				ca_log "stopping leftover postmaster $pid ($(dirname "$f"))"
				kill -QUIT "$pid" 2>/dev/null || true
				_ca_wait_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
				;;
			redis.pid:redis-server*)
				ca_log "stopping leftover redis-server $pid"
				kill -TERM "$pid" 2>/dev/null || true
				kill -CONT "$pid" 2>/dev/null || true
				_ca_wait_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
				;;
			esac
		done < <(find "$CA_STATE_DIR" \( -name postmaster.pid -o -name redis.pid \) -type f 2>/dev/null)
	fi
	if [[ -d "$CA_STATE_DIR" ]]; then
		if [[ "${CA_KEEP_WORKDIR:-0}" == 1 ]]; then
			ca_log "kept $CA_STATE_DIR (CA_KEEP_WORKDIR=1)"
		else
			rm -rf "$CA_STATE_DIR"
		fi
	fi
	return "$rc"
}
