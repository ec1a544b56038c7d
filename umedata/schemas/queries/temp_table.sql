-- An Arrow table registered as {source} copied into a TEMP table {name} (exact statistics for the planner).
CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {source};
