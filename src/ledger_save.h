/*-------------------------------------------------------------------------
 *
 * ledger_save.h
 *	  The commit ledger kept across a clean restart.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_LEDGER_SAVE_H
#define CACHEASIDE_LEDGER_SAVE_H

extern void ledger_save_startup(void);

#endif							/* CACHEASIDE_LEDGER_SAVE_H */
