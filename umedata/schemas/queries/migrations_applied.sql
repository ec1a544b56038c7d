-- Migrations already applied to this file.
SELECT version FROM schema_migrations;
