/*-------------------------------------------------------------------------
 *
 * patterns.h
 *	  The recent glob patterns of cache_invalidate, in shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_PATTERNS_H
#define CACHEASIDE_PATTERNS_H

/* How many recent patterns are kept: older ones are summed up */
#define PATTERNS_RING		1024

/* Longest pattern kept as it is (bytes, with the key namespace) */
#define PATTERNS_MAX_LEN	240

/* What patterns_mark returns when the ring is full of marks */
#define PATTERNS_OVERFLOW	(-1)

extern Size patterns_shmem_size(void);
extern void patterns_shmem_request(void);
extern void patterns_shmem_init(void);
extern bool patterns_attached(void);

extern int	patterns_mark(Oid dbid, const char *pattern, size_t len);
extern void patterns_unmark(const int *marks, int nmarks);
extern void patterns_record(const int *marks, int nmarks);
extern void patterns_record_now(Oid dbid, const char *pattern, size_t len);
extern uint64 patterns_newest(void);
extern void patterns_restore(uint64 newest);
extern bool patterns_match(Oid dbid, const char *key, size_t len,
						   uint64 as_of);

#endif							/* CACHEASIDE_PATTERNS_H */
