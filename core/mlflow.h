/*
 * mlflow.h - the export of experiments, runs, params, metrics, final
 * states and artifacts to an MLflow tracking server (DESIGN.md section
 * 10), over its REST API 2.0 and its artifact proxy (`mlflow server
 * --serve-artifacts`). One thread does every request, woken by the
 * state-change hook and by a periodic pass that picks up new metric
 * points; it never holds the model lock across a request, so a server that
 * is down or slow delays the export, never the mount.
 *
 * What was sent is kept in the store's exports table (target "mlflow"),
 * written after the server acknowledged; the metrics position also goes to
 * the server as the run's tag trainfs.metrics_pos in the same log-batch,
 * so that a crash between the server's answer and the commit resumes from
 * the server's word, and no point is sent twice.
 *
 * The pure helpers at the end (flattening, truncation, batching, paths)
 * do no I/O, for tests.
 */
#ifndef TFS_MLFLOW_H
#define TFS_MLFLOW_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"

/* MLflow's own limits (mlflow/utils/validation.py) */
#define MLFLOW_BATCH_METRICS 1000   /* metrics in one log-batch */
#define MLFLOW_BATCH_PARAMS 100
#define MLFLOW_BATCH_TAGS 100
#define MLFLOW_BATCH_TOTAL 1000     /* all entities of one log-batch */
#define MLFLOW_KEY_MAX 250          /* a param's, tag's or metric's key */
#define MLFLOW_PARAM_VALUE_MAX 6000
#define MLFLOW_TAG_VALUE_MAX 8000
/* ours */
#define MLFLOW_PARAMS_MAX 2048      /* flattened params of one run */
#define MLFLOW_PREFIX_MAX 200       /* bytes of experiment_prefix */
#define MLFLOW_UPLOAD_MAX_DEFAULT (64LL << 20)  /* larger files: linked */

/*
 * The thread's entry points (mlflow_config(), _init(), _start(), _stop(),
 * _release()) are declared in model.h with the model's other parts, and
 * the status file's in core.h (core_export_status()): this header is the
 * pure helpers', for tests.
 */

/* ---- pure helpers ---- */

/* A key and its value, both owned; truncated when either was cut. */
struct mlflow_kv {
	char *key;
	char *value;
	int truncated;
};
/*
 * Appends the scalars of obj (an object) to *kv as "prefix<k>" for each
 * member, nested objects as "a.b", arrays as their compact JSON text;
 * strings as they are, numbers as JSON prints them, true/false, null as
 * "null". Keys are cut to MLFLOW_KEY_MAX and values to value_max bytes (at
 * a UTF-8 boundary), with truncated set. At most max entries (the rest
 * dropped: returns the number dropped).
 */
size_t mlflow_flatten(const cJSON *obj, const char *prefix, size_t value_max,
		      struct mlflow_kv **kv, size_t *n, size_t max);
void mlflow_kv_free(struct mlflow_kv *kv, size_t n);
/* Cuts s to at most max bytes, not inside a UTF-8 sequence: 1 when cut. */
int mlflow_truncate(char *s, size_t max);

/* One metric point as log-batch takes it. */
struct mlflow_metric {
	const char *key;
	double value;
	int64_t timestamp;         /* ms */
	int64_t step;
};
/* trainfs's step (a double) as MLflow's (an int64): rounded, clamped. */
int64_t mlflow_step(double step);
/*
 * How many of nm metrics, np params and nt tags the next log-batch takes,
 * in that order of preference for the space left: all within MLflow's
 * limits (at most 1000 metrics, 100 params, 100 tags, 1000 in all).
 */
void mlflow_batch_plan(size_t nm, size_t np, size_t nt, size_t *tm,
		       size_t *tp, size_t *tt);
/* The log-batch body of those, into out (JSON). */
int mlflow_batch_body(const char *run_id, const struct mlflow_metric *m,
		      size_t nm, const struct mlflow_kv *p, size_t np,
		      const struct mlflow_kv *t, size_t nt, struct buf *out);
/*
 * The proxied upload URL of path (relative, '/'-separated) of a run whose
 * artifact_uri is "mlflow-artifacts:/1/abc/artifacts" (or
 * "mlflow-artifacts://host:port/1/..."): tracking +
 * "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/<path>", the path
 * percent-encoded. TFS_EINVAL when artifact_uri is not of the proxy
 * (the server was started without --serve-artifacts) or out is too small.
 */
int mlflow_artifact_url(const char *tracking, const char *artifact_uri,
			const char *path, char *out, size_t outlen);
/* The MLflow status of a run in state (enum run_state). */
const char *mlflow_run_status(int state);

#endif
