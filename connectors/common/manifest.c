/*
 * manifest.c - writes and parses the manifest of manifest.h. Both sides
 * hold the same bounds, so a manifest this writes always parses, and one
 * that a job or a remote machine could have forged is refused whole, with
 * where, rather than half-read.
 */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

void manifest_json_escape(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *in; in++) {
		unsigned char ch = (unsigned char)*in;
		char esc[6];
		size_t k = 0;

		if (ch == '"' || ch == '\\') {
			esc[k++] = '\\';
			esc[k++] = (char)ch;
		} else if (ch < 0x20) {
			esc[k++] = '\\';
			esc[k++] = 'u';
			esc[k++] = '0';
			esc[k++] = '0';
			esc[k++] = hex[ch >> 4];
			esc[k++] = hex[ch & 15];
		} else {
			esc[k++] = (char)ch;
		}
		if (o + k >= outlen)
			break;
		memcpy(out + o, esc, k);
		o += k;
	}
	out[o] = '\0';
}

/* 1 when s is 64 lowercase hex digits. */
static int manifest_sha_ok(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!s[i] || !strchr("0123456789abcdef", s[i]))
			return 0;
	return s[64] == '\0';
}

static cJSON *manifest_files(struct manifest *m)
{
	if (!m->files)
		m->files = cJSON_CreateArray();
	return m->files;
}

int manifest_add_file(struct manifest *m, const char *path, int64_t size,
		      const char *sha256)
{
	cJSON *o;

	if (m->n >= ARTIFACT_FILES_MAX)
		return TFS_EFBIG;
	if (strlen(path) > ARTIFACT_PATH_MAX || size < 0 ||
	    !manifest_sha_ok(sha256))
		return TFS_EINVAL;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddNumberToObject(o, "size", (double)size);
	cJSON_AddStringToObject(o, "sha256", sha256);
	cJSON_AddItemToArray(manifest_files(m), o);
	m->n++;
	return TFS_OK;
}

void manifest_add_skip(struct manifest *m, const char *path,
		       const char *why)
{
	char esc[ARTIFACT_PATH_MAX * 6 + 1], text[sizeof(esc) + 128];
	char p[ARTIFACT_PATH_MAX + 1];
	cJSON *o;

	if (m->skipped++ >= MANIFEST_SKIPS_MAX)
		return;
	snprintf(p, sizeof(p), "%s", path);
	manifest_json_escape(p, esc, sizeof(esc));
	snprintf(text, sizeof(text), "skipped '%s': %s", esc, why);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", p);
	cJSON_AddStringToObject(o, "skipped", text);
	cJSON_AddItemToArray(manifest_files(m), o);
}

char *manifest_finish(struct manifest *m)
{
	char *text;

	if (m->skipped > MANIFEST_SKIPS_MAX) {
		char note[128];
		cJSON *o = cJSON_CreateObject();

		snprintf(note, sizeof(note), "skipped %d more files",
			 m->skipped - MANIFEST_SKIPS_MAX);
		cJSON_AddStringToObject(o, "path", "");
		cJSON_AddStringToObject(o, "skipped", note);
		cJSON_AddItemToArray(manifest_files(m), o);
	}
	text = cJSON_PrintUnformatted(manifest_files(m));
	manifest_release(m);
	return text;
}

void manifest_release(struct manifest *m)
{
	cJSON_Delete(m->files);
	m->files = NULL;
	m->n = m->skipped = 0;
}

/*
 * The entry it as an artifact_entry borrowing from it; TFS_EINVAL when it
 * is not one.
 */
static int manifest_entry(const cJSON *it, struct artifact_entry *a)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(it, "size");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "sha256");
	const cJSON *sk = cJSON_GetObjectItemCaseSensitive(it, "skipped");

	memset(a, 0, sizeof(*a));
	if (!cJSON_IsString(p) || strlen(p->valuestring) > ARTIFACT_PATH_MAX)
		return TFS_EINVAL;
	a->path = p->valuestring;
	if (sk) {
		if (!cJSON_IsString(sk) ||
		    strlen(sk->valuestring) >= MANIFEST_NOTE_MAX)
			return TFS_EINVAL;
		a->skipped = sk->valuestring;
		return TFS_OK;
	}
	/* a whole number of bytes that a double holds exactly */
	if (!cJSON_IsNumber(sz) || sz->valuedouble < 0 ||
	    sz->valuedouble > 9007199254740992.0 ||
	    sz->valuedouble != (double)(int64_t)sz->valuedouble ||
	    !cJSON_IsString(h) || !manifest_sha_ok(h->valuestring))
		return TFS_EINVAL;
	a->size = (int64_t)sz->valuedouble;
	a->sha256 = h->valuestring;
	return TFS_OK;
}

int manifest_parse(const char *text, size_t len, artifact_cb cb, void *arg,
		   char *err, size_t errlen)
{
	struct artifact_entry a;
	const cJSON *it;
	cJSON *m;
	int i = 0, nfiles = 0, r = TFS_OK;

	if (len > MANIFEST_MAX) {
		snprintf(err, errlen, "manifest larger than %d bytes",
			 MANIFEST_MAX);
		return TFS_EFBIG;
	}
	m = cJSON_ParseWithLength(text ? text : "", len);
	if (!cJSON_IsArray(m)) {
		snprintf(err, errlen, "manifest is not a JSON array");
		cJSON_Delete(m);
		return TFS_EINVAL;
	}
	cJSON_ArrayForEach(it, m) {
		if (manifest_entry(it, &a)) {
			snprintf(err, errlen, "manifest entry %d is not a file "
				 "or a note", i);
			r = TFS_EINVAL;
			break;
		}
		if (!a.skipped && ++nfiles > ARTIFACT_FILES_MAX) {
			snprintf(err, errlen, "manifest lists more than %d "
				 "files", ARTIFACT_FILES_MAX);
			r = TFS_EFBIG;
			break;
		}
		i++;
	}
	for (it = r ? NULL : m->child; it; it = it->next) {
		manifest_entry(it, &a);
		if (cb(arg, &a))
			break;
	}
	cJSON_Delete(m);
	return r;
}
