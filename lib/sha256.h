/*
 * sha256.h - SHA-256 digests as lowercase hex: of a buffer, of an open
 * file, of a file by name, and the checks on a hex digest someone else
 * wrote. Artifacts are verified with these, and named by them in the cache.
 */
#ifndef TFS_SHA256_H
#define TFS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* Lowercase hex SHA-256 of data into out[65]. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* Finishes md and writes its digest as lowercase hex into out[65]; out is
 * "" when the digest cannot be finished. */
void sha256_final_hex(EVP_MD_CTX *md, char out[65]);

/*
 * Feeds fd's bytes from offset 0 (pread: the file offset is left alone)
 * into md, at most limit bytes (all when limit < 0). Sets *len to the bytes
 * hashed. Stops early when *cancel (may be NULL) becomes non-zero, another
 * thread's flag. Returns 0, 1 when cancelled, -1 with errno set on a read
 * error.
 */
int sha256_update_fd(EVP_MD_CTX *md, int fd, int64_t limit, int64_t *len,
		     volatile int *cancel);

/* SHA-256 of all of fd's bytes into out[65], their count into *size (may
 * be NULL). Returns TFS_OK or TFS_EIO. */
int sha256_fd(int fd, char out[65], int64_t *size);

/*
 * SHA-256 of the regular file at path into out[65], its size into *size
 * (may be NULL). A FIFO or a device is refused: a read could block or never
 * end. Returns TFS_OK or TFS_EIO (out is then "").
 */
int sha256_file(const char *path, char out[65], int64_t *size);

/* Copies a 64-digit hex digest (either case) to out in lowercase; returns
 * 0, or -1 when s is not exactly 64 hex digits. */
int sha256_hex_lower(const char *s, char out[65]);

/* Returns 1 when s is exactly 64 lowercase hex digits (a cache name). */
int sha256_hex_valid(const char *s);

#endif
