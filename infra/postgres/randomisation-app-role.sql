-- The randomisation service's runtime role, rlc_randomisation_app.
--
-- The migration role owns the tables (it runs `rlc migrate`); the app connects as this role and
-- gets only what it uses. Above all it may only SELECT and INSERT on the log: with no UPDATE,
-- DELETE or TRUNCATE privilege, and the table's triggers refusing them for everybody else, the
-- log cannot be rewritten through the app's credentials.
--
-- Run as the migration role (or a superuser) in the randomisation database, after migrating:
--   psql "$RANDOMISATION_MIGRATION_URL" -v ON_ERROR_STOP=1 -f infra/postgres/randomisation-app-role.sql
-- and give the role its password out of band: ALTER ROLE rlc_randomisation_app PASSWORD '...';

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rlc_randomisation_app') THEN
        CREATE ROLE rlc_randomisation_app LOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO rlc_randomisation_app;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM rlc_randomisation_app;

-- The append-only log: read and append, nothing else.
GRANT SELECT, INSERT ON log_entry TO rlc_randomisation_app;

-- Written once, never changed.
GRANT SELECT, INSERT ON scheme, run_school, signing_key, audit_event TO rlc_randomisation_app;

-- Changed in place: a run's status, an allocation's in-error flag, a notification's delivery.
GRANT SELECT, INSERT, UPDATE ON run, allocation, notification TO rlc_randomisation_app;

-- The log's data version, replaced by a trigger with each append (rlc_shared.versions), read
-- before a cached page of the log is answered.
GRANT SELECT, INSERT, UPDATE ON data_version TO rlc_randomisation_app;

-- /readyz compares the schema with the migrations' head.
GRANT SELECT ON alembic_version TO rlc_randomisation_app;

GRANT USAGE, SELECT ON SEQUENCE
    audit_event_id_seq, run_school_id_seq, allocation_id_seq, notification_id_seq
    TO rlc_randomisation_app;
