#!/bin/bash
# The replica: a hot standby of $PRIMARY_HOST. On first start it clones the primary with
# pg_basebackup (-R writes primary_conninfo and standby.signal, -X stream copies the WAL the
# backup needs, -c fast does not wait for a spread checkpoint); afterwards it only starts.
set -euo pipefail
: "${PRIMARY_HOST:?}" "${PRIMARY_PORT:=5432}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; do
        echo "replica: waiting for ${PRIMARY_HOST}:${PRIMARY_PORT}"
        sleep 2
    done
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    # The password goes through the environment, never the command line (ps would show it).
    PGPASSWORD="$REPLICATION_PASSWORD" gosu postgres pg_basebackup \
        -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" \
        -D "$PGDATA" -R -X stream -c fast
fi

# hot_standby_feedback: the primary keeps rows a long extraction on the replica still reads,
# instead of the standby cancelling that query on a replay conflict.
exec gosu postgres postgres -c hot_standby=on -c hot_standby_feedback=on
