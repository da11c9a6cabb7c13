/*-------------------------------------------------------------------------
 *
 * commits.h
 *	  This backend's writing transactions, recorded in the commit ledger.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_COMMITS_H
#define CACHEASIDE_COMMITS_H

extern void commits_pre_commit(void);
extern void commits_commit(void);
extern void commits_pre_prepare(void);
extern void commits_prepare(void);
extern void commits_abort(void);

#endif							/* CACHEASIDE_COMMITS_H */
