#!/usr/bin/env bash
# A throwaway PostgreSQL 15 + pgvector server on 127.0.0.1, for the real-server tests.
#
# Local use (bash), one command from the repository root:
#
#     source .ci/postgres.sh start
#
# It builds and installs pgvector if this machine lacks it (once; needs root or sudo), starts a fresh
# cluster on a free port, checks that `CREATE EXTENSION vector` works, and exports
# DATABASE_URL=postgres://postgres@127.0.0.1:PORT/relay_embeddings (trust auth on loopback) plus
# RELAY_PG_DIR (the cluster's directory). The cluster stops and is deleted when that shell exits
# (an EXIT trap, added to any trap already set); `bash .ci/postgres.sh stop` stops it earlier.
# Sourcing it again in the same shell reuses the running cluster.
#
# Subcommands, for scripts (run with bash, not sourced):
#   env      install if needed, start a cluster, print `export ...` lines for eval (logs go to stderr);
#            nothing stops this one for you: `bash .ci/postgres.sh stop` with RELAY_PG_DIR set
#   stop     stop the cluster in $RELAY_PG_DIR (or the directory given) and delete it
#   run CMD  run CMD with DATABASE_URL: the developer's if set, else a throwaway cluster for CMD only
#            (`npm run test:pg` is `bash .ci/postgres.sh run vitest run`)
#   install  only build and install pgvector; `install --force` rebuilds even if present (make install
#            rewrites vector.so in place: stop the servers that use it first)
#
# Settings (environment): PG_BIN (default /usr/lib/postgresql/15/bin), RELAY_PG_DB (default
# relay_embeddings), PGVECTOR_SOURCE_SUITE (default trixie: the Debian release whose source package
# is built; bookworm packages no pgvector for PostgreSQL 15 new enough for HNSW).

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: keep this part small and leave the caller's shell options alone; the work runs in a
  # child bash with strict mode.
  relay_pg_script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  case "${1:-start}" in
    start)
      if relay_pg_exports="$(bash "$relay_pg_script" env)"; then
        eval "$relay_pg_exports"
        unset relay_pg_exports
        # One trap per cluster directory, run before whatever EXIT trap the caller already has (which
        # may end with `exit`, and then nothing after it would run).
        relay_pg_trap="bash $(printf %q "$relay_pg_script") stop $(printf %q "$RELAY_PG_DIR")"
        relay_pg_old_trap="$(trap -p EXIT)"
        relay_pg_old_trap="${relay_pg_old_trap#"trap -- "}"
        eval "relay_pg_old_trap=${relay_pg_old_trap%" EXIT"}"
        # shellcheck disable=SC2064 # the trap names this cluster: expand now
        case "$relay_pg_old_trap" in
          *"$relay_pg_trap"*) ;;
          "") trap "$relay_pg_trap" EXIT ;;
          *) trap "$relay_pg_trap"$'\n'"$relay_pg_old_trap" EXIT ;;
        esac
        unset relay_pg_trap relay_pg_old_trap
        echo "postgres.sh: DATABASE_URL=$DATABASE_URL (stops when this shell exits)" >&2
      else
        unset relay_pg_exports
        echo "postgres.sh: start failed" >&2
        return 1
      fi
      ;;
    stop)
      bash "$relay_pg_script" stop "${RELAY_PG_DIR:-}" || return 1
      unset DATABASE_URL RELAY_PG_DIR
      ;;
    *)
      echo "postgres.sh: sourced, it knows 'start' and 'stop'; run it with bash for: ${1}" >&2
      return 2
      ;;
  esac
  unset relay_pg_script
  return 0
fi

set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="$PG_BIN/pg_config"
DB_NAME="${RELAY_PG_DB:-relay_embeddings}"
SOURCE_SUITE="${PGVECTOR_SOURCE_SUITE:-trixie}"
SRC_LIST=/etc/apt/sources.list.d/relay-embeddings-pgvector-src.sources

log() { echo "postgres.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Root runs the system changes directly; anyone else goes through sudo.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "'$*' needs root and sudo is missing"
  fi
}

# PostgreSQL refuses to run as root: the server and its tools run as the postgres user then.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

vector_control() { echo "$("$PG_CONFIG" --sharedir)/extension/vector.control"; }

# The deb-src entry reuses the mirror and keyring of this machine's own Debian sources: the stanza
# that serves the machine's release (deb822 file, or a one-line sources.list as a fallback).
write_source_entry() {
  local codename uris signed_by
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [[ -n "$codename" ]] || die "no VERSION_CODENAME in /etc/os-release"
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    read -r uris signed_by < <(awk -v suite="$codename" '
      BEGIN { RS = ""; FS = "\n" }
      {
        u = ""; s = ""; k = "-"; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u) }
          if ($i ~ /^Suites:/) { n = split(substr($i, 8), w, /[ \t]+/); for (j = 1; j <= n; j++) if (w[j] == suite) ok = 1 }
          if ($i ~ /^Signed-By:/) { k = $i; sub(/^Signed-By:[ \t]*/, "", k) }
        }
        if (ok && u != "") { split(u, first, /[ \t]+/); print first[1], k; exit }
      }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z "${uris:-}" && -f /etc/apt/sources.list ]]; then
    uris="$(awk -v suite="$codename" '$1 == "deb" && $0 !~ /\[/ && $3 == suite { print $2; exit }' /etc/apt/sources.list)"
    signed_by=-
  fi
  [[ -n "${uris:-}" ]] || die "found no Debian mirror for '$codename' in this machine's apt sources"
  {
    echo "# Written by @relay/embeddings .ci/postgres.sh: Debian $SOURCE_SUITE source packages only"
    echo "# (deb-src, no binaries), to build pgvector for PostgreSQL 15. Mirror copied from debian.sources."
    echo "Types: deb-src"
    echo "URIs: $uris"
    echo "Suites: $SOURCE_SUITE"
    echo "Components: main"
    [[ "$signed_by" == "-" ]] || echo "Signed-By: $signed_by"
  } | as_root tee "$SRC_LIST.tmp" >/dev/null
  as_root mv "$SRC_LIST.tmp" "$SRC_LIST"
}

install_pgvector() {
  local force="${1:-}"
  [[ -x "$PG_CONFIG" ]] || die "no PostgreSQL 15 at $PG_BIN (set PG_BIN)"
  if [[ "$force" != "--force" && -f "$(vector_control)" ]]; then
    log "pgvector already installed ($(vector_control))"
    return
  fi
  (
    # Two runs on one machine (two clones, two shells) must not drive apt at the same time.
    exec 9>/tmp/relay-embeddings-pgvector.lock
    flock 9
    if [[ "$force" != "--force" && -f "$(vector_control)" ]]; then
      log "pgvector was installed meanwhile"
      exit 0
    fi
    local t0=$SECONDS
    log "building pgvector from Debian $SOURCE_SUITE source"
    export DEBIAN_FRONTEND=noninteractive
    write_source_entry
    as_root apt-get update -qq
    # dpkg-dev unpacks the source package; the server headers pull in the compilers PGXS uses.
    as_root apt-get install -y -qq --no-install-recommends \
      build-essential dpkg-dev postgresql-server-dev-15 >/dev/null
    local build
    build="$(mktemp -d /tmp/relay-pgvector-build.XXXXXX)"
    trap 'rm -rf "$build"' EXIT
    # _apt downloads into the directory when it may write there (else apt warns and downloads as root).
    if id _apt >/dev/null 2>&1 && [[ $EUID -eq 0 ]]; then chown _apt "$build"; fi
    cd "$build"
    apt-get source -qq "pgvector/$SOURCE_SUITE" >&2
    cd "$(find . -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)"
    make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >&2
    as_root make -s install PG_CONFIG="$PG_CONFIG" >&2
    [[ -f "$(vector_control)" ]] || die "make install did not install $(vector_control)"
    log "pgvector $(sed -nE "s/^default_version = '(.*)'/\1/p" "$(vector_control)") installed in $((SECONDS - t0))s"
  )
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

psql_in() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "$2" -At -c "$3"; }

print_exports() {
  printf 'export DATABASE_URL=%q\n' "postgres://postgres@127.0.0.1:$1/$DB_NAME"
  printf 'export RELAY_PG_DIR=%q\n' "$2"
}

start_cluster() {
  # Same shell, cluster still up: hand back the one that runs.
  if [[ -n "${RELAY_PG_DIR:-}" && -f "$RELAY_PG_DIR/port" ]] &&
    as_pg "$PG_BIN/pg_ctl" -D "$RELAY_PG_DIR/data" status >/dev/null 2>&1; then
    log "reusing the running cluster in $RELAY_PG_DIR"
    print_exports "$(cat "$RELAY_PG_DIR/port")" "$RELAY_PG_DIR"
    return
  fi

  if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  local dir port=""
  dir="$(mktemp -d /tmp/relay-pg.XXXXXX)"
  [[ $EUID -eq 0 ]] && chown postgres: "$dir"
  # Stop and delete the half-made cluster if anything below fails (this process ends right after).
  trap 'stop_cluster "'"$dir"'" >/dev/null 2>&1 || true' EXIT
  as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    false
  }
  # Throwaway data: durability off for speed. Only loopback TCP, and the socket in our own directory.
  cat >>"$dir/data/postgresql.conf" <<EOF

# .ci/postgres.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  # Free ports are a guess until the server binds one: retry a few.
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null; then
      break
    fi
    port=""
  done
  [[ -n "$port" ]] || {
    tail -n 20 "$dir/server.log" >&2 || true
    die "the server did not start"
  }
  echo "$port" >"$dir/port"

  psql_in "$port" postgres "CREATE DATABASE $DB_NAME" >/dev/null
  local version
  version="$(psql_in "$port" "$DB_NAME" "CREATE EXTENSION IF NOT EXISTS vector;
    SELECT extversion FROM pg_extension WHERE extname = 'vector'")"
  [[ "$(psql_in "$port" "$DB_NAME" "SELECT '[1,0]'::vector <-> '[0,0]'::vector")" == "1" ]] ||
    die "pgvector answers wrongly"
  trap - EXIT
  log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') + pgvector $version on 127.0.0.1:$port ($dir)"
  print_exports "$port" "$dir"
}

stop_cluster() {
  local dir="${1:-${RELAY_PG_DIR:-}}"
  [[ -n "$dir" ]] || die "stop: no cluster (RELAY_PG_DIR is unset and no directory was given)"
  [[ "$dir" == /tmp/relay-pg.* ]] || die "stop: '$dir' is not a cluster directory made by this script"
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  log "stopped and removed $dir"
}

case "${1:-}" in
  env)
    install_pgvector
    start_cluster
    ;;
  start)
    die "'start' sets variables in your shell: source it (source .ci/postgres.sh start), or eval the 'env' subcommand"
    ;;
  stop) stop_cluster "${2:-}" ;;
  run)
    shift
    [[ $# -gt 0 ]] || die "run: give the command to run"
    if [[ -n "${DATABASE_URL:-}" ]]; then
      log "using DATABASE_URL from the environment"
      exec "$@"
    fi
    install_pgvector
    exports="$(start_cluster)"
    eval "$exports"
    trap 'stop_cluster "$RELAY_PG_DIR"' EXIT
    "$@"
    ;;
  install) install_pgvector "${2:-}" ;;
  *)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
    ;;
esac
