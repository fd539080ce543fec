/* ame--1.3--1.4.sql: upgrade from 1.3 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ame UPDATE TO '1.4'" to load this file. \quit
