/*
 * manifest.h - the list of files an attempt produced, in the form every
 * provider writes it (the local one caches it in the attempt directory;
 * Slurm's and the clouds' wrapper will ship it as manifest.json): a JSON
 * array with {"path", "size", "sha256"} for each file and {"path",
 * "skipped"} for each file left out, with the sentence why. Writing and
 * parsing are bounded and do no I/O, so fixtures and fuzzers reach them.
 */
#ifndef TFS_MANIFEST_H
#define TFS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "connector.h"

#define MANIFEST_MAX (64 << 20)      /* bytes of a manifest's text */
#define MANIFEST_SKIPS_MAX 100       /* skipped files named one by one */
#define MANIFEST_NOTE_MAX (ARTIFACT_PATH_MAX * 8)   /* a "skipped" sentence */

/* A manifest being written. MANIFEST_INIT, then add, then finish. */
struct manifest {
	void *files;                 /* the cJSON array */
	int n;                       /* files listed */
	int skipped;                 /* files left out, named or counted */
};
#define MANIFEST_INIT { NULL, 0, 0 }

/*
 * Lists a file. TFS_EFBIG past ARTIFACT_FILES_MAX files (nothing added),
 * TFS_EINVAL for a path over ARTIFACT_PATH_MAX or a malformed hash.
 */
int manifest_add_file(struct manifest *m, const char *path, int64_t size,
		      const char *sha256);
/*
 * Notes that path was left out and why ("a symbolic link"): the first
 * MANIFEST_SKIPS_MAX by name ("skipped 'path': why", the path escaped as
 * JSON would), the rest only counted.
 */
void manifest_add_skip(struct manifest *m, const char *path,
		       const char *why);
/* The manifest's text (caller frees), or NULL; releases m either way. */
char *manifest_finish(struct manifest *m);
void manifest_release(struct manifest *m);

/*
 * Calls cb for each entry of the manifest in text, in order, until cb
 * returns non-zero. TFS_OK; TFS_EFBIG when the text is over MANIFEST_MAX
 * or lists more than ARTIFACT_FILES_MAX files; TFS_EINVAL (err says
 * where) when it is not a manifest: every entry is checked before cb sees
 * the first. Entries' url is NULL: where a file is fetched from is the
 * provider's to say.
 */
int manifest_parse(const char *text, size_t len, artifact_cb cb, void *arg,
		   char *err, size_t errlen);

/*
 * Writes in to out (outlen bytes, always NUL-terminated, cut when full)
 * escaped as inside a JSON string. Allocates nothing and calls only
 * memcpy(), so a forked child may use it.
 */
void manifest_json_escape(const char *in, char *out, size_t outlen);

#endif
