/*-------------------------------------------------------------------------
 *
 * flight.h
 *	  Fills in progress, shared between backends: one query per cold entry.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_FLIGHT_H
#define CACHEASIDE_FLIGHT_H

/* What flight_begin made of this backend */
typedef enum FlightRole
{
	FLIGHT_NONE,				/* neither: run the query, tell no one */
	FLIGHT_FILLER,				/* fill it: then call flight_end */
	FLIGHT_WAITED				/* another backend filled it, or the wait
								 * ended: see *stored */
} FlightRole;

extern Size flight_shmem_size(void);
extern void flight_shmem_request(void);
extern void flight_shmem_init(void);
extern bool flight_enabled(void);

extern FlightRole flight_begin(uint64 hash, int wait_ms, bool *stored,
							   double *waited_ms);
extern void flight_end(uint64 hash, bool stored);
extern void flight_outcome(uint64 hash, bool stored, bool unstorable);
extern void flight_release_all(void);
extern int	flight_in_progress(void);

#endif							/* CACHEASIDE_FLIGHT_H */
