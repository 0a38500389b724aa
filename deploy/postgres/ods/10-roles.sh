#!/bin/bash
# ODS, first start only (docker-entrypoint-initdb.d): the writer role the warehouse connects as.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v writer_user="$WRITER_USER" -v writer_password="$WRITER_PASSWORD" \
    -f /docker-entrypoint-initdb.d/roles.psql
