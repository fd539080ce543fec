/* ame--1.1--1.2.sql: upgrade from 1.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ame UPDATE TO '1.2'" to load this file. \quit

-- Each change of 1.2 has its own section below; a fresh 1.2 install
-- (src/sql/) and this upgrade give the same objects (test/upgrade.t).
