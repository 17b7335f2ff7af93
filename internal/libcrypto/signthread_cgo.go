//go:build cgo && libcrypto

package libcrypto

// RSA signatures on threads of our own.
//
// An RSA-2048 signature takes libcrypto about 0.28 ms. Made by a cgo call,
// it holds the goroutine's P in a system call all that time: on a daemon
// with GOMAXPROCS = 1 the runtime's monitor (sysmon) takes the P away
// after 20 µs and hands it to another thread, which starts spinning, and
// the thread that made the call has to get a P back when it returns;
// every cgo call also wakes sysmon from its deep sleep, after which it
// polls every 20 µs for a while. Per full handshake that was about 8
// nanosleeps, a futex call and 12 voluntary context switches in the
// daemon (strace -f -c, /proc/PID/task/*/status; C's daemon has none of
// the first two).
//
// Instead, the goroutine hands the signature to a signing thread: a
// pthread started by C that never runs Go code, blocked in read(2) on an
// eventfd of its own. The goroutine writes the digest into the thread's
// job (C memory), wakes the thread by writing that eventfd and waits on a
// second one, which the thread writes when the signature is done, through
// Go's poller: meanwhile its P runs other goroutines, or waits in epoll
// like any idle P. Both eventfd calls on the Go side are raw system calls
// (no cgo call, no entersyscall), so neither the scheduler nor sysmon
// notices the signature at all.
//
// There are at most GOMAXPROCS signing threads (64 at most), started when
// a signature finds none idle; beyond that a signature waits for a thread
// to come free. A thread and its job and eventfds live as long as the
// process. Threads block every signal (they inherit the mask set around
// pthread_create), so that signals for the process reach Go's threads.

/*
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <openssl/evp.h>

int tp_sign_ctx(EVP_PKEY_CTX *ctx, const unsigned char *tbs, size_t tbslen,
		unsigned char *sig, size_t *siglen, unsigned long *err);

enum { TP_TBS_MAX = 64, TP_SIG_MAX = 2048 };

// tp_worker is one signing thread and its job.
typedef struct tp_worker {
	int reqfd;  // eventfd the thread reads: a job is ready
	int respfd; // non-blocking eventfd the thread writes: the job is done
	// The job: the caller sets ctx, tbs, tbslen and siglen (the room in
	// sig) and clears done; the thread sets ok, err, sig, siglen, then
	// done (atomically), then writes respfd.
	EVP_PKEY_CTX *ctx;
	int done;
	int ok;
	unsigned long err;
	size_t tbslen, siglen;
	unsigned char tbs[TP_TBS_MAX];
	unsigned char sig[TP_SIG_MAX];
} tp_worker;

static void *tp_run(void *arg) {
	tp_worker *w = arg;
	uint64_t n, one = 1;

	for (;;) {
		if (read(w->reqfd, &n, sizeof n) != sizeof n)
			continue; // EINTR; nothing else can fail on a valid eventfd
		w->ok = tp_sign_ctx(w->ctx, w->tbs, w->tbslen, w->sig, &w->siglen, &w->err);
		__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
		while (write(w->respfd, &one, sizeof one) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

// tp_worker_new starts a signing thread with every signal blocked. It
// returns NULL, with errno set, on failure.
static tp_worker *tp_worker_new(void) {
	tp_worker *w = calloc(1, sizeof *w);
	pthread_t t;
	pthread_attr_t attr;
	sigset_t all, old;
	int rc;

	if (w == NULL)
		return NULL;
	w->reqfd = eventfd(0, EFD_CLOEXEC);
	w->respfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->reqfd < 0 || w->respfd < 0 || pthread_attr_init(&attr) != 0)
		goto fail;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, &attr, tp_run, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		return w;
	errno = rc;
fail:
	rc = errno;
	if (w->reqfd >= 0)
		close(w->reqfd);
	if (w->respfd >= 0)
		close(w->respfd);
	free(w);
	errno = rc;
	return NULL;
}
*/
import "C"

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxWorkers bounds the signing threads.
const maxWorkers = 64

// worker is a signing thread, its job, and the poller's hold on the
// eventfd it answers on.
type worker struct {
	c    *C.tp_worker
	resp *os.File
	rc   syscall.RawConn
}

var workers struct {
	idle chan *worker // workers waiting for a job
	mu   sync.Mutex
	n    int // workers started
}

func init() { workers.idle = make(chan *worker, maxWorkers) }

// errNoThread says that no signing thread could be had: the caller signs
// with a cgo call of its own.
var errNoThread = errors.New("libcrypto: no signing thread")

// getWorker returns an idle worker, starts one when there are fewer than
// GOMAXPROCS, or else waits for one to come free.
func getWorker() (*worker, error) {
	select {
	case w := <-workers.idle:
		return w, nil
	default:
	}
	workers.mu.Lock()
	if workers.n < min(runtime.GOMAXPROCS(0), maxWorkers) {
		workers.n++
		workers.mu.Unlock()
		w, err := newWorker()
		if err == nil {
			return w, nil
		}
		workers.mu.Lock()
		workers.n--
		if workers.n == 0 {
			workers.mu.Unlock()
			return nil, err
		}
	}
	workers.mu.Unlock()
	return <-workers.idle, nil
}

func newWorker() (*worker, error) {
	c, err := C.tp_worker_new()
	if c == nil {
		return nil, os.NewSyscallError("signing thread", err)
	}
	resp := os.NewFile(uintptr(c.respfd), "libcrypto-signing")
	rc, err := resp.SyscallConn()
	if err != nil {
		// Not expected (an eventfd is pollable); the thread stays
		// blocked for good and costs a stack.
		return nil, err
	}
	return &worker{c: c, resp: resp, rc: rc}, nil
}

// signOnThread signs tbs with ctx on a signing thread and returns the
// signature (at most size bytes), or errNoThread when the job could not be
// handed over (nothing was signed, ctx is unused). ok reports libcrypto's
// success, code its error otherwise.
func signOnThread(ctx *C.EVP_PKEY_CTX, tbs []byte, size int) (sig []byte, ok bool, code C.ulong, err error) {
	if len(tbs) > C.TP_TBS_MAX || size > C.TP_SIG_MAX {
		return nil, false, 0, errNoThread
	}
	w, err := getWorker()
	if err != nil {
		return nil, false, 0, errNoThread
	}
	c := w.c
	c.ctx = ctx
	c.done = 0
	c.tbslen = C.size_t(len(tbs))
	c.siglen = C.size_t(size)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&c.tbs[0])), C.TP_TBS_MAX), tbs)
	one := uint64(1)
	if _, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(c.reqfd), uintptr(unsafe.Pointer(&one)), 8); e != 0 {
		workers.idle <- w
		return nil, false, 0, errNoThread
	}
	// Wait for the job: done is set before the eventfd is written, and a
	// job ends only once that write has been read, so the counter is 0
	// again for the next one. RawRead clears a readiness that arrived
	// before it started, so done is looked at first; a readiness left
	// from an earlier job finds done unset, or the counter empty, and
	// waits again.
	var rerr error
	werr := w.rc.Read(func(fd uintptr) bool {
		if atomic.LoadInt32((*int32)(unsafe.Pointer(&c.done))) == 0 {
			return false
		}
		var n uint64
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&n)), 8)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false
		}
		if e != 0 {
			rerr = e
		}
		return true
	})
	if werr != nil || rerr != nil {
		// Not expected: the worker is not reused (its counter may be
		// left set), and the signature is lost.
		return nil, false, 0, errors.Join(errors.New("libcrypto: waiting for the signing thread"), werr, rerr)
	}
	ok, code = c.ok == 1, c.err
	if ok {
		sig = C.GoBytes(unsafe.Pointer(&c.sig[0]), C.int(c.siglen))
	}
	workers.idle <- w
	return sig, ok, code, nil
}
