/*
 * hmap.h - a small chained hash table keyed by string or by 64-bit integer,
 * for the in-memory index of experiments and runs. Keys are borrowed: the
 * caller keeps a string key alive while it is in the table. Not thread-safe:
 * core/ holds its model lock around every use.
 */
#ifndef TFS_HMAP_H
#define TFS_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_entry {
	struct hmap_entry *next;
	uint64_t hash;
	const char *skey;     /* NULL for integer keys */
	int64_t ikey;
	void *val;
};

struct hmap {
	struct hmap_entry **b;
	size_t nb;
	size_t n;
};
#define HMAP_INIT { NULL, 0, 0 }

/* Each returns the value, or NULL when absent. */
void *hmap_sget(const struct hmap *m, const char *key);
void *hmap_iget(const struct hmap *m, int64_t key);
/* Inserts or replaces; aborts on out of memory (small fixed entries). */
void hmap_sput(struct hmap *m, const char *key, void *val);
void hmap_iput(struct hmap *m, int64_t key, void *val);
/* Removes; returns the old value or NULL. */
void *hmap_sdel(struct hmap *m, const char *key);
void *hmap_idel(struct hmap *m, int64_t key);
/* Frees the table (not the values). */
void hmap_release(struct hmap *m);

#endif
