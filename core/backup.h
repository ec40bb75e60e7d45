/*
 * backup.h - copies of the state's database (STATE/trainfs.db, which holds
 * every experiment, run, event, metric point, config, template and sweep):
 * `trainfs backup` and `trainfs restore`, and the daemon's own periodic
 * backups (backup_dir, backup_every_s, backup_keep in the daemon config).
 *
 * A backup is the database only. What lives beside it in the state
 * directory is not in it: runs' logs and attempt directories (STATE/runs/),
 * the providers' work directories and the artifact cache. Those are files
 * that only grow or are written once, which a plain copy (rsync, tar) of
 * the state directory takes safely while the daemon runs.
 */
#ifndef TFS_BACKUP_H
#define TFS_BACKUP_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct backup;

/*
 * Backs up state_dir's database to file while a daemon may run: one
 * consistent snapshot, checked (PRAGMA integrity_check) before this
 * returns. TFS_OK, or a TFS_* error with the reason in err.
 */
int backup_state(const char *state_dir, const char *file, char *err,
		 size_t errlen);
/*
 * Checks file and makes it state_dir's database (the old one kept as
 * trainfs.db.old). The caller holds state_dir's lock: no daemon runs on it.
 * TFS_OK, or a TFS_* error with the reason in err.
 */
int backup_restore(const char *state_dir, const char *file, char *err,
		   size_t errlen);

/*
 * Reads backup_dir, backup_every_s and backup_keep from the daemon config
 * root (none of them: *out stays NULL, no periodic backups). Returns 0 with
 * *out set (free with backup_free()), or -1 with err naming the key.
 */
int backup_conf(const cJSON *root, const char *state_dir,
		struct backup **out, char *err, size_t errlen);
/*
 * Called from the backup thread with a sentence for the mount's events:
 * a backup failed, or works again after failures.
 */
typedef void (*backup_event_fn)(void *arg, const char *text);
/*
 * Starts the thread that writes a backup every backup_every_s, keeping the
 * newest backup_keep. It opens connections of its own and holds no lock
 * while it copies; event (with arg) is how it tells of a failure.
 * Returns TFS_OK or TFS_EIO.
 */
int backup_start(struct backup *b, backup_event_fn event, void *arg);
/* Stops the thread (a copy under way is finished first). Idempotent. */
void backup_stop(struct backup *b);
void backup_free(struct backup *b);

#endif
