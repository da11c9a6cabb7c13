/*-------------------------------------------------------------------------
 *
 * entry.h
 *	  The format of a cache entry, independent of where its bytes are kept.
 *
 * This header is the one description of the format: README.md points here,
 * entry.c reads and writes it through these names.
 *
 * An entry is a header followed by the JSON text.  All integers are
 * big-endian.  Version 4:
 *
 *	offset	size
 *	0		3	magic "CAE"								ENTRY_OFF_MAGIC
 *	3		1	format version (4)						ENTRY_OFF_VERSION
 *	4		4	header length H: a multiple of 8, at	ENTRY_OFF_HEADER_LEN
 *				least ENTRY_FIXED_SIZE
 *	8		4	CRC-32C of every byte from offset 12	ENTRY_OFF_CRC
 *				to the end of the value
 *	12		4	flags: ENTRY_TRACKED (1) = the epoch	ENTRY_OFF_FLAGS
 *				and as-of fields are meaningful;
 *				ENTRY_COMPRESSED (2) = the payload is
 *				compressed, the header ends with the
 *				compression fields
 *	16		8	creation time (TimestampTz)				ENTRY_OFF_CREATED
 *	24		32	fingerprint of the computation			ENTRY_OFF_FINGERPRINT
 *				(fingerprint.c)
 *	56		4	number N of relations the query read	ENTRY_OFF_NRELATIONS
 *	60		4	length C of the privilege checks		ENTRY_OFF_CHECKS_LEN
 *	64		8	epoch: the start of the cluster the		ENTRY_OFF_EPOCH
 *				entry was made in (ledger.c)
 *	72		8	as of: the commit sequence number its	ENTRY_OFF_AS_OF
 *				query saw (ledger.c)
 *	80		4	microseconds its query took				ENTRY_OFF_COMPUTE_US
 *				(early refresh weighs it)
 *	84		4	the TTL it was stored with, in seconds	ENTRY_OFF_TTL
 *	88		4*N	relation OIDs							ENTRY_FIXED_SIZE
 *	88+4N	C	privilege checks the query passed (privs.c), one after
 *				the other, each ENTRY_CHECK_FIXED_SIZE bytes and then
 *				4*K column numbers:
 *					0	4	kind (ENTRY_CHECK_*)		ENTRY_CHECK_OFF_KIND
 *					4	4	role checked				ENTRY_CHECK_OFF_ROLE
 *					8	4	object OID					ENTRY_CHECK_OFF_OBJECT
 *					12	4	privileges					ENTRY_CHECK_OFF_PRIVILEGES
 *					16	4	version						ENTRY_CHECK_OFF_VERSION
 *					20	4	number K of columns			ENTRY_CHECK_OFF_NCOLUMNS
 *					24	4*K	columns
 *				Relation: the privileges required (SELECT), the xmin of
 *				its pg_class row, the columns read, as attribute number -
 *				FirstLowInvalidHeapAttributeNumber.  Function: privileges
 *				0, the xmin of its pg_proc row, K = 0.  Schema: privileges
 *				0, version 0, K = 0.
 *	...			zero padding up to P, a multiple of 8
 *	P		8	compressed entries only: the compression fields
 *					0	4	codec (codec.h): 1 = LZ4	ENTRY_COMP_OFF_CODEC
 *							block, 2 = one zstd frame
 *							that declares its size
 *					4	4	length L of the JSON text	ENTRY_COMP_OFF_RAW_LEN
 *							once decompressed
 *	H		...	the JSON text (the rest of the value), or in a compressed
 *				entry the JSON text compressed with the codec, which
 *				must decompress to exactly L bytes
 *
 * H is P for an entry without ENTRY_COMPRESSED, P + 8 for one with it.
 * Entries without the flag are laid out as before compression existed.
 * The checksum covers the compression fields and the compressed bytes;
 * it is checked before anything is decompressed.  The size of an entry
 * uncompressed, P + L, is bounded by the same limit as the size of an
 * uncompressed entry (cacheaside.max_value_bytes): the decoder checks the
 * declared L against it before allocating L bytes.
 *
 * The header length is a multiple of 8 so that, in a MAXALIGNed buffer,
 * the four bytes before the payload are aligned: once decoded, they are
 * overwritten with a varlena header and the payload is returned as a text
 * datum without being copied (entry_payload_text).  A compressed payload is
 * decompressed into a buffer that leaves room for that header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_ENTRY_H
#define CACHEASIDE_ENTRY_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

#include "codec.h"
#include "fingerprint.h"

#define ENTRY_MAGIC			"CAE"
#define ENTRY_VERSION		4

/* Offsets of the fields of the header (see above) */
#define ENTRY_OFF_MAGIC			0
#define ENTRY_OFF_VERSION		3
#define ENTRY_OFF_HEADER_LEN	4
#define ENTRY_OFF_CRC			8
#define ENTRY_OFF_FLAGS			12	/* the CRC covers from here */
#define ENTRY_OFF_CREATED		16
#define ENTRY_OFF_FINGERPRINT	24
#define ENTRY_OFF_NRELATIONS	56
#define ENTRY_OFF_CHECKS_LEN	60
#define ENTRY_OFF_EPOCH			64
#define ENTRY_OFF_AS_OF			72
#define ENTRY_OFF_COMPUTE_US	80
#define ENTRY_OFF_TTL			84
#define ENTRY_FIXED_SIZE		88	/* the relation OIDs begin here */

/* Offsets of the compression fields, from P (see above) */
#define ENTRY_COMP_OFF_CODEC	0
#define ENTRY_COMP_OFF_RAW_LEN	4
#define ENTRY_COMP_SIZE			8	/* the payload begins here */

/* Offsets of the fields of one privilege check */
#define ENTRY_CHECK_OFF_KIND		0
#define ENTRY_CHECK_OFF_ROLE		4
#define ENTRY_CHECK_OFF_OBJECT		8
#define ENTRY_CHECK_OFF_PRIVILEGES	12
#define ENTRY_CHECK_OFF_VERSION		16
#define ENTRY_CHECK_OFF_NCOLUMNS	20
#define ENTRY_CHECK_FIXED_SIZE		24	/* the columns begin here */

/* Most relations an entry may depend on */
#define ENTRY_MAX_RELATIONS	100000

/* Most bytes of privilege checks an entry may carry */
#define ENTRY_MAX_CHECK_BYTES	(1024 * 1024)

/* Kinds of privilege checks */
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
#define ENTRY_COMPRESSED	0x0002	/* the payload is compressed */
#define ENTRY_KNOWN_FLAGS	(ENTRY_TRACKED | ENTRY_COMPRESSED)

/* A decoded entry, or the description of one to encode */
typedef struct CacheEntry
{
	uint32		flags;
	TimestampTz created;
	uint8		fingerprint[FINGERPRINT_LEN];
	uint64		epoch;			/* cluster start the entry was made in */
	uint64		as_of;			/* commit sequence number it saw (ledger.c) */
	uint32		compute_us;		/* microseconds its query took */
	uint32		ttl;			/* seconds it was stored for */
	int			nrelations;		/* relations its query read */
	Oid		   *relations;
	const char *checks;			/* privilege checks its query passed */
	size_t		checks_len;		/* (encoded, see entry_check_next) */
	char	   *payload;		/* the JSON text, not NUL-terminated */
	size_t		payload_len;
} CacheEntry;

/*
 * The payload of an entry as it is stored: the JSON text itself (codec
 * CODEC_NONE), or its compressed form
 */
typedef struct EntryStored
{
	CodecId		codec;
	const char *data;
	size_t		len;
} EntryStored;

extern size_t entry_header_size(int nrelations, size_t checks_len);
extern size_t entry_raw_size(const CacheEntry *entry);
extern void entry_compress(const CacheEntry *entry, CodecId codec,
						   size_t min_bytes, EntryStored *stored);
extern void entry_encode_header(StringInfo buf, const CacheEntry *entry,
								const EntryStored *stored);
extern const char *entry_decode(char *data, size_t len, size_t max_size,
								CacheEntry *entry);
extern const char *entry_decode_copy(char *data, size_t len,
									 size_t max_size, CacheEntry *entry);
extern bool entry_has_magic(const char *data, size_t len);
extern text *entry_payload_text(CacheEntry *entry);
extern void entry_encode_check(StringInfo buf, uint32 kind, Oid role,
							   Oid object, uint32 privileges, uint32 version,
							   const uint32 *columns, uint32 ncolumns);
extern const char *entry_check_next(const char *p, const char *end,
									EntryCheck *check);
extern uint32 entry_check_column(const EntryCheck *check, uint32 i);

#endif							/* CACHEASIDE_ENTRY_H */
