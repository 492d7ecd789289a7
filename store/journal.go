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

// Journals: the idempotency entries and the email index.
//
// Both are keyed by a hash, so putting an entry straight into its tree
// dirties a leaf chosen at random: a commit of 64 creates wrote 64 such
// leaves of each, spread over the file, and with the branch pages above
// them they were most of what the commit wrote (BENCHMARKS.md). New entries
// go to a journal instead, a bucket keyed by sequence number, whose appends
// share a page, and a map in memory finds them by key. When the journal
// holds journalLimit entries, or its oldest is journalMaxAge old, it is
// frozen and a fresh one started; from then on every commit carries a
// slice of the frozen entries, in key order, into the tree, where
// neighbouring keys share a leaf, so a leaf is written once for many
// entries. The carried generation stays, bucket and map, until the next one
// is frozen, and is dropped whole then.
//
// Every entry is on disk in the transaction that made it, as before; the
// map only says where to look. A reader whose snapshot predates an entry
// the map points to does not find it there.
//
// The idempotency lookup (get) tries the journal's generations, newest
// first, then the tree. It can miss an entry its snapshot holds if it
// pauses for a whole generation between beginning and looking, or looks in
// the instant between a commit and its entries reaching the map; a miss
// costs little, since Store.create looks again in the writer before it
// creates anything. A list by prefix (keysUnder, for the email index)
// misses nothing: it reads whole any generation its snapshot holds that
// memory no longer (or not yet) knows, and the active one's entries past
// the last the map has taken in.
//
// Layout: a journal's root bucket holds one bucket per generation (at most
// two: the active one and the frozen one), named by the first sequence
// number it holds (8 bytes, big endian). Each maps sequence (8) → entry
// key (32) ‖ entry value. Open reads the generations back into memory; if
// two are left and the older one is not marked as all carried
// (keyCarried), its carrying starts again from its first key, which is
// harmless, since it puts the values already there.

var (
	bucketIdempotencyJournal = []byte("idempotency_journal")
	bucketEmailJournal       = []byte("referrals_by_email_journal")
)

// journalKind says what a journal holds and where it carries its entries.
type journalKind struct {
	what     string // names it in errors and logs
	root     []byte // the bucket of its generations
	tree     []byte // the bucket its entries are carried into
	valueMin int    // the least length of an entry's value
	// byPrefix keeps each generation's keys by their first 16 bytes too,
	// for keysUnder.
	byPrefix bool
	// expired, when set, reports a value due to be dropped when carried,
	// with drop deleting what points at it.
	expired func(val []byte, now time.Time) bool
	drop    func(tx *bolt.Tx, key, val []byte) error
}

var (
	idempotencyJournal = journalKind{what: "idempotency journal", root: bucketIdempotencyJournal,
		tree: bucketIdempotency, valueMin: idemHeader, expired: entryExpired, drop: dropIdempotent}
	// The email index's entries are keys alone: email hash (16) ‖
	// referral key (16).
	emailJournal = journalKind{what: "email index journal", root: bucketEmailJournal,
		tree: bucketReferralsByEmail, byPrefix: true}
)

const (
	// journalLimit is the default bound on a generation's entries; the
	// active and the frozen generation's maps take about 75 bytes an
	// entry together (about 140 with the map by prefix). The larger it
	// is, the more entries share a leaf when carried.
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
	under  map[[16]byte][]uint64 // byPrefix only: the sequences of each prefix's keys
	oldest time.Time             // when its first entry was committed
}

func newGeneration(name uint64, byPrefix bool) generation {
	g := generation{name: name, seqs: map[[32]byte]uint64{}}
	if byPrefix {
		g.under = map[[16]byte][]uint64{}
	}
	return g
}

func (g *generation) add(key [32]byte, seq uint64) {
	g.seqs[key] = seq
	if g.under != nil {
		p := [16]byte(key[:16])
		g.under[p] = append(g.under[p], seq)
	}
}

// remove forgets key's entry if it is the one at seq.
func (g *generation) remove(key [32]byte, seq uint64) {
	if s, ok := g.seqs[key]; !ok || s != seq {
		return
	}
	delete(g.seqs, key)
	if g.under != nil {
		p := [16]byte(key[:16])
		if rest := slices.DeleteFunc(g.under[p], func(s uint64) bool { return s == seq }); len(rest) > 0 {
			g.under[p] = rest
		} else {
			delete(g.under, p)
		}
	}
}

type journal struct {
	kind     *journalKind
	limit    int
	maxAge   time.Duration
	carryMin int

	// mu guards active, frozen and published, which readers consult;
	// only the writer goroutine changes them, and only after a commit.
	mu      sync.RWMutex
	active  generation
	frozen  *generation // being carried, or carried; nil before the first freeze
	carried int         // how many of carry are in the tree
	// published is the sequence number after the last entry the maps
	// have taken in.
	published uint64

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
// entry of its key, erased, or found expired when carried.
type removal struct {
	key [32]byte
	at  location
}

func genName(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// loadJournal reads the journal's generations back into memory, starting
// the first one on a store that has none.
func loadJournal(db *bolt.DB, kind *journalKind, limit int, now func() time.Time) (*journal, error) {
	if limit <= 0 {
		limit = journalLimit
	}
	// A small journal is carried in a few commits too, not in one.
	j := &journal{kind: kind, limit: limit, maxAge: journalMaxAge, carryMin: min(journalCarryMin, max(1, limit/8)), nextSeq: 1}
	var gens []generation
	var carriedMark []byte
	err := db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(kind.root)
		carriedMark = bytes.Clone(root.Get(keyCarried))
		err := root.ForEachBucket(func(name []byte) error {
			if len(name) != 8 {
				return fmt.Errorf("%s: bucket %x: %w", kind.what, name, errCorrupt)
			}
			g := newGeneration(binary.BigEndian.Uint64(name), kind.byPrefix)
			j.nextSeq = max(j.nextSeq, g.name)
			err := root.Bucket(name).ForEach(func(k, v []byte) error {
				if len(k) != 8 || len(v) < 32+kind.valueMin {
					return fmt.Errorf("%s: entry %x: %w", kind.what, k, errCorrupt)
				}
				seq := binary.BigEndian.Uint64(k)
				g.add([32]byte(v[:32]), seq)
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
		gens = append(gens, newGeneration(j.nextSeq, kind.byPrefix))
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
		return nil, fmt.Errorf("%s: %d generations: %w", kind.what, len(gens), errCorrupt)
	}
	j.active = gens[len(gens)-1]
	j.published = j.nextSeq
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
	root := tx.Bucket(j.kind.root)
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
		j.active = newGeneration(t.freezeAs, j.kind.byPrefix)
		j.carry, j.carried = carry, 0
	} else if j.carried = t.carried; j.carried == len(j.carry) {
		j.carry, j.carried = nil, 0 // all carried; the keys are not needed
	}
	for _, r := range t.removed {
		for _, g := range []*generation{&j.active, j.frozen} {
			if g != nil && g.name == r.at.gen {
				g.remove(r.key, r.at.seq)
			}
		}
	}
	if len(t.pending) > 0 && len(j.active.seqs) == 0 {
		j.active.oldest = now
	}
	for k, seq := range t.pending {
		j.active.add(k, seq)
	}
	j.published = j.nextSeq
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

// delete deletes the journal's entries of key whose value match accepts,
// and the tree's.
func (j *journal) delete(tx *bolt.Tx, key [32]byte, match func(v []byte) bool) error {
	root := tx.Bucket(j.kind.root)
	for _, l := range j.locate(tx, key) {
		if g, v := j.value(root, l, key); v != nil && match(v) {
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
	return tx.Bucket(j.kind.tree).Delete(key[:])
}

// value returns the value the journal keeps at l for key, if tx can see
// it.
func (j *journal) value(root *bolt.Bucket, l location, key [32]byte) (*bolt.Bucket, []byte) {
	g := root.Bucket(genName(l.gen))
	if g == nil {
		return nil, nil
	}
	v := g.Get(genName(l.seq))
	if len(v) < 32+j.kind.valueMin || !bytes.Equal(v[:32], key[:]) {
		return g, nil
	}
	return g, v[32:]
}

// get returns the newest value of key that tx can see.
func (j *journal) get(tx *bolt.Tx, key [32]byte) []byte {
	root := tx.Bucket(j.kind.root)
	for _, l := range j.locate(tx, key) {
		if _, v := j.value(root, l, key); v != nil {
			return v
		}
	}
	return tx.Bucket(j.kind.tree).Get(key[:])
}

// put journals val as key's entry.
func (j *journal) put(tx *bolt.Tx, key [32]byte, val []byte) error {
	g := tx.Bucket(j.kind.root).Bucket(genName(j.writing()))
	if g == nil {
		return fmt.Errorf("%s: generation %d: %w", j.kind.what, j.writing(), errCorrupt)
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

// rewrite replaces each stored value of key (in the journal and in the
// tree) for which edit returns a new one, so that no older copy survives
// to be carried back over it.
func (j *journal) rewrite(tx *bolt.Tx, key [32]byte, edit func(old []byte) []byte) error {
	root := tx.Bucket(j.kind.root)
	for _, l := range j.locate(tx, key) {
		if g, v := j.value(root, l, key); v != nil {
			if nv := edit(v); nv != nil {
				if err := g.Put(genName(l.seq), cat(key[:], nv)); err != nil {
					return err
				}
			}
		}
	}
	tree := tx.Bucket(j.kind.tree)
	if v := tree.Get(key[:]); v != nil {
		if nv := edit(v); nv != nil {
			return tree.Put(bytes.Clone(key[:]), nv)
		}
	}
	return nil
}

// keysUnder returns the key of every journal entry under prefix that tx
// can see, in no order. A carried generation's entries are in the tree
// too.
func (j *journal) keysUnder(tx *bolt.Tx, prefix [16]byte) ([][32]byte, error) {
	root := tx.Bucket(j.kind.root)
	var keys [][32]byte
	take := func(v []byte) {
		if len(v) >= 32 && bytes.Equal(v[:16], prefix[:]) {
			keys = append(keys, [32]byte(v[:32]))
		}
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	err := root.ForEachBucket(func(name []byte) error {
		b := root.Bucket(name)
		var g *generation
		switch n := binary.BigEndian.Uint64(name); {
		case n == j.active.name:
			g = &j.active
		case j.frozen != nil && n == j.frozen.name:
			g = j.frozen
		default:
			// Dropped from memory since tx began, or begun by tx or by a
			// commit memory has not taken in yet: read it whole.
			return b.ForEach(func(_, v []byte) error { take(v); return nil })
		}
		for _, seq := range g.under[prefix] {
			take(b.Get(genName(seq)))
		}
		if g == &j.active {
			// Committed after the map was last brought up to date, or
			// put by tx itself.
			c := b.Cursor()
			for k, v := c.Seek(genName(j.published)); k != nil; k, v = c.Next() {
				take(v)
			}
		}
		return nil
	})
	return keys, err
}

// carryOn moves the next slice of the frozen generation, in key order,
// into the tree, at least twice writes entries. An entry that has expired
// meanwhile is dropped as the sweeper would; one a newer entry has
// replaced stays behind, since the newer one is carried later.
func (j *journal) carryOn(tx *bolt.Tx, writes int, now time.Time) error {
	if !j.carrying() {
		return nil
	}
	root := tx.Bucket(j.kind.root)
	g := root.Bucket(genName(j.frozen.name))
	if g == nil {
		return fmt.Errorf("%s: generation %d: %w", j.kind.what, j.frozen.name, errCorrupt)
	}
	tree := tx.Bucket(j.kind.tree)
	end := min(len(j.carry), j.carried+max(j.carryMin, 2*writes))
	// A newer entry of a key deletes the frozen one (putIdempotent; an
	// email entry's key is never put twice), so every frozen entry still
	// there is its key's latest.
	for _, key := range j.carry[j.carried:end] {
		seq, ok := j.frozen.seqs[key]
		if !ok || j.tx.gone[key] {
			continue // deleted
		}
		v := g.Get(genName(seq))
		if len(v) < 32+j.kind.valueMin {
			return fmt.Errorf("%s: entry %d: %w", j.kind.what, seq, errCorrupt)
		}
		// Copied: a remap at commit would move the page.
		val := bytes.Clone(v[32:])
		if j.kind.expired != nil && j.kind.expired(val, now) {
			// Dropped from the generation too: nothing points at it
			// any more, so neither sweeping nor erasure would find it.
			if err := j.kind.drop(tx, key[:], val); err != nil {
				return err
			}
			if err := tree.Delete(key[:]); err != nil {
				return err
			}
			if err := g.Delete(genName(seq)); err != nil {
				return err
			}
			j.tx.removed = append(j.tx.removed, removal{key, location{j.frozen.name, seq}})
			j.tx.gone[key] = true
			continue
		}
		if err := tree.Put(bytes.Clone(key[:]), val); err != nil {
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

// keyCarried, in a journal's root bucket, names the frozen generation once
// all of it is carried.
var keyCarried = []byte("carried")
