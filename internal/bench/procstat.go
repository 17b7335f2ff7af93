package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Linux reports CPU times in /proc in units of USER_HZ, which is 100 on
// every architecture Go supports there; page size comes from the runtime.
const userHZ = 100

// ProcStat is what the bench needs from one /proc/PID/stat line.
type ProcStat struct {
	PID, PPID int
	Comm      string
	UTime     uint64 // ticks of 1/userHZ s
	STime     uint64
	// CUTime and CSTime are the times of the children the process has
	// waited for (reaped), with their own reaped children's.
	CUTime, CSTime uint64
	RSSPages       int64
}

// CPU is the process's user plus system time.
func (p ProcStat) CPU() time.Duration {
	return time.Duration(p.UTime+p.STime) * time.Second / userHZ
}

// ReapedCPU is the user plus system time of the process's reaped children.
func (p ProcStat) ReapedCPU() time.Duration {
	return time.Duration(p.CUTime+p.CSTime) * time.Second / userHZ
}

// RSS is the resident set size in bytes.
func (p ProcStat) RSS() int64 { return p.RSSPages * int64(os.Getpagesize()) }

// ParseStat parses the text of /proc/PID/stat. The command name is in
// parentheses and may itself contain spaces and parentheses, so the fields
// after it are counted from the last ')'.
func ParseStat(b []byte) (ProcStat, error) {
	var p ProcStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return p, errors.New("stat: no (comm)")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return p, fmt.Errorf("stat: pid: %w", err)
	}
	p.PID, p.Comm = pid, string(b[open+1:end])
	// Fields from 3 (state) on; field n of proc(5) is rest[n-3].
	rest := bytes.Fields(b[end+1:])
	if len(rest) < 22 {
		return p, fmt.Errorf("stat: %d fields after comm, want at least 22", len(rest))
	}
	num := func(n int) (uint64, error) {
		v, err := strconv.ParseUint(string(rest[n-3]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: field %d: %w", n, err)
		}
		return v, nil
	}
	var ppid, rss uint64
	if ppid, err = num(4); err != nil {
		return p, err
	}
	if p.UTime, err = num(14); err != nil {
		return p, err
	}
	if p.STime, err = num(15); err != nil {
		return p, err
	}
	if p.CUTime, err = num(16); err != nil {
		return p, err
	}
	if p.CSTime, err = num(17); err != nil {
		return p, err
	}
	if rss, err = num(24); err != nil {
		return p, err
	}
	p.PPID, p.RSSPages = int(ppid), int64(rss)
	return p, nil
}

// Children returns the stat of every process whose parent is ppid and
// whose command name is comm ("" for any). Processes that vanish while the
// scan runs are skipped.
func Children(ppid int, comm string) ([]ProcStat, error) {
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	var out []ProcStat
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited
		}
		p, err := ParseStat(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if p.PPID == ppid && (comm == "" || p.Comm == comm) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Usage is a snapshot of all tlsproxy processes of one master, and of what
// master has reaped.
//
// How the CPU of every tlsproxy process is counted, exited ones included:
// when master(8) reaps a child, the kernel adds the child's CPU time to
// master's cutime and cstime (/proc/MASTER/stat). The bench's instances
// run nothing that exits during a measurement but tlsproxy processes (the
// bench plays postscreen and smtp itself; the other daemons are
// long-lived), so the growth of master's reaped time is the CPU of the
// tlsproxy processes that ended. Others records master's other children,
// so that a measurement during which one of them ended says so.
type Usage struct {
	Procs  map[int]ProcStat
	Reaped time.Duration  // master's cutime + cstime
	Self   time.Duration  // this process's own CPU time: the load client's
	Others map[int]string // master's other children: PID → command
}

// Snapshot reads the tlsproxy children of masterPID, master's reaped
// time and this process's own CPU time. A child that master reaps during
// the scan would count twice (or not at all), so the scan is repeated
// until master's reaped time is the same before and after it.
func Snapshot(masterPID int) (Usage, error) {
	master := func() (ProcStat, error) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", masterPID))
		if err != nil {
			return ProcStat{}, err
		}
		return ParseStat(b)
	}
	var last Usage
	for range 20 {
		m0, err := master()
		if err != nil {
			return Usage{}, err
		}
		ps, err := Children(masterPID, "")
		if err != nil {
			return Usage{}, err
		}
		m1, err := master()
		if err != nil {
			return Usage{}, err
		}
		u := Usage{Procs: make(map[int]ProcStat, len(ps)), Others: map[int]string{}, Reaped: m1.ReapedCPU(), Self: selfCPU()}
		for _, p := range ps {
			if p.Comm == "tlsproxy" {
				u.Procs[p.PID] = p
			} else {
				u.Others[p.PID] = p.Comm
			}
		}
		last = u
		if m0.ReapedCPU() == m1.ReapedCPU() {
			return u, nil
		}
	}
	return last, nil
}

// selfCPU is the user and system time of this process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RSS is the summed resident memory of the snapshot's processes.
func (u Usage) RSS() int64 {
	var n int64
	for _, p := range u.Procs {
		n += p.RSS()
	}
	return n
}

// CPUSince returns the CPU time the tlsproxy processes used between
// before and u: the growth of the live ones, all of the new ones, and what
// master reaped, less what the processes that ended had used before. gone
// is how many tlsproxy processes ended; others lists master's other
// children that ended (their CPU is in the reaped time too).
func (u Usage) CPUSince(before Usage) (cpu time.Duration, gone int, others []string) {
	for pid, p := range u.Procs {
		cpu += p.CPU()
		if b, ok := before.Procs[pid]; ok {
			cpu -= b.CPU()
		}
	}
	cpu += u.Reaped - before.Reaped
	for pid, b := range before.Procs {
		if _, ok := u.Procs[pid]; !ok {
			gone++
			cpu -= b.CPU()
		}
	}
	for pid, comm := range before.Others {
		if _, ok := u.Others[pid]; !ok {
			others = append(others, comm)
		}
	}
	return cpu, gone, others
}
