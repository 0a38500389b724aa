#!/bin/bash
# Standalone source, first start only (docker-entrypoint-initdb.d): the warehouse's roles and
# the pg_hba rule that lets the replica stream WAL. Passwords come from the environment.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner="$POSTGRES_USER" \
    -v replication_user="$REPLICATION_USER" -v replication_password="$REPLICATION_PASSWORD" \
    -v reader_user="$READER_USER" -v reader_password="$READER_PASSWORD" \
    -f /docker-entrypoint-initdb.d/roles.psql

# "all" in pg_hba.conf does not match replication connections: name them explicitly.
echo "host replication ${REPLICATION_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
