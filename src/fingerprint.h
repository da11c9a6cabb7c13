/*-------------------------------------------------------------------------
 *
 * fingerprint.h
 *	  What identifies the computation behind a cache entry.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_FINGERPRINT_H
#define CACHEASIDE_FINGERPRINT_H

#include "query.h"

#define FINGERPRINT_LEN 32		/* SHA-256 */

extern void fingerprint_objects_changed(void);
extern void fingerprint_rolled_back(bool top);
extern void fingerprint_committed(void);
extern void fingerprint_compute(const char *sql, size_t sqllen,
								const QueryParams *params,
								uint8 fingerprint[FINGERPRINT_LEN]);

#endif							/* CACHEASIDE_FINGERPRINT_H */
