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

#define ENTRY_VERSION		2
#define ENTRY_FIXED_SIZE	80

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
	char	   *payload;		/* the JSON text, not NUL-terminated */
	size_t		payload_len;
} CacheEntry;

extern size_t entry_header_size(int nrelations);
extern void entry_encode_header(StringInfo buf, const CacheEntry *entry);
extern const char *entry_decode(char *data, size_t len, CacheEntry *entry);
extern text *entry_payload_text(CacheEntry *entry);

#endif							/* CACHEASIDE_ENTRY_H */
