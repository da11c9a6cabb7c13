/*-------------------------------------------------------------------------
 *
 * entry.h
 *	  The format of a cache entry, independent of where its bytes are kept.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_ENTRY_H
#define CACHEASIDE_ENTRY_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

#include "fingerprint.h"

#define ENTRY_VERSION		3
#define ENTRY_FIXED_SIZE	80

/* Most bytes of privilege checks an entry may carry */
#define ENTRY_MAX_CHECK_BYTES	(1024 * 1024)

/* Kinds of privilege checks (see entry.c for their encoding) */
#define ENTRY_CHECK_RELATION	1	/* privileges on a relation, its columns */
#define ENTRY_CHECK_FUNCTION	2	/* EXECUTE on a function */
#define ENTRY_CHECK_SCHEMA		3	/* USAGE on a schema named in the query */

/* One decoded privilege check */
typedef struct EntryCheck
{
	uint32		kind;
	Oid			role;			/* whose privileges were checked */
	Oid			object;
	uint32		privileges;		/* relation: the AclMode required */
	uint32		version;		/* relation, function: xmin of its pg_class
								 * or pg_proc row */
	uint32		ncolumns;		/* relation: columns read */
	const char *columns;		/* ncolumns big-endian uint32: attribute
								 * number - FirstLowInvalidHeapAttributeNumber */
} EntryCheck;

/* Flags */
#define ENTRY_TRACKED		0x0001	/* epoch and as_of are meaningful */

/* A decoded entry, or the description of one to encode */
typedef struct CacheEntry
{
	uint32		flags;
	TimestampTz created;
	uint8		fingerprint[FINGERPRINT_LEN];
	uint64		epoch;			/* cluster start the entry was made in */
	uint64		as_of;			/* commit sequence number it saw (track.c) */
	int			nrelations;		/* relations its query read */
	Oid		   *relations;
	const char *checks;			/* privilege checks its query passed */
	size_t		checks_len;		/* (encoded, see entry_check_next) */
	char	   *payload;		/* the JSON text, not NUL-terminated */
	size_t		payload_len;
} CacheEntry;

extern size_t entry_header_size(int nrelations, size_t checks_len);
extern void entry_encode_header(StringInfo buf, const CacheEntry *entry);
extern const char *entry_decode(char *data, size_t len, CacheEntry *entry);
extern text *entry_payload_text(CacheEntry *entry);
extern void entry_encode_check(StringInfo buf, uint32 kind, Oid role,
							   Oid object, uint32 privileges, uint32 version,
							   const uint32 *columns, uint32 ncolumns);
extern const char *entry_check_next(const char *p, const char *end,
									EntryCheck *check);
extern uint32 entry_check_column(const EntryCheck *check, uint32 i);

#endif							/* CACHEASIDE_ENTRY_H */
