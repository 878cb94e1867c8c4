/*-------------------------------------------------------------------------
 * pg_compat.h
 *	  Every difference between PostgreSQL major versions that the core meets
 *	  (it is compiled into both tbdr.so and the tbdr program); the backend's
 *	  own differences are in src/backend/compat.h.
 *
 * jsonapi (manifests, repository identity):
 *	 16+:	semantic-action callbacks return JsonParseErrorType (15: void).
 *	 17+:	makeJsonLexContextCstringLen() takes the context to fill (NULL:
 *			allocate one) and freeJsonLexContext() frees it; 15/16 allocate
 *			the context and its token buffer with palloc.
 *
 * c.h:
 *	 18+:	pg_noreturn, a specifier before the declaration, replaces
 *			pg_attribute_noreturn() after it (gone in 18); 15-17 get
 *			pg_noreturn from it (GCC accepts the attribute before).
 *
 * WAL records (walsummary.c reads block references):
 *	 16+:	the relation of a block reference is a RelFileLocator (15:
 *			RelFileNode, renamed; the same three Oids).
 *
 * Data directory (base backups):
 *	 17+:	pg_wal/summaries holds the WAL summaries (summarize_wal, used by
 *			incremental backups); like pg_wal/archive_status it is kept
 *			empty in a backup, as pg_basebackup does.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_PG_COMPAT_H
#define TBDR_PG_COMPAT_H

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

#if PG_VERSION_NUM >= 160000
#define TBDR_JSON_CB_RETURN_TYPE JsonParseErrorType
#define TBDR_JSON_CB_RETURN return JSON_SUCCESS
#else
#define TBDR_JSON_CB_RETURN_TYPE void
#define TBDR_JSON_CB_RETURN return
#endif

/* A lexer over len bytes of json (UTF-8, de-escaped strings). */
static inline JsonLexContext *
tbdr_json_lex_create(char *json, size_t len)
{
#if PG_VERSION_NUM >= 170000
	return makeJsonLexContextCstringLen(NULL, json, len, PG_UTF8, true);
#else
	return makeJsonLexContextCstringLen(json, (int) len, PG_UTF8, true);
#endif
}

/* Frees what tbdr_json_lex_create allocated (not the json). */
static inline void
tbdr_json_lex_free(JsonLexContext *lex)
{
#if PG_VERSION_NUM >= 170000
	freeJsonLexContext(lex);
#else
	if (lex->strval)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
#endif
}

/* Bytes of the relation of a WAL block reference (access/xlogrecord.h). */
#if PG_VERSION_NUM >= 160000
#define TBDR_WAL_RELFILE_SIZE sizeof(RelFileLocator)
#else
#define TBDR_WAL_RELFILE_SIZE sizeof(RelFileNode)
#endif

/* Directories under pg_wal that a backup keeps, empty. */
#if PG_VERSION_NUM >= 170000
#define TBDR_PG_WAL_SUBDIRS {"pg_wal/archive_status", "pg_wal/summaries", NULL}
#else
#define TBDR_PG_WAL_SUBDIRS {"pg_wal/archive_status", NULL}
#endif

#endif							/* TBDR_PG_COMPAT_H */
