/*-------------------------------------------------------------------------
 *
 * ledger.h
 *	  The commit ledger in shared memory: which relations committed writes
 *	  have reached, and when.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_LEDGER_H
#define CACHEASIDE_LEDGER_H

#include "access/transam.h"

extern Size ledger_shmem_size(void);
extern bool ledger_shmem_init(void);
extern bool ledger_attached(void);

/* Number of slots: a power of two */
#define LEDGER_SLOTS		65536

/* What a clean shutdown saves of the ledger (ledger_save.c) */
typedef struct LedgerImage
{
	uint64		epoch;
	uint64		seq;
	uint64		valid_from;
	uint64		patterns_newest;	/* the newest glob pattern recorded
									 * (patterns.c), set by ledger_save.c */
	uint64		last[LEDGER_SLOTS];
	uint64		last_xid[LEDGER_SLOTS];
} LedgerImage;

extern void ledger_image(LedgerImage *image);
extern void ledger_restore(const LedgerImage *image);

extern uint64 ledger_epoch(void);
extern bool ledger_epoch_accepts(uint64 epoch);
extern uint64 ledger_sequence(void);
extern uint64 ledger_valid_from(void);
extern void ledger_restart_validity(void);

extern uint32 ledger_slot_of(Oid dbid, Oid relid);
extern uint32 ledger_slot_of_key(Oid dbid, const char *key, size_t len);
extern uint64 ledger_take_sequence(void);
extern void ledger_record_now(uint32 slot);
extern int	ledger_distinct_slots(uint32 *slots, int nslots);
extern void ledger_mark(const uint32 *slots, int nslots);
extern void ledger_unmark(const uint32 *slots, int nslots);
extern void ledger_record_commit(const uint32 *slots, int nslots,
								 uint64 fxid);
extern bool ledger_slot_changed(uint32 slot, uint64 as_of, uint64 *last_xid);

extern FullTransactionId ledger_full_xid(TransactionId xid);

#endif							/* CACHEASIDE_LEDGER_H */
