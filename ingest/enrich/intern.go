package enrich

import (
	"hash/maphash"
	"sync"
)

// interner hands out one shared string per distinct page group, so that a warm PageGroup
// call does not allocate and the group never points into the caller's request buffer.
// It is bounded: a full shard is emptied before the next insert, so a spray of distinct
// URLs costs one allocation per new group and a fixed amount of memory, and the groups of
// real pages come back after it.
type interner struct {
	seed   maphash.Seed
	shards [internShards]internShard
}

const (
	internShards   = 16
	internPerShard = 1024 // 16384 groups in all, far above any per-window cardinality cap
)

type internShard struct {
	mu sync.RWMutex
	m  map[string]string
	_  [40]byte // keep shards on separate cache lines
}

func newInterner() *interner {
	in := &interner{seed: maphash.MakeSeed()}
	for i := range in.shards {
		in.shards[i].m = make(map[string]string)
	}
	return in
}

func (in *interner) get(b []byte) string {
	sh := &in.shards[maphash.Bytes(in.seed, b)%internShards]
	sh.mu.RLock()
	s, ok := sh.m[string(b)]
	sh.mu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	sh.mu.Lock()
	if old, ok := sh.m[s]; ok {
		s = old
	} else {
		if len(sh.m) >= internPerShard {
			clear(sh.m)
		}
		sh.m[s] = s
	}
	sh.mu.Unlock()
	return s
}
