/*-------------------------------------------------------------------------
 * shellcmd.h
 *	  Commands the tbdr program writes or prints for others to run: the
 *	  restore_command of a restore, the next steps it prints.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_SHELLCMD_H
#define TBDR_SHELLCMD_H

#include "lib/stringinfo.h"

/* Append s for a POSIX shell: as is if plain, else single-quoted. */
extern void cli_shell_quote(StringInfo out, const char *s);

/*
 * Append s as one argument of a command PostgreSQL runs (restore_command):
 * shell-quoted, and '%' doubled, since PostgreSQL replaces %f, %p, %r and
 * %% in the command before the shell sees it.
 */
extern void cli_command_arg(StringInfo out, const char *s);

/* The absolute path of this program (what a printed command runs). */
extern char *cli_self_path(void);

#endif							/* TBDR_SHELLCMD_H */
