/*-------------------------------------------------------------------------
 *
 * prepared.h
 *	  The registry of prepared transactions that wrote, in shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_PREPARED_H
#define CACHEASIDE_PREPARED_H

/* Slots recorded per prepared transaction; more count as the database */
#define PREPARED_MAX_SLOTS	64

extern Size prepared_shmem_size(void);
extern void prepared_shmem_init(void);
extern int	prepared_capacity(void);

extern bool prepared_record(uint64 fxid, const uint32 *slots, int nslots);
extern void prepared_forget(uint64 fxid);
extern void prepared_settle(void);
extern bool prepared_recovered_recorded(void);

#endif							/* CACHEASIDE_PREPARED_H */
