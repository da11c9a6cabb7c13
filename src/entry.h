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

#define ENTRY_VERSION		1
#define ENTRY_FIXED_SIZE	64

/* A decoded entry, or the description of one to encode */
typedef struct CacheEntry
{
	TimestampTz created;
	uint8		fingerprint[FINGERPRINT_LEN];
	int			nrelations;
	Oid		   *relations;
	char	   *payload;		/* the JSON text, not NUL-terminated */
	size_t		payload_len;
} CacheEntry;

extern size_t entry_header_size(int nrelations);
extern void entry_encode_header(StringInfo buf, const CacheEntry *entry);
extern const char *entry_decode(char *data, size_t len, CacheEntry *entry);
extern text *entry_payload_text(CacheEntry *entry);

#endif							/* CACHEASIDE_ENTRY_H */
