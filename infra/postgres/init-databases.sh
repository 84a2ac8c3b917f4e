#!/bin/bash
# PostgreSQL's first start (docker-entrypoint-initdb.d, an empty data volume): one database per
# service, each owned by its own login role, which runs that service's migrations; every service
# but randomisation also connects as it. Randomisation connects as rlc_randomisation_app, which
# owns nothing: its table privileges come from randomisation-app-role.sql, applied after every
# migration (the randomisation-app-role one-shot in docker-compose.yml).
#
# Passwords come from the container's environment (RLC_<SERVICE>_DB_PASSWORD,
# RLC_RANDOMISATION_APP_DB_PASSWORD) and reach SQL as psql variables, quoted by format(%L).
set -euo pipefail

psql_admin() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" "$@"
}

# create_database <database> <owner role> <owner password>
create_database() {
    psql_admin --dbname postgres -v db="$1" -v owner="$2" -v password="$3" <<'EOSQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'owner', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"owner";
EOSQL
}

create_database recruitment rlc_recruitment "$RLC_RECRUITMENT_DB_PASSWORD"
create_database randomisation rlc_randomisation "$RLC_RANDOMISATION_DB_PASSWORD"
create_database surveys rlc_surveys "$RLC_SURVEYS_DB_PASSWORD"
create_database workshops rlc_workshops "$RLC_WORKSHOPS_DB_PASSWORD"
create_database analytics rlc_analytics "$RLC_ANALYTICS_DB_PASSWORD"

# The randomisation app role: it may connect, and nothing more until the grants script runs.
psql_admin --dbname postgres -v role=rlc_randomisation_app \
    -v password="$RLC_RANDOMISATION_APP_DB_PASSWORD" <<'EOSQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
GRANT CONNECT ON DATABASE randomisation TO :"role";
EOSQL
