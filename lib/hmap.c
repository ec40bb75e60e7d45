/*
 * hmap.c - chained hash table with FNV-1a for strings and a 64-bit mixer for
 * integers; doubles its buckets when the load passes 1. See hmap.h.
 */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t hash_int(int64_t k)
{
	uint64_t x = (uint64_t)k;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static int entry_match(const struct hmap_entry *e, uint64_t h,
		       const char *skey, int64_t ikey)
{
	if (e->hash != h)
		return 0;
	if (skey)
		return e->skey && strcmp(e->skey, skey) == 0;
	return !e->skey && e->ikey == ikey;
}

static struct hmap_entry **find_slot(const struct hmap *m, uint64_t h,
				     const char *skey, int64_t ikey)
{
	struct hmap_entry **pp;

	if (!m->nb)
		return NULL;
	for (pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next)
		if (entry_match(*pp, h, skey, ikey))
			return pp;
	return NULL;
}

static void grow(struct hmap *m)
{
	size_t nb = m->nb ? m->nb * 2 : 16, i;
	struct hmap_entry **b = xcalloc(nb, sizeof(*b));

	for (i = 0; i < m->nb; i++) {
		struct hmap_entry *e = m->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

static void put(struct hmap *m, uint64_t h, const char *skey, int64_t ikey,
		void *val)
{
	struct hmap_entry **pp = find_slot(m, h, skey, ikey), *e;

	if (pp) {
		(*pp)->val = val;
		(*pp)->skey = skey;
		return;
	}
	if (m->n + 1 > m->nb)
		grow(m);
	e = xmalloc(sizeof(*e));
	e->hash = h;
	e->skey = skey;
	e->ikey = ikey;
	e->val = val;
	e->next = m->b[h & (m->nb - 1)];
	m->b[h & (m->nb - 1)] = e;
	m->n++;
}

static void *del(struct hmap *m, uint64_t h, const char *skey, int64_t ikey)
{
	struct hmap_entry **pp = find_slot(m, h, skey, ikey), *e;
	void *val;

	if (!pp)
		return NULL;
	e = *pp;
	*pp = e->next;
	val = e->val;
	free(e);
	m->n--;
	return val;
}

void *hmap_sget(const struct hmap *m, const char *key)
{
	struct hmap_entry **pp = find_slot(m, hash_str(key), key, 0);

	return pp ? (*pp)->val : NULL;
}

void *hmap_iget(const struct hmap *m, int64_t key)
{
	struct hmap_entry **pp = find_slot(m, hash_int(key), NULL, key);

	return pp ? (*pp)->val : NULL;
}

void hmap_sput(struct hmap *m, const char *key, void *val)
{
	put(m, hash_str(key), key, 0, val);
}

void hmap_iput(struct hmap *m, int64_t key, void *val)
{
	put(m, hash_int(key), NULL, key, val);
}

void *hmap_sdel(struct hmap *m, const char *key)
{
	return del(m, hash_str(key), key, 0);
}

void *hmap_idel(struct hmap *m, int64_t key)
{
	return del(m, hash_int(key), NULL, key);
}

void hmap_release(struct hmap *m)
{
	size_t i;

	for (i = 0; i < m->nb; i++) {
		struct hmap_entry *e = m->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}
