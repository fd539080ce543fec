/* ame--1.4--2.0.sql: upgrade from 1.4 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ame UPDATE TO '2.0'" to load this file. \quit
