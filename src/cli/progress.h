/*-------------------------------------------------------------------------
 * progress.h
 *	  A one-line progress display on stderr for long transfers.
 *
 * Shown only when stderr is a terminal; otherwise every call is a no-op, so
 * scripts and logs never see control characters.  With a known total the
 * line shows done/total, percentage, rate and the estimated time left.  The line is redrawn at
 * most a few times per second whatever the update rate.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_CLI_PROGRESS_H
#define TBDR_CLI_PROGRESS_H

typedef struct CliProgress CliProgress;

/*
 * Start a display: label (e.g. "upload base/1/1234"), total size in bytes or
 * -1 if unknown.  enabled false turns it off (e.g. data goes to the same
 * terminal); it is off anyway when stderr is not a terminal.
 */
extern CliProgress *progress_start(const char *label, int64 total, bool enabled);

/* Bytes done so far (absolute, not an increment). */
extern void progress_update(CliProgress *p, int64 done);

/*
 * End the display and free it.  success: leave a final summary line (size,
 * time, rate); otherwise erase the line so an error message starts clean.
 */
extern void progress_finish(CliProgress *p, bool success);

/* Format a byte count as "1.5 MB" into buf (size >= 32). */
extern void progress_format_bytes(int64 bytes, char *buf, size_t size);

#endif							/* TBDR_CLI_PROGRESS_H */
