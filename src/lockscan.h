/*-------------------------------------------------------------------------
 *
 * lockscan.h
 *	  The relations this backend holds locks of writing modes on, read
 *	  from the lock manager's shared state.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_LOCKSCAN_H
#define CACHEASIDE_LOCKSCAN_H

#include "oidarray.h"

/* At most this many written relations are told apart at one commit */
#define LOCKSCAN_MAX_RELATIONS	1024

extern bool lockscan_write_locks(OidArray *written, OidArray *sue_locked,
								 bool *inherits_locked);

#endif							/* CACHEASIDE_LOCKSCAN_H */
