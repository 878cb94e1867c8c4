/*-------------------------------------------------------------------------
 * settings_doc.c
 *	  Markdown reference of the tbdr.* settings, from the settings table.
 *
 * Everything printed comes from the table (name, type, default, range or
 * values, unit, secrecy, when a change takes effect, description), so the
 * reference changes exactly when the table does.
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include "lib/stringinfo.h"

#include "core/config.h"
#include "core/settings_doc.h"

static const char *
type_name(const TbdrSetting *s)
{
	switch (s->type)
	{
		case TBDR_SETTING_STRING:
			return "string";
		case TBDR_SETTING_BOOL:
			return "boolean";
		case TBDR_SETTING_INT:
			if (s->flags & TBDR_SETTING_UNIT_S)
				return "integer, seconds (units ms, s, min, h, d accepted)";
			if (s->flags & TBDR_SETTING_UNIT_MB)
				return "integer, megabytes (units kB, MB, GB, TB accepted)";
			return "integer";
		case TBDR_SETTING_ENUM:
			return "enum";
	}
	return "?";
}

/* The type for the summary table. */
static const char *
short_type(const TbdrSetting *s)
{
	if (s->type == TBDR_SETTING_INT && (s->flags & TBDR_SETTING_UNIT_S))
		return "integer (s)";
	if (s->type == TBDR_SETTING_INT && (s->flags & TBDR_SETTING_UNIT_MB))
		return "integer (MB)";
	if (s->type == TBDR_SETTING_INT)
		return "integer";
	return type_name(s);
}

/* What values are allowed, from the table (string rules live in the text). */
static void
append_allowed(StringInfo buf, const TbdrSetting *s)
{
	switch (s->type)
	{
		case TBDR_SETTING_BOOL:
			appendStringInfoString(buf, "`on`, `off` (also true/false, yes/no, 1/0)");
			break;
		case TBDR_SETTING_INT:
			appendStringInfo(buf, "%d to %d", s->min_value, s->max_value);
			break;
		case TBDR_SETTING_ENUM:
			for (const TbdrEnumValue *e = s->enum_values; e->name; e++)
				appendStringInfo(buf, "%s`%s`", e == s->enum_values ? "" : ", ", e->name);
			appendStringInfoString(buf, " (case-insensitive)");
			break;
		case TBDR_SETTING_STRING:
			appendStringInfoString(buf, "see the description");
			break;
	}
}

char *
tbdr_settings_markdown(void)
{
	StringInfoData buf;
	TbdrConfig	defaults;

	tbdr_config_set_defaults(&defaults);
	initStringInfo(&buf);

	appendStringInfoString(&buf, TBDR_SETTINGS_DOC_BEGIN);
	appendStringInfoString(&buf, "\n| Setting | Type | Default | Takes effect |\n"
						   "|---|---|---|---|\n");
	for (int i = 0; i < tbdr_num_settings; i++)
	{
		const TbdrSetting *s = &tbdr_settings[i];
		char	   *def = tbdr_config_show(&defaults, s);

		appendStringInfo(&buf, "| [`tbdr.%s`](#tbdr%s) | %s | %s%s%s | %s |\n",
						 s->name, s->name, short_type(s),
						 def[0] ? "`" : "", def[0] ? def : "(empty)", def[0] ? "`" : "",
						 s->context == TBDR_CONTEXT_POSTMASTER ? "restart" : "reload");
		pfree(def);
	}

	for (int i = 0; i < tbdr_num_settings; i++)
	{
		const TbdrSetting *s = &tbdr_settings[i];
		char	   *def = tbdr_config_show(&defaults, s);

		appendStringInfo(&buf, "\n### tbdr.%s\n\n%s\n\n", s->name, s->short_desc);
		appendStringInfo(&buf, "- Type: %s\n", type_name(s));
		appendStringInfo(&buf, "- Default: %s%s%s\n",
						 def[0] ? "`" : "", def[0] ? def : "empty", def[0] ? "`" : "");
		appendStringInfoString(&buf, "- Allowed: ");
		append_allowed(&buf, s);
		appendStringInfoChar(&buf, '\n');
		appendStringInfo(&buf, "- Takes effect: %s\n",
						 s->context == TBDR_CONTEXT_POSTMASTER ?
						 "at server start (restart PostgreSQL); the CLI reads it on every run" :
						 "on reload (`SELECT pg_reload_conf()`); the CLI reads it on every run");
		if (s->flags & TBDR_SETTING_SECRET)
			appendStringInfoString(&buf, "- Secret: only superusers can set or see it; "
								   "SHOW, pg_settings and the server log never show its value, "
								   "and tbdr prints it as `********`\n");
		pfree(def);
	}
	appendStringInfoString(&buf, "\n" TBDR_SETTINGS_DOC_END);
	return buf.data;
}
