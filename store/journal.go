package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The idempotency journal.
//
// An idempotency entry is keyed by a hash, so putting it straight into the
// entries bucket dirties a leaf chosen at random: a commit of 64 creates
// wrote 64 such leaves, spread over the file, and their fsync was about a
// third of the commit (BENCHMARKS.md). New entries go to a journal
// instead, a bucket keyed by sequence number, whose appends share a page,
// and a map in memory finds them by key. When the journal holds
// journalLimit entries, or its oldest is journalMaxAge old, it is frozen
// and a fresh one started; from then on every commit carries a slice of
// the frozen entries, in key order, into the entries bucket, where
// neighbouring keys share a leaf, so a leaf is written once for many
// entries. The carried generation stays, bucket and map, until the next
// one is frozen, and is dropped whole then.
//
// Every entry is on disk in the transaction that made it, as before; the
// map only says where to look. Lookups try the journal's generations,
// newest first, then the entries bucket. A reader whose snapshot predates
// an entry the map points to does not find it there and falls through.
// Keeping a carried generation until the next freeze means a reader finds
// every entry its snapshot holds, unless it pauses for a whole generation
// between beginning and looking, or looks in the instant between a commit
// and its entries reaching the map. A miss costs little: Store.create
// looks again in the writer before it creates anything.
//
// Layout: bucket idempotency_journal holds one bucket per generation (at
// most two: the active one and the frozen one), named by the first
// sequence number it holds (8 bytes, big endian). Each maps sequence (8)
// → entry key (32) ‖ entry value. Open reads the generations back into
// memory; if two are left and the older one is not marked as all carried
// (keyCarried), its carrying starts again from its first key, which is
// harmless, since it puts the values already there.

var bucketIdempotencyJournal = []byte("idempotency_journal")

const (
	// journalLimit is the default bound on a generation's entries; the
	// active and the frozen generation's maps take about 75 bytes an
	// entry together. The larger it is, the more entries share a leaf
	// when carried.
	journalLimit = 1 << 16
	// journalMaxAge bounds how long an entry waits in the journal, so a
	// quiet store carries its entries too.
	journalMaxAge = 10 * time.Minute
	// journalCarryMin is the least a commit carries. It carries twice its
	// own writes when that is more, so carrying outpaces new entries.
	journalCarryMin = 256
)

// generation is one journal bucket's entries, by key.
type generation struct {
	name   uint64
	seqs   map[[32]byte]uint64
	oldest time.Time // when its first entry was committed
}

type journal struct {
	limit    int
	maxAge   time.Duration
	carryMin int

	// mu guards active and frozen, which readers consult; only the
	// writer goroutine changes them, and only after a commit.
	mu      sync.RWMutex
	active  generation
	frozen  *generation // being carried, or carried; nil before the first freeze
	carried int         // how many of carry are in the entries bucket

	// The rest belongs to the writer goroutine.
	nextSeq uint64
	carry   [][32]byte // frozen's keys in order, while it is being carried
	tx      journalTx  // what the transaction in progress does
}

// journalTx is a write transaction's effect on the journal, applied to
// memory only once the transaction has committed.
type journalTx struct {
	begun    bool // begin ran; false once committed or rolled back
	firstSeq uint64
	pending  map[[32]byte]uint64 // entries it put, in the active generation
	freezeAs uint64              // when non-zero, it froze active and began this generation
	carried  int                 // carry position it reached
	removed  []removal           // entries it deleted from the journal
	gone     map[[32]byte]bool   // their keys
}

// removal is an entry deleted from the journal: swept, replaced by a new
// entry of its key, or found expired when carried.
type removal struct {
	key [32]byte
	at  location
}

func genName(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// loadJournal reads the journal's generations back into memory, starting
// the first one on a store that has none.
func loadJournal(db *bolt.DB, limit int, now func() time.Time) (*journal, error) {
	if limit <= 0 {
		limit = journalLimit
	}
	// A small journal is carried in a few commits too, not in one.
	j := &journal{limit: limit, maxAge: journalMaxAge, carryMin: min(journalCarryMin, max(1, limit/8)), nextSeq: 1}
	var gens []generation
	var carriedMark []byte
	err := db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketIdempotencyJournal)
		carriedMark = bytes.Clone(root.Get(keyCarried))
		err := root.ForEachBucket(func(name []byte) error {
			if len(name) != 8 {
				return fmt.Errorf("idempotency journal: bucket %x: %w", name, errCorrupt)
			}
			g := generation{name: binary.BigEndian.Uint64(name), seqs: map[[32]byte]uint64{}}
			j.nextSeq = max(j.nextSeq, g.name)
			err := root.Bucket(name).ForEach(func(k, v []byte) error {
				if len(k) != 8 || len(v) < 32+idemHeader {
					return fmt.Errorf("idempotency journal: entry %x: %w", k, errCorrupt)
				}
				seq := binary.BigEndian.Uint64(k)
				g.seqs[[32]byte(v[:32])] = seq
				j.nextSeq = max(j.nextSeq, seq+1)
				return nil
			})
			gens = append(gens, g)
			return err
		})
		if err != nil || len(gens) > 0 {
			return err
		}
		_, err = root.CreateBucket(genName(j.nextSeq))
		gens = append(gens, generation{name: j.nextSeq, seqs: map[[32]byte]uint64{}})
		return err
	})
	if err != nil {
		return nil, err
	}
	switch len(gens) {
	case 1:
	case 2:
		j.frozen = &gens[0]
		if !bytes.Equal(carriedMark, genName(gens[0].name)) {
			j.carry = sortedKeys(gens[0].seqs)
		}
	default:
		return nil, fmt.Errorf("idempotency journal: %d generations: %w", len(gens), errCorrupt)
	}
	j.active = gens[len(gens)-1]
	if len(j.active.seqs) > 0 {
		// When the entries came is not kept; counting from now delays
		// the next freeze by at most maxAge.
		j.active.oldest = now()
	}
	return j, nil
}

func sortedKeys(m map[[32]byte]uint64) [][32]byte {
	keys := make([][32]byte, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	return keys
}

// begin starts the journal's part of a write transaction: it freezes the
// active generation when that is due and none is being carried, dropping
// the one carried before.
func (j *journal) begin(tx *bolt.Tx, now time.Time) error {
	j.tx = journalTx{begun: true, firstSeq: j.nextSeq, pending: j.tx.pending, carried: j.carried,
		removed: j.tx.removed[:0], gone: j.tx.gone}
	clear(j.tx.pending)
	clear(j.tx.gone)
	if j.tx.pending == nil {
		j.tx.pending, j.tx.gone = map[[32]byte]uint64{}, map[[32]byte]bool{}
	}
	if j.carrying() || !j.freezeDue(now) {
		return nil
	}
	root := tx.Bucket(bucketIdempotencyJournal)
	if j.frozen != nil {
		if err := root.DeleteBucket(genName(j.frozen.name)); err != nil {
			return err
		}
	}
	if _, err := root.CreateBucket(genName(j.nextSeq)); err != nil {
		return err
	}
	j.tx.freezeAs = j.nextSeq
	return nil
}

// carrying reports whether a frozen generation is not yet all carried.
func (j *journal) carrying() bool { return j.frozen != nil && j.carried < len(j.carry) }

func (j *journal) freezeDue(now time.Time) bool {
	n := len(j.active.seqs)
	return n >= j.limit || n > 0 && now.Sub(j.active.oldest) >= j.maxAge
}

// due reports whether the journal has work that a commit would do.
func (j *journal) due(now time.Time) bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.carrying() || j.freezeDue(now)
}

// writing is the generation the transaction in progress puts into.
func (j *journal) writing() uint64 {
	if j.tx.freezeAs != 0 {
		return j.tx.freezeAs
	}
	return j.active.name
}

// committed applies the transaction's effect to memory.
func (j *journal) committed(now time.Time) {
	t := &j.tx
	if !t.begun {
		return
	}
	t.begun = false
	var carry [][32]byte
	if t.freezeAs != 0 {
		carry = sortedKeys(j.active.seqs) // before locking out readers
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if t.freezeAs != 0 {
		frozen := j.active
		j.frozen = &frozen
		j.active = generation{name: t.freezeAs, seqs: map[[32]byte]uint64{}}
		j.carry, j.carried = carry, 0
	} else if j.carried = t.carried; j.carried == len(j.carry) {
		j.carry, j.carried = nil, 0 // all carried; the keys are not needed
	}
	for _, r := range t.removed {
		for _, g := range []*generation{&j.active, j.frozen} {
			if g != nil && g.name == r.at.gen && g.seqs[r.key] == r.at.seq {
				delete(g.seqs, r.key)
			}
		}
	}
	if len(t.pending) > 0 && len(j.active.seqs) == 0 {
		j.active.oldest = now
	}
	for k, seq := range t.pending {
		j.active.seqs[k] = seq
	}
}

// rolledBack forgets the transaction's effect. A transaction that failed
// before begin ran has none.
func (j *journal) rolledBack() {
	if !j.tx.begun {
		return
	}
	j.tx.begun = false
	j.nextSeq = j.tx.firstSeq
}

// location is where a generation keeps a key's entry.
type location struct{ gen, seq uint64 }

// locate lists where the journal keeps key, newest first. In the writer,
// that includes the transaction's own entries.
func (j *journal) locate(tx *bolt.Tx, key [32]byte) []location {
	var locs []location
	if tx.Writable() {
		if seq, ok := j.tx.pending[key]; ok {
			locs = append(locs, location{j.writing(), seq})
		}
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	if seq, ok := j.active.seqs[key]; ok {
		locs = append(locs, location{j.active.name, seq})
	}
	if j.frozen != nil {
		if seq, ok := j.frozen.seqs[key]; ok {
			locs = append(locs, location{j.frozen.name, seq})
		}
	}
	return locs
}

// idemDelete deletes the journal's entries of key whose value match
// accepts, and the entries bucket's.
func (s *Store) idemDelete(tx *bolt.Tx, key [32]byte, match func(v []byte) bool) error {
	j := s.journal
	root := tx.Bucket(bucketIdempotencyJournal)
	for _, l := range j.locate(tx, key) {
		if g, v := journalValue(root, l, key); v != nil && match(v) {
			if err := g.Delete(genName(l.seq)); err != nil {
				return err
			}
			if pending, ok := j.tx.pending[key]; ok && pending == l.seq {
				delete(j.tx.pending, key)
			} else {
				j.tx.removed = append(j.tx.removed, removal{key, l})
				j.tx.gone[key] = true
			}
		}
	}
	return tx.Bucket(bucketIdempotency).Delete(key[:])
}

// journalValue returns the value the journal keeps at l for key, if tx
// can see it.
func journalValue(root *bolt.Bucket, l location, key [32]byte) (*bolt.Bucket, []byte) {
	g := root.Bucket(genName(l.gen))
	if g == nil {
		return nil, nil
	}
	v := g.Get(genName(l.seq))
	if len(v) < 32+idemHeader || !bytes.Equal(v[:32], key[:]) {
		return g, nil
	}
	return g, v[32:]
}

// idemGet returns the newest entry value of key that tx can see.
func (s *Store) idemGet(tx *bolt.Tx, key [32]byte) []byte {
	root := tx.Bucket(bucketIdempotencyJournal)
	for _, l := range s.journal.locate(tx, key) {
		if _, v := journalValue(root, l, key); v != nil {
			return v
		}
	}
	return tx.Bucket(bucketIdempotency).Get(key[:])
}

// idemPut journals val as key's entry.
func (s *Store) idemPut(tx *bolt.Tx, key [32]byte, val []byte) error {
	j := s.journal
	g := tx.Bucket(bucketIdempotencyJournal).Bucket(genName(j.writing()))
	if g == nil {
		return fmt.Errorf("idempotency journal: generation %d: %w", j.writing(), errCorrupt)
	}
	g.FillPercent = appendFillPercent
	seq := j.nextSeq
	if err := g.Put(genName(seq), cat(key[:], val)); err != nil {
		return err
	}
	j.nextSeq++
	j.tx.pending[key] = seq
	return nil
}

// idemRewrite replaces each stored value of key (in the journal and in
// the entries bucket) for which edit returns a new one, so that no older
// copy survives to be carried back over it.
func (s *Store) idemRewrite(tx *bolt.Tx, key [32]byte, edit func(old []byte) []byte) error {
	root := tx.Bucket(bucketIdempotencyJournal)
	for _, l := range s.journal.locate(tx, key) {
		if g, v := journalValue(root, l, key); v != nil {
			if nv := edit(v); nv != nil {
				if err := g.Put(genName(l.seq), cat(key[:], nv)); err != nil {
					return err
				}
			}
		}
	}
	entries := tx.Bucket(bucketIdempotency)
	if v := entries.Get(key[:]); v != nil {
		if nv := edit(v); nv != nil {
			return entries.Put(bytes.Clone(key[:]), nv)
		}
	}
	return nil
}

// carryJournal moves the next slice of the frozen generation, in key
// order, into the entries bucket, at least twice writes entries. An entry
// that has expired meanwhile is dropped as the sweeper would; one a newer
// entry has replaced stays behind, since the newer one is carried later.
func (s *Store) carryJournal(tx *bolt.Tx, writes int, now time.Time) error {
	j := s.journal
	if !j.carrying() {
		return nil
	}
	root := tx.Bucket(bucketIdempotencyJournal)
	g := root.Bucket(genName(j.frozen.name))
	if g == nil {
		return fmt.Errorf("idempotency journal: generation %d: %w", j.frozen.name, errCorrupt)
	}
	entries := tx.Bucket(bucketIdempotency)
	end := min(len(j.carry), j.carried+max(j.carryMin, 2*writes))
	// A newer entry of a key deletes the frozen one (putIdempotent), so
	// every frozen entry still there is its key's latest.
	for _, key := range j.carry[j.carried:end] {
		seq, ok := j.frozen.seqs[key]
		if !ok || j.tx.gone[key] {
			continue // swept or replaced
		}
		v := g.Get(genName(seq))
		if len(v) < 32+idemHeader {
			return fmt.Errorf("idempotency journal: entry %d: %w", seq, errCorrupt)
		}
		// Copied: a remap at commit would move the page.
		val := bytes.Clone(v[32:])
		if entryExpired(val, now) {
			// Dropped from the generation too: nothing points at it
			// any more, so neither sweeping nor erasure would find it.
			if err := dropIdempotent(tx, key[:], val); err != nil {
				return err
			}
			if err := entries.Delete(key[:]); err != nil {
				return err
			}
			if err := g.Delete(genName(seq)); err != nil {
				return err
			}
			j.tx.removed = append(j.tx.removed, removal{key, location{j.frozen.name, seq}})
			j.tx.gone[key] = true
			continue
		}
		if err := entries.Put(bytes.Clone(key[:]), val); err != nil {
			return err
		}
	}
	j.tx.carried = end
	if end == len(j.carry) {
		// So that a restart does not carry it all again.
		return root.Put(keyCarried, genName(j.frozen.name))
	}
	return nil
}

// keyCarried, in the journal's root bucket, names the frozen generation
// once all of it is carried.
var keyCarried = []byte("carried")
