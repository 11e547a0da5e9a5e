#!/usr/bin/env bash
# A local PostgreSQL and an MLflow tracking server backed by it, on 127.0.0.1, for distributed
# studies (storage=postgres tracking=server). Usage:
#   scripts/services.sh start    # (make services) start both, print the two exports
#   scripts/services.sh stop     # (make services-stop)
#   scripts/services.sh env      # print the exports again
# Settings (environment): CELLSWEEP_SERVICES_DIR (default .services), CELLSWEEP_SERVICES_HOST
# (default 127.0.0.1: nothing listens beyond this machine unless you ask), CELLSWEEP_PG_PORT
# (5433), CELLSWEEP_MLFLOW_PORT (5001). The database password is random, kept in
# $DIR/password (mode 600), and only ever printed inside the export lines.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mkdir -p "${CELLSWEEP_SERVICES_DIR:-$ROOT/.services}" && cd "${CELLSWEEP_SERVICES_DIR:-$ROOT/.services}" && pwd)
HOST=${CELLSWEEP_SERVICES_HOST:-127.0.0.1}
PG_PORT=${CELLSWEEP_PG_PORT:-5433}
MLFLOW_PORT=${CELLSWEEP_MLFLOW_PORT:-5001}
MLFLOW=${CELLSWEEP_MLFLOW_BIN:-$ROOT/.venv/bin/mlflow}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$PGBIN" ] || PGBIN=$(dirname "$(command -v initdb || command -v pg_ctl || echo /usr/bin/x)")
PGDATA=$DIR/pg/data

die() { echo "services: $*" >&2; exit 2; }
as_pg() {  # PostgreSQL refuses to run as root: use the postgres account then
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
env_lines() {
  local pw; pw=$(cat "$DIR/password")
  echo "export CELLSWEEP_OPTUNA_STORAGE=postgresql+psycopg2://cellsweep:$pw@$HOST:$PG_PORT/optuna"
  echo "export MLFLOW_TRACKING_URI=http://$HOST:$MLFLOW_PORT"
}

start() {
  [ -x "$PGBIN/initdb" ] || die "PostgreSQL not found (Debian: apt-get install postgresql)"
  [ -x "$MLFLOW" ] || die "mlflow not found at $MLFLOW: run make setup first"
  mkdir -p "$DIR/pg" "$DIR/artifacts"
  if [ ! -s "$DIR/password" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DIR/password")
  fi
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$DIR/pg"; cp "$DIR/password" "$DIR/pg/.pw"; chown postgres "$DIR/pg/.pw"; fi
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    [ "$(id -u)" = 0 ] || cp "$DIR/password" "$DIR/pg/.pw"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U cellsweep --pwfile="$DIR/pg/.pw" \
      --auth=scram-sha-256 -E UTF8 >"$DIR/pg/initdb.log" 2>&1 || die "initdb failed: see $DIR/pg/initdb.log"
  fi
  rm -f "$DIR/pg/.pw"
  if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$DIR/pg/server.log" \
      -o "-h $HOST -p $PG_PORT -k $DIR/pg" start >/dev/null || die "PostgreSQL did not start: see $DIR/pg/server.log"
  fi
  local pw; pw=$(cat "$DIR/password")
  for db in optuna mlflow; do
    PGPASSWORD=$pw "$PGBIN/psql" -h "$HOST" -p "$PG_PORT" -U cellsweep -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 ||
      PGPASSWORD=$pw "$PGBIN/psql" -h "$HOST" -p "$PG_PORT" -U cellsweep -d postgres -qc "CREATE DATABASE $db"
  done
  if ! curl -sf "http://$HOST:$MLFLOW_PORT/health" >/dev/null 2>&1; then
    nohup "$MLFLOW" server --host "$HOST" --port "$MLFLOW_PORT" --workers 2 \
      --backend-store-uri "postgresql+psycopg2://cellsweep:$pw@$HOST:$PG_PORT/mlflow" \
      --artifacts-destination "$DIR/artifacts" >"$DIR/mlflow.log" 2>&1 &
    echo $! >"$DIR/mlflow.pid"
    for _ in $(seq 1 120); do
      curl -sf "http://$HOST:$MLFLOW_PORT/health" >/dev/null 2>&1 && break
      kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null || die "mlflow server exited: see $DIR/mlflow.log"
      sleep 1
    done
    curl -sf "http://$HOST:$MLFLOW_PORT/health" >/dev/null || die "mlflow server not up: see $DIR/mlflow.log"
  fi
  env_lines >"$DIR/env"
  chmod 600 "$DIR/env"
  echo "PostgreSQL on $HOST:$PG_PORT and MLflow on http://$HOST:$MLFLOW_PORT; for workers run:" >&2
  echo "  source $DIR/env   # or:" >&2
  env_lines
}

stop() {
  if [ -f "$DIR/mlflow.pid" ]; then
    pid=$(cat "$DIR/mlflow.pid")
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    rm -f "$DIR/mlflow.pid"
  fi
  if [ -f "$PGDATA/PG_VERSION" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
  fi
  echo "services stopped" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  *) die "usage: $0 start|stop|env" ;;
esac
