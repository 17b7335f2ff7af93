package maps

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// cdb is a constant database file (D. J. Bernstein's format, as made by
// "postmap cdb:name"), held in memory: 256 (position, length) pairs of
// hash tables, the records (key length, value length, key, value), then
// the tables of (hash, record position) slots. Every position read from
// the file is checked against its size, and a search visits each slot of
// one table at most once.
type cdb struct{ data []byte }

// maxCDB bounds the file size read into memory (the format's own limit is
// 4 GiB).
const maxCDB = 1 << 30

func openCDB(name string, env Env) (table, *watched) {
	path := name + ".cdb"
	f, err := os.Open(path)
	if err != nil {
		return newSurrogate("cdb", name, fmt.Sprintf("open database %s: %s", path, errnoText(err)), env), nil
	}
	w := watch(f)
	data, err := io.ReadAll(io.LimitReader(f, maxCDB+1))
	if err == nil && len(data) > maxCDB {
		err = fmt.Errorf("file too large")
	}
	if err == nil && len(data) < 2048 {
		err = fmt.Errorf("invalid cdb file: too short")
	}
	if err != nil {
		return newSurrogate("cdb", name, fmt.Sprintf("read database %s: %v", path, err), env), w
	}
	return &cdb{data: data}, w
}

func cdbHash(key []byte) uint32 {
	h := uint32(5381)
	for _, c := range key {
		h = (h + h<<5) ^ uint32(c)
	}
	return h
}

func (c *cdb) u32(pos uint32) (uint32, bool) {
	if uint64(pos)+4 > uint64(len(c.data)) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(c.data[pos:]), true
}

// find returns the value of the first record with key.
func (c *cdb) find(key []byte) ([]byte, bool, error) {
	corrupt := fmt.Errorf("invalid cdb file: position out of range")
	h := cdbHash(key)
	tpos, _ := c.u32((h & 255) * 8)
	tlen, _ := c.u32((h&255)*8 + 4)
	if tlen == 0 {
		return nil, false, nil
	}
	if uint64(tpos)+uint64(tlen)*8 > uint64(len(c.data)) {
		return nil, false, corrupt
	}
	slot := (h >> 8) % tlen
	for n := uint32(0); n < tlen; n++ {
		sp := tpos + slot*8
		sh, _ := c.u32(sp)
		rp, _ := c.u32(sp + 4)
		if rp == 0 {
			return nil, false, nil
		}
		if sh == h {
			klen, ok1 := c.u32(rp)
			dlen, ok2 := c.u32(rp + 4)
			end := uint64(rp) + 8 + uint64(klen) + uint64(dlen)
			if !ok1 || !ok2 || end > uint64(len(c.data)) {
				return nil, false, corrupt
			}
			k := c.data[rp+8 : uint64(rp)+8+uint64(klen)]
			if string(k) == string(key) {
				return c.data[uint64(rp)+8+uint64(klen) : end], true, nil
			}
		}
		if slot++; slot == tlen {
			slot = 0
		}
	}
	return nil, false, nil
}

// get looks the key up as Postfix's cdb reader does: without, then with
// a terminating null byte; a value's terminating null is not part of it.
func (c *cdb) get(key string) (string, bool, bool, error) {
	for _, k := range [][]byte{[]byte(key), append([]byte(key), 0)} {
		v, ok, err := c.find(k)
		if err != nil {
			return "", false, false, err
		}
		if ok {
			if n := len(v); n > 0 && v[n-1] == 0 {
				v = v[:n-1]
			}
			return string(v), true, true, nil
		}
	}
	return "", false, false, nil
}
