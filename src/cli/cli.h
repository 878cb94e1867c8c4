/*-------------------------------------------------------------------------
 * cli.h
 *	  What the tbdr program's commands share: common options,
 *	  configuration loading, error reporting and exit codes.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_CLI_H
#define TBDR_CLI_H

#include <getopt.h>

#include "core/config.h"
#include "core/error.h"
#include "core/pg_compat.h"

#ifndef TBDR_VERSION
#define TBDR_VERSION "0.1"
#endif

/* Exit codes (documented in tbdr --help). */
#define CLI_EXIT_OK			0
#define CLI_EXIT_ERROR		1	/* the command failed (message on stderr) */
#define CLI_EXIT_USAGE		2	/* bad command line */

/* One subcommand. */
typedef struct CliCommand
{
	const char *name;
	int			(*run) (const struct CliCommand *cmd, int argc, char **argv);
	const char *args;			/* synopsis after the name, e.g. "KEY FILE" */
	const char *summary;		/* one line, for tbdr --help */
	const char *options;		/* the command's own options, for its --help */
} CliCommand;

/*
 * Long options every command accepts; commands append their own and end
 * with {NULL}.  The values below are returned by getopt_long.
 */
#define CLI_OPT_SET		1000
#define CLI_OPT_VERSION	1001
#define CLI_COMMON_SHORTOPTS "c:h"
#define CLI_COMMON_LONGOPTS \
	{"config", required_argument, NULL, 'c'}, \
	{"set", required_argument, NULL, CLI_OPT_SET}, \
	{"help", no_argument, NULL, 'h'}, \
	{"version", no_argument, NULL, CLI_OPT_VERSION}

/*
 * Handle a common option returned by getopt_long: true if it was one (help
 * and version print and exit), false for the command to handle.  Anything
 * unknown ('?') is a usage error that exits 2.
 */
extern bool cli_common_option(const CliCommand *cmd, int c, const char *arg);

/* Print the version of tbdr and of the PostgreSQL it is built for. */
extern void cli_print_version(void);

/*
 * Build the configuration: defaults, then the file (-c, or
 * $PGDATA/tbdr.conf if present), then every --set in order.  On error,
 * report it and exit 1.  *source (may be NULL) receives a description of
 * the file used, for messages.
 */
extern void cli_load_config(TbdrConfig *cfg, const char **source);

/* The same, returning false with err filled instead of exiting. */
extern bool cli_try_load_config(TbdrConfig *cfg, const char **source,
								TbdrError *err);

/*
 * The configuration file in use as an absolute path (-c, or
 * $PGDATA/tbdr.conf if it exists), or NULL: what a restore_command needs
 * to find the same settings.
 */
extern char *cli_config_file(void);

/* Print "tbdr: error: ..." with DETAIL/HINT lines to stderr. */
extern void cli_report_error(const TbdrError *err);

/* Print "tbdr: error: <message>" to stderr and exit 1. */
pg_noreturn extern void cli_fatal(const char *fmt,...) pg_attribute_printf(1, 2);

/*
 * A usage error: message, the command's synopsis and a pointer to --help on
 * stderr, exit 2.  cmd may be NULL (top level).
 */
pg_noreturn extern void cli_usage_error(const CliCommand *cmd, const char *fmt,...) pg_attribute_printf(2, 3);

/* Full help of a command on stdout. */
extern void cli_command_help(const CliCommand *cmd);

/* The commands. */
extern int	cmd_repo_ls(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_repo_get(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_repo_put(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_repo_rm(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_check(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_archive_push(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_archive_get(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_list(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_restore(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_restore_wait(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_verify(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_expire(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_lifecycle(const CliCommand *cmd, int argc, char **argv);
extern int	cmd_settings(const CliCommand *cmd, int argc, char **argv);

#endif							/* TBDR_CLI_H */
