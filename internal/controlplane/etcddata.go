package controlplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// damagedData is the error for etcd data that cannot be used, with what to
// do about it: the data dir holds every object, so nothing is repaired or
// replaced behind the user's back.
func damagedData(dataDir, what string) error {
	return fmt.Errorf("the etcd data in %s is damaged: %s. "+
		"Nothing was changed. Restore the data dir from a backup, or keep this one as it is (for etcdutl or a later look) and start afresh with another: "+
		"infraplane up --data-dir NEW_DIR (the objects must then be applied again, e.g. by the GitSources' syncs)",
		filepath.Join(dataDir, "etcd"), what)
}

// checkEtcdData looks at etcd's bbolt file (member/snap/db) before etcd
// maps it into memory: a file cut short (a full disk, a copy interrupted)
// would otherwise crash the process with SIGBUS the first time etcd reads
// a page past its end. It compares the file's size with the size its own
// header says it has. A missing file is fine (a new data dir).
func checkEtcdData(dataDir string) error {
	path := filepath.Join(dataDir, "etcd", "member", "snap", "db")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size == 0 {
		return damagedData(dataDir, fmt.Sprintf("%s is empty", path))
	}
	// bbolt keeps two meta pages, at page 0 and page 1; the valid one with
	// the higher transaction id is current.
	var best *boltMeta
	for i := range 2 {
		m, err := readBoltMeta(f, i, best)
		if err != nil {
			continue
		}
		if best == nil || m.txid > best.txid {
			best = m
		}
	}
	dir := dataDir
	if best == nil {
		return damagedData(dir, fmt.Sprintf("%s has no valid header (%d bytes)", path, size))
	}
	if need := int64(best.pgid) * int64(best.pageSize); size < need {
		return damagedData(dir, fmt.Sprintf("%s is cut short: %d bytes, its header says %d (%d pages of %d bytes)", path, size, need, best.pgid, best.pageSize))
	}
	return nil
}

// boltMeta is what checkEtcdData needs of a bbolt meta page.
type boltMeta struct {
	pageSize uint32
	pgid     uint64 // pages in use: the file holds at least this many
	txid     uint64
}

const (
	boltMagic      = 0xED0CDAED
	boltPageHeader = 16 // id, flags, count, overflow
	boltMetaSize   = 64 // magic … checksum
)

// readBoltMeta reads meta page i. The page size is in the first meta
// page; the second is at that offset.
func readBoltMeta(r io.ReaderAt, i int, first *boltMeta) (*boltMeta, error) {
	off := int64(0)
	if i == 1 {
		ps := uint32(os.Getpagesize())
		if first != nil {
			ps = first.pageSize
		}
		off = int64(ps)
	}
	buf := make([]byte, boltPageHeader+boltMetaSize)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, err
	}
	m := buf[boltPageHeader:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic {
		return nil, errors.New("no bbolt magic")
	}
	// Layout: magic, version, pageSize, flags (4 bytes each), root
	// bucket (16), freelist (8), pgid (8), txid (8), checksum (8): the
	// checksum is FNV-64a of everything before it.
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return nil, errors.New("bad checksum")
	}
	return &boltMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}
