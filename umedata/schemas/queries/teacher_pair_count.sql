-- How many pairs the warehouse holds (teacher_pending.sql is run in parts of producer.SPILL_PART_PAIRS pairs).
SELECT count(*) AS pairs FROM pairs;
