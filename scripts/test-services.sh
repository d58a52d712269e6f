#!/usr/bin/env bash
# Starts the database servers the tests use, on Debian (run by scripts/test.sh after
# scripts/install.sh --test has installed them). A server that already answers is kept.
#   APPLIANCE_TEST_PG_DSN     PostgreSQL, trust auth   (default postgresql://postgres@127.0.0.1:5432/test)
#   APPLIANCE_TEST_MYSQL_DSN  MariaDB, root without password (default mysql://root@127.0.0.1:3306/test)
# A server that is absent is created (PostgreSQL: a cluster on the DSN's port) and started
# with trust auth on 127.0.0.1 for the DSN's user, and the DSN's database is created.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pg_dsn="${APPLIANCE_TEST_PG_DSN:-postgresql://postgres@127.0.0.1:5432/test}"
mysql_dsn="${APPLIANCE_TEST_MYSQL_DSN:-mysql://root@127.0.0.1:3306/test}"

# user host port database of a DSN URL (no password: the test servers trust loopback)
dsn_parts() {
    python3 -c 'import sys, urllib.parse as u; d = u.urlsplit(sys.argv[1]); print(d.username, d.hostname, d.port or sys.argv[2], d.path.lstrip("/"))' "$1" "$2"
}

wait_until() {  # wait_until SECONDS COMMAND...: true once COMMAND succeeds
    local tries=$(($1 * 5)); shift
    while ! "$@" >/dev/null 2>&1; do
        tries=$((tries - 1)); [ "$tries" -gt 0 ] || return 1; sleep 0.2
    done
}

postgres() {
    read -r user host port database < <(dsn_parts "$pg_dsn" 5432)
    local version cluster hba
    pg_sql() { psql -X -q -h "$host" -p "$port" -U "$user" -d postgres -tAc "$1"; }
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    cluster="$(pg_lsclusters -h | awk -v v="$version" -v p="$port" '$1 == v && $3 == p {print $2; exit}')"
    if ! pg_isready -q -h "$host" -p "$port"; then
        if [ -z "$cluster" ]; then
            cluster="appliance-test"
            echo "test.sh: creating the PostgreSQL $version cluster '$cluster' on port $port"
            $SUDO pg_createcluster --port "$port" "$version" "$cluster" -- --auth=trust >/dev/null
        fi
        echo "test.sh: starting the PostgreSQL cluster $version/$cluster on port $port"
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
        wait_until 30 pg_isready -q -h "$host" -p "$port"
    fi
    if ! pg_sql "SELECT 1" >/dev/null 2>&1 && [ -n "$cluster" ]; then  # Debian's default cluster asks for a password
        hba="/etc/postgresql/$version/$cluster/pg_hba.conf"
        echo "test.sh: trusting $user from 127.0.0.1 in $hba"
        $SUDO sed -i "1i host all $user 127.0.0.1/32 trust\nhost all $user ::1/128 trust" "$hba"
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" reload
        wait_until 10 pg_sql "SELECT 1"
    fi
    pg_sql "SELECT 1" >/dev/null || { echo "test.sh: cannot log in to PostgreSQL as $pg_dsn" >&2; exit 1; }
    [ "$(pg_sql "SELECT 1 FROM pg_database WHERE datname = '$database'")" = "1" ] \
        || pg_sql "CREATE DATABASE \"$database\""
}

mariadb_server() {
    read -r user host port database < <(dsn_parts "$mysql_dsn" 3306)
    local socket=/run/mysqld/mysqld.sock datadir=/var/lib/mysql
    if [ "$port" != 3306 ]; then socket="/run/mysqld/mysqld-$port.sock" datadir="/var/lib/mysql-test-$port"; fi
    my_sql() { mariadb -h "$host" -P "$port" -u "$user" -N -e "$1"; }
    if ! mariadb-admin -h "$host" -P "$port" --connect-timeout=5 ping >/dev/null 2>&1; then  # 0 when up, even if denied
        if [ ! -d "$datadir/mysql" ]; then
            echo "test.sh: creating the MariaDB data directory $datadir"
            $SUDO mariadb-install-db --user=mysql --datadir="$datadir" >/dev/null
        fi
        echo "test.sh: starting MariaDB on $host:$port"
        $SUDO mkdir -p /run/mysqld && $SUDO chown mysql: /run/mysqld
        $SUDO setsid mariadbd-safe --datadir="$datadir" --port="$port" --bind-address="$host" --socket="$socket" \
            --pid-file="${socket%.sock}.pid" </dev/null >/dev/null 2>&1 &
        wait_until 60 mariadb-admin --socket="$socket" ping \
            || { echo "test.sh: MariaDB did not start on port $port" >&2; exit 1; }
    fi
    if ! my_sql "SELECT 1" >/dev/null 2>&1 && [ -S "$socket" ]; then  # Debian's root logs in over the socket only
        echo "test.sh: letting $user log in to MariaDB over TCP without a password"
        $SUDO mariadb --socket="$socket" -e "
            CREATE USER IF NOT EXISTS '$user'@'127.0.0.1'; GRANT ALL ON *.* TO '$user'@'127.0.0.1' WITH GRANT OPTION;
            ALTER USER '$user'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')"
    fi
    my_sql "SELECT 1" >/dev/null || { echo "test.sh: cannot log in to MariaDB as $mysql_dsn" >&2; exit 1; }
    my_sql "CREATE DATABASE IF NOT EXISTS \`$database\`"
}

postgres
mariadb_server
