/*-------------------------------------------------------------------------
 * ereport.h
 *	  The backend's one edge with the core's errors: a TbdrError
 *	  (core/error.h) reported with ereport, with a SQLSTATE chosen from its
 *	  code.
 *
 * The message is the core's one-line rendering (tbdr_error_format: the
 * message, S3's code and request id, the detail), so that what a backup
 * records as its failure (the ERROR's message) is the whole story; the
 * hint goes to errhint.  For context, prefix the message first
 * (tbdr_error_prefix); for a detail of the caller's own, use tbdr_errfrom
 * inside ereport:
 *
 *		ereport(WARNING, (tbdr_errfrom(&err), errdetail("...")));
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_BACKEND_EREPORT_H
#define TBDR_BACKEND_EREPORT_H

#include "core/error.h"

/* The SQLSTATE of a core error code. */
extern int	tbdr_sqlstate(TbdrErrCode code);

/* errcode, errmsg and errhint of err, for use inside ereport(). */
extern int	tbdr_errfrom(const TbdrError *err);

/* ereport(elevel) of err; does not return for elevel >= ERROR. */
#define tbdr_ereport(elevel, err) ereport(elevel, (tbdr_errfrom(err)))

#endif							/* TBDR_BACKEND_EREPORT_H */
