-- A version build's DuckDB session: a memory limit, and where DuckDB spills what does not fit (joins, sorts and
-- TEMP tables of a million-pair build go to disk instead of growing the process).
SET memory_limit = $memory_limit;
SET temp_directory = $temp_directory;
