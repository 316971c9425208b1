-- flov7 0.1.2 -> 0.1.3.
-- Hand-written; a fresh 0.1.3 install (sql/parts/) must end up with the same catalog
-- (test/upgrade/run.sh compares them).  Each change names its issue and the part it mirrors.
\echo Use "ALTER EXTENSION flov7 UPDATE TO '0.1.3'" to load this file. \quit
