/*-------------------------------------------------------------------------
 * cmd_repo.c
 *	  tbdr repo-ls, repo-get, repo-put, repo-rm: direct access to the
 *	  repository's objects, for inspection and repair.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "core/storage.h"

#define CLI_OPT_JSON		2000
#define CLI_OPT_NO_PROGRESS	2001
#define IO_CHUNK			(1024 * 1024)

static const struct option repo_options[] = {
	CLI_COMMON_LONGOPTS,
	{"json", no_argument, NULL, CLI_OPT_JSON},
	{"no-progress", no_argument, NULL, CLI_OPT_NO_PROGRESS},
	{NULL, 0, NULL, 0}
};

typedef struct RepoArgs
{
	bool		json;
	bool		progress;
} RepoArgs;

/* Parse options; on return optind is the first positional argument. */
static void
parse_options(const CliCommand *cmd, int argc, char **argv, RepoArgs *args,
			  bool allow_json, bool allow_progress)
{
	int			c;

	args->json = false;
	args->progress = true;
	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, repo_options, NULL)) != -1)
	{
		if (cli_common_option(cmd, c, optarg))
			continue;
		if (c == CLI_OPT_JSON && allow_json)
			args->json = true;
		else if (c == CLI_OPT_NO_PROGRESS && allow_progress)
			args->progress = false;
		else
			cli_usage_error(cmd, "option \"%s\" does not apply to %s",
							argv[optind - 1], cmd->name);
	}
}

static TbdrStorage *
open_storage(void)
{
	TbdrConfig	cfg;
	TbdrError	err;
	TbdrStorage *st;

	cli_load_config(&cfg, NULL);
	tbdr_error_clear(&err);
	st = tbdr_storage_open(&cfg, &err);
	if (st == NULL)
	{
		cli_report_error(&err);
		exit(CLI_EXIT_ERROR);
	}
	return st;
}

/* ------------------------------------------------------------------------
 * repo-ls
 * ------------------------------------------------------------------------
 */

typedef struct LsState
{
	bool		json;
	int64		count;
} LsState;

static void
format_time(time_t t, char *buf, size_t size)
{
	struct tm	tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		strlcpy(buf, "-", size);
	else
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s; s++)
	{
		unsigned char ch = (unsigned char) *s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static bool
ls_one(void *arg, const TbdrObjectInfo *info, TbdrError *err)
{
	LsState    *ls = (LsState *) arg;
	char		mtime[64];

	format_time(info->mtime, mtime, sizeof(mtime));
	if (ls->json)
	{
		fputs(ls->count == 0 ? "[\n  {\"key\": " : ",\n  {\"key\": ", stdout);
		json_string(info->key);
		printf(", \"size\": " INT64_FORMAT ", \"mtime\": ", info->size);
		if (info->mtime)
			json_string(mtime);
		else
			fputs("null", stdout);
		fputs(", \"etag\": ", stdout);
		if (info->etag)
			json_string(info->etag);
		else
			fputs("null", stdout);
		putchar('}');
	}
	else
		printf("%s\t" INT64_FORMAT "\t%s\n", info->key, info->size, mtime);
	ls->count++;
	if (ferror(stdout))
	{
		tbdr_error_errno(err, "could not write to standard output");
		return false;
	}
	return true;
}

int
cmd_repo_ls(const CliCommand *cmd, int argc, char **argv)
{
	RepoArgs	args;
	const char *prefix = "";
	TbdrStorage *st;
	TbdrError	err;
	LsState		ls;

	parse_options(cmd, argc, argv, &args, true, false);
	if (argc - optind > 1)
		cli_usage_error(cmd, "too many arguments");
	if (optind < argc)
		prefix = argv[optind];

	st = open_storage();
	memset(&ls, 0, sizeof(ls));
	ls.json = args.json;
	tbdr_error_clear(&err);
	if (!tbdr_storage_list(st, prefix, ls_one, &ls, &err))
	{
		if (ls.json && ls.count > 0)
			fputs("\n]\n", stdout);
		cli_report_error(&err);
		return CLI_EXIT_ERROR;
	}
	if (ls.json)
		fputs(ls.count > 0 ? "\n]\n" : "[]\n", stdout);
	if (fflush(stdout) != 0 || ferror(stdout))
		cli_fatal("could not write to standard output: %m");
	tbdr_storage_close(st);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * repo-get
 * ------------------------------------------------------------------------
 */

typedef struct GetSink
{
	int			fd;
	const char *name;			/* for messages */
	int64		done;
	CliProgress *progress;
} GetSink;

static bool
get_write(void *arg, const char *buf, size_t len, TbdrError *err)
{
	GetSink    *sink = (GetSink *) arg;

	while (len > 0)
	{
		ssize_t		n = write(sink->fd, buf, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			tbdr_error_errno(err, "could not write %s", sink->name);
			err->code = TBDR_ERR_IO;
			return false;
		}
		buf += n;
		len -= n;
		sink->done += n;
	}
	progress_update(sink->progress, sink->done);
	return true;
}

static void
fsync_parent(const char *path)
{
	char	   *dir = pg_strdup(path);
	char	   *slash = strrchr(dir, '/');
	int			fd;

	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY, 0);
	if (fd < 0 || (fsync(fd) < 0 && errno != EINVAL && errno != EBADF))
		cli_fatal("could not fsync directory \"%s\": %m", dir);
	close(fd);
	pg_free(dir);
}

int
cmd_repo_get(const CliCommand *cmd, int argc, char **argv)
{
	RepoArgs	args;
	const char *key;
	const char *path;
	bool		to_stdout;
	TbdrStorage *st;
	TbdrError	err;
	TbdrObjectInfo info;
	GetSink		sink;
	char	   *tmp = NULL;
	int64		total = -1;
	bool		ok;

	parse_options(cmd, argc, argv, &args, false, true);
	if (argc - optind != 2)
		cli_usage_error(cmd, argc - optind < 2 ? "missing arguments" : "too many arguments");
	key = argv[optind];
	path = argv[optind + 1];
	to_stdout = strcmp(path, "-") == 0;
	/* binary data and a progress line on the same terminal would mix */
	if (to_stdout && isatty(STDOUT_FILENO))
		args.progress = false;

	st = open_storage();
	tbdr_error_clear(&err);
	memset(&sink, 0, sizeof(sink));

	/* the size, for the progress line (and an early, clear "not found") */
	if (args.progress && isatty(STDERR_FILENO))
	{
		int			r = tbdr_storage_head(st, key, &info, &err);

		if (r < 0)
		{
			cli_report_error(&err);
			return CLI_EXIT_ERROR;
		}
		if (r == 0)
		{
			tbdr_error_set(&err, TBDR_ERR_NOT_FOUND, "object \"%s\" not found in %s",
						   key, tbdr_storage_describe(st));
			tbdr_error_hint(&err, "List the objects with: tbdr repo-ls");
			cli_report_error(&err);
			return CLI_EXIT_ERROR;
		}
		total = info.size;
	}

	if (to_stdout)
	{
		sink.fd = STDOUT_FILENO;
		sink.name = "standard output";
	}
	else
	{
		tmp = psprintf("%s.tmp.%d", path, (int) getpid());
		sink.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, 0644);
		if (sink.fd < 0)
			cli_fatal("could not create file \"%s\": %m", tmp);
		sink.name = psprintf("file \"%s\"", tmp);
	}

	sink.progress = progress_start(psprintf("download %s", key), total, args.progress);
	ok = tbdr_storage_get(st, key, 0, -1, get_write, &sink, &err);
	if (ok && !to_stdout && fsync(sink.fd) < 0)
	{
		tbdr_error_errno(&err, "could not fsync file \"%s\"", tmp);
		ok = false;
	}
	if (!to_stdout && close(sink.fd) < 0 && ok)
	{
		tbdr_error_errno(&err, "could not close file \"%s\"", tmp);
		ok = false;
	}
	if (ok && !to_stdout && rename(tmp, path) < 0)
	{
		tbdr_error_errno(&err, "could not rename file \"%s\" to \"%s\"", tmp, path);
		ok = false;
	}
	progress_finish(sink.progress, ok);
	if (!ok)
	{
		if (tmp)
			unlink(tmp);
		if (err.code == TBDR_ERR_NOT_FOUND && err.hint[0] == '\0')
			tbdr_error_hint(&err, "List the objects with: tbdr repo-ls");
		cli_report_error(&err);
		return CLI_EXIT_ERROR;
	}
	if (!to_stdout)
		fsync_parent(path);
	tbdr_storage_close(st);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * repo-put
 * ------------------------------------------------------------------------
 */

typedef struct PutSource
{
	int			fd;
	const char *name;
	int64		done;
	CliProgress *progress;
} PutSource;

static ssize_t
put_read(void *arg, char *buf, size_t len, TbdrError *err)
{
	PutSource  *src = (PutSource *) arg;
	ssize_t		n;

	do
		n = read(src->fd, buf, Min(len, (size_t) IO_CHUNK));
	while (n < 0 && errno == EINTR);
	if (n < 0)
	{
		tbdr_error_errno(err, "could not read %s", src->name);
		err->code = TBDR_ERR_IO;
		return -1;
	}
	src->done += n;
	progress_update(src->progress, src->done);
	return n;
}

int
cmd_repo_put(const CliCommand *cmd, int argc, char **argv)
{
	RepoArgs	args;
	const char *path;
	const char *key;
	TbdrStorage *st;
	TbdrError	err;
	PutSource	src;
	struct stat stbuf;
	int64		size_hint = -1;
	bool		ok;

	parse_options(cmd, argc, argv, &args, false, true);
	if (argc - optind != 2)
		cli_usage_error(cmd, argc - optind < 2 ? "missing arguments" : "too many arguments");
	path = argv[optind];
	key = argv[optind + 1];

	memset(&src, 0, sizeof(src));
	if (strcmp(path, "-") == 0)
	{
		src.fd = STDIN_FILENO;
		src.name = "standard input";
	}
	else
	{
		src.fd = open(path, O_RDONLY | PG_BINARY, 0);
		if (src.fd < 0)
			cli_fatal("could not open file \"%s\": %m", path);
		src.name = psprintf("file \"%s\"", path);
	}
	if (fstat(src.fd, &stbuf) == 0 && S_ISREG(stbuf.st_mode))
		size_hint = (int64) stbuf.st_size - lseek(src.fd, 0, SEEK_CUR);
	else if (fstat(src.fd, &stbuf) == 0 && S_ISDIR(stbuf.st_mode))
		cli_fatal("\"%s\" is a directory", path);

	st = open_storage();
	tbdr_error_clear(&err);
	src.progress = progress_start(psprintf("upload %s", key), size_hint, args.progress);
	ok = tbdr_storage_put(st, key, put_read, &src, size_hint, &err);
	progress_finish(src.progress, ok);
	if (!ok)
	{
		cli_report_error(&err);
		return CLI_EXIT_ERROR;
	}
	if (src.fd != STDIN_FILENO)
		close(src.fd);
	tbdr_storage_close(st);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * repo-rm
 * ------------------------------------------------------------------------
 */

int
cmd_repo_rm(const CliCommand *cmd, int argc, char **argv)
{
	RepoArgs	args;
	TbdrStorage *st;
	TbdrError	err;

	parse_options(cmd, argc, argv, &args, false, false);
	if (optind >= argc)
		cli_usage_error(cmd, "missing arguments");

	st = open_storage();
	tbdr_error_clear(&err);
	if (!tbdr_storage_delete_many(st, (const char *const *) argv + optind,
								  argc - optind, &err))
	{
		cli_report_error(&err);
		return CLI_EXIT_ERROR;
	}
	tbdr_storage_close(st);
	return CLI_EXIT_OK;
}
