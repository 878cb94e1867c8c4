/*-------------------------------------------------------------------------
 * shellcmd.c
 *	  Commands the tbdr program writes or prints for others to run.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <unistd.h>

#include "cli/shellcmd.h"

void
cli_shell_quote(StringInfo out, const char *s)
{
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.,+:=@-") == strlen(s) &&
		s[0] != '\0')
	{
		appendStringInfoString(out, s);
		return;
	}
	appendStringInfoChar(out, '\'');
	for (; *s; s++)
	{
		if (*s == '\'')
			appendStringInfoString(out, "'\\''");
		else
			appendStringInfoChar(out, *s);
	}
	appendStringInfoChar(out, '\'');
}

void
cli_command_arg(StringInfo out, const char *s)
{
	StringInfoData quoted;

	initStringInfo(&quoted);
	cli_shell_quote(&quoted, s);
	for (const char *p = quoted.data; *p; p++)
	{
		if (*p == '%')
			appendStringInfoChar(out, '%');
		appendStringInfoChar(out, *p);
	}
	pfree(quoted.data);
}

char *
cli_self_path(void)
{
	char		buf[MAXPGPATH];
	ssize_t		n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	if (n > 0)
	{
		size_t		len;

		buf[n] = '\0';
		/* replaced while running (e.g. make install): the path stays right */
		len = strlen(buf);
		if (len > 10 && strcmp(buf + len - 10, " (deleted)") == 0)
			buf[len - 10] = '\0';
		return pg_strdup(buf);
	}
	return pg_strdup("tbdr");
}
