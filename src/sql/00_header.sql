/* ame--2.0.sql, assembled by the Makefile from the pieces in src/sql/ */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION ame" to load this file. \quit
