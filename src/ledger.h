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
extern void ledger_shmem_init(void);
extern bool ledger_attached(void);

extern uint64 ledger_epoch(void);
extern uint64 ledger_sequence(void);
extern uint64 ledger_valid_from(void);
extern void ledger_restart_validity(void);

extern uint32 ledger_slot_of(Oid dbid, Oid relid);
extern int	ledger_distinct_slots(uint32 *slots, int nslots);
extern void ledger_mark(const uint32 *slots, int nslots);
extern void ledger_unmark(const uint32 *slots, int nslots);
extern void ledger_record_commit(const uint32 *slots, int nslots,
								 uint64 fxid);
extern bool ledger_slot_changed(uint32 slot, uint64 as_of, uint64 *last_xid);

extern FullTransactionId ledger_full_xid(TransactionId xid);

#endif							/* CACHEASIDE_LEDGER_H */
