# Shared by the deploy/local scripts: where state lives, and small process helpers.
# Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# One instance per purpose ("dev" for the run command, "test" for the test command), so a
# test run never touches the sandbox's data.
INSTANCE=${TOWER_LOCAL_INSTANCE:-dev}
STATE=${TOWER_STATE_DIR:-$ROOT/.local}

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# as_root CMD...: run as root, through sudo when we are not root.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

# free_port: a port nobody listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pid_alive FILE: the pid in FILE is a running process.
pid_alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# wait_port PORT SECONDS: until something accepts TCP on 127.0.0.1:PORT.
wait_port() {
  python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# stop_pid FILE NAME: SIGTERM, wait up to 15 s, then SIGKILL; removes FILE.
stop_pid() {
  local file=$1 name=$2
  if ! pid_alive "$file"; then rm -f "$file"; return 0; fi
  local pid; pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$file"; log "$name stopped"; return 0; }
    sleep 0.1
  done
  log "$name did not stop within 15 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

# start_backing_servers: what the tests and the benches run against, on loopback: a
# MongoDB-compatible server (unless MONGODB_URI points at one) and an sshd with one
# SFTP-only user; their addresses in TOWER_TEST_* (exported). Pair with
# stop_backing_servers (an EXIT trap).
start_backing_servers() {
  if [ -n "${MONGODB_URI:-}" ]; then
    log "using the operator's MongoDB (MONGODB_URI)"
    export TOWER_TEST_MONGODB_URI=$MONGODB_URI
  else
    "$ROOT/deploy/local/mongodb" install
    TOWER_TEST_MONGODB_URI=$("$ROOT/deploy/local/mongodb" start --fresh)
    started_mongodb=1
    export TOWER_TEST_MONGODB_URI
  fi
  "$ROOT/deploy/local/sshd" install
  TOWER_TEST_SSHD_PORT=$("$ROOT/deploy/local/sshd" start)
  # One SFTP user; each test works in a folder of its own in its home. Named after this
  # checkout and instance, so two checkouts on one machine do not share it.
  TOWER_TEST_SFTP_USER=tt_$(printf '%s' "$STATE/$INSTANCE" | sha256sum | cut -c1-8)
  TOWER_TEST_SFTP_PASSWORD=tower-test-password
  TOWER_TEST_SFTP_HOME=$("$ROOT/deploy/local/sshd" user "$TOWER_TEST_SFTP_USER" "$TOWER_TEST_SFTP_PASSWORD")
  TOWER_TEST_SFTP_KEY=$STATE/sshd-$INSTANCE/keys/$TOWER_TEST_SFTP_USER
  export TOWER_TEST_SSHD_PORT TOWER_TEST_SFTP_USER TOWER_TEST_SFTP_PASSWORD TOWER_TEST_SFTP_HOME TOWER_TEST_SFTP_KEY
}

stop_backing_servers() {
  "$ROOT/deploy/local/sshd" stop || true
  if [ -n "${started_mongodb:-}" ]; then "$ROOT/deploy/local/mongodb" stop || true; fi
}
