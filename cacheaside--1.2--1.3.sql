/* cacheaside--1.2--1.3.sql: objects added in 1.3 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cacheaside UPDATE TO '1.3'" to load this file. \quit
