/* libslowfsync.so — an LD_PRELOAD shim that makes durable syncs slow or holds them, so tests
 * and benchmarks can show what the registry does while a commit waits for the disk.
 *
 * Wraps fsync(2), fdatasync(2) and msync(2) (LMDB's commit path uses fdatasync, or msync with
 * MDB_WRITEMAP); the real call runs after the wait, so durability is unchanged.
 *
 * Environment, read once per process at the first wrapped call:
 *
 *   RENDEZVOUS_SLOW_FSYNC_MS=N       wait N ms before each call (the bench's "slow disk";
 *                                    0..60000, anything else is ignored)
 *   RENDEZVOUS_FSYNC_HOLD_FILE=path  while `path` exists, each call waits, checking every 1 ms
 *                                    (tests create the file to hold a commit in flight and
 *                                    remove it to let the commit finish: no timing guesses)
 *
 * Both may be set; the hold comes first. msync is delayed only with MS_SYNC: MS_ASYNC
 * schedules write-back and returns, so no disk wait is there to imitate.
 *
 * The supervisor passes its environment to the workers it execs, so LD_PRELOAD on the
 * supervisor reaches every worker. The shim does nothing else: no output, no state besides
 * the parsed settings, safe from any thread (each waiting thread only sleeps).
 *
 * Built by the Makefile into $(BUILD)/lib/libslowfsync.so (-fPIC -shared -ldl).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef int (*fsync_fn)(int);
typedef int (*msync_fn)(void*, size_t, int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static fsync_fn real_fsync, real_fdatasync;
static msync_fn real_msync;
static long delay_ms;
static const char* hold_path; /* points into the environment, which outlives every call */

static void init(void) {
  real_fsync = (fsync_fn)dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = (fsync_fn)dlsym(RTLD_NEXT, "fdatasync");
  real_msync = (msync_fn)dlsym(RTLD_NEXT, "msync");
  const char* ms = getenv("RENDEZVOUS_SLOW_FSYNC_MS");
  if (ms && *ms) {
    char* end = NULL;
    long v = strtol(ms, &end, 10);
    if (*end == '\0' && v >= 0 && v <= 60000) delay_ms = v;
  }
  const char* hold = getenv("RENDEZVOUS_FSYNC_HOLD_FILE");
  if (hold && *hold) hold_path = hold;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* The wait before a sync. Keeps the caller's errno: only the real call may set it. */
static void before_sync(void) {
  pthread_once(&once, init);
  int saved = errno;
  if (hold_path)
    while (access(hold_path, F_OK) == 0) sleep_ms(1);
  if (delay_ms > 0) sleep_ms(delay_ms);
  errno = saved;
}

int fsync(int fd) {
  before_sync();
  if (!real_fsync) {
    errno = ENOSYS;
    return -1;
  }
  return real_fsync(fd);
}

int fdatasync(int fd) {
  before_sync();
  if (!real_fdatasync) {
    errno = ENOSYS;
    return -1;
  }
  return real_fdatasync(fd);
}

int msync(void* addr, size_t len, int flags) {
  if (flags & MS_SYNC) before_sync();
  else pthread_once(&once, init);
  if (!real_msync) {
    errno = ENOSYS;
    return -1;
  }
  return real_msync(addr, len, flags);
}
