/*
 * sha256.c - SHA-256 of buffers and files through OpenSSL's EVP, as
 * lowercase hex. See sha256.h for each contract.
 */
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define SHA256_CHUNK (1024 * 1024)

void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned int i;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen && i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
}

void sha256_final_hex(EVP_MD_CTX *md, char out[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0, i;

	out[0] = '\0';
	if (!EVP_DigestFinal_ex(md, d, &dlen))
		return;
	for (i = 0; i < dlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	out[64] = '\0';
}

static int sha256_cancelled(volatile int *cancel)
{
	/* an atomic load: the flag is written by another thread */
	return cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED);
}

int sha256_update_fd(EVP_MD_CTX *md, int fd, int64_t limit, int64_t *len,
		     volatile int *cancel)
{
	unsigned char *b = malloc(SHA256_CHUNK);
	int64_t off = 0;
	int r = 0;

	if (!b) {
		errno = ENOMEM;
		return -1;
	}
	while (limit < 0 || off < limit) {
		size_t want = SHA256_CHUNK;
		ssize_t n;

		if (limit >= 0 && limit - off < (int64_t)want)
			want = (size_t)(limit - off);
		n = pread(fd, b, want, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -1;
			break;
		}
		if (n == 0)
			break;
		if (!EVP_DigestUpdate(md, b, (size_t)n)) {
			errno = EIO;
			r = -1;
			break;
		}
		off += n;
		if (sha256_cancelled(cancel)) {
			r = 1;
			break;
		}
	}
	free(b);
	*len = off;
	return r;
}

int sha256_fd(int fd, char out[65], int64_t *size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int64_t len = 0;
	int ret = TFS_EIO;

	out[0] = '\0';
	if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	    sha256_update_fd(md, fd, -1, &len, NULL) == 0) {
		sha256_final_hex(md, out);
		if (out[0]) {
			if (size)
				*size = len;
			ret = TFS_OK;
		}
	}
	EVP_MD_CTX_free(md);
	return ret;
}

int sha256_file(const char *path, char out[65], int64_t *size)
{
	struct stat st;
	int fd, ret = TFS_EIO;

	out[0] = '\0';
	/* not a FIFO or device: a read could block or never end, and so
	 * could the open of a FIFO without O_NONBLOCK */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		ret = sha256_fd(fd, out, size);
	if (fd >= 0)
		close(fd);
	return ret;
}

int sha256_hex_lower(const char *s, char out[65])
{
	int i;

	for (i = 0; i < 64; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		out[i] = c;
	}
	out[64] = '\0';
	return s[64] ? -1 : 0;
}

int sha256_hex_valid(const char *s)
{
	int i;

	if (!s)
		return 0;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}
