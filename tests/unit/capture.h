/*
 * capture.h - for C tests that check what the daemon logs: stderr goes to
 * a file between capture_start() and capture_end(), which hands the text
 * back and echoes it, so a failing run still shows it. Include after
 * util.h. Static functions in a header, as test.h does.
 */
#ifndef TFS_CAPTURE_H
#define TFS_CAPTURE_H

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

static int capture_saved = -1;
static char capture_path[PATH_MAX + 32];

/* From now on stderr goes to dir/stderr.log. */
static void capture_start(const char *dir)
{
	int fd;

	snprintf(capture_path, sizeof(capture_path), "%s/stderr.log", dir);
	fflush(stderr);
	capture_saved = dup(2);
	fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dup2(fd, 2);
	close(fd);
}

/* Restores stderr, echoes what was logged, returns it (caller frees). */
static char *capture_end(void)
{
	struct buf b = BUF_INIT(0);

	fflush(stderr);
	dup2(capture_saved, 2);
	close(capture_saved);
	file_read_all(capture_path, 16 * 1024 * 1024, &b);
	if (b.p)
		fputs(b.p, stderr);
	return b.p ? buf_detach(&b, NULL) : xstrdup("");
}

#endif
