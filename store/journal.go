package store

import (
	"bytes"
	"cmp"
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
// them they were most of what the commit wrote (docs/benchmarks.md). New entries
// go to a journal instead, a bucket keyed by sequence number, whose appends
// share a page, and maps in memory find them by their key (generation).
// When the journal holds DefaultJournalEntries entries, or its oldest is
// journalMaxAge old, it is frozen and a fresh one started; from then on
// every commit carries a slice of the frozen entries, in about key order,
// into the tree, where neighbouring keys share a leaf, so a leaf is written
// once for many entries. The carried generation stays, bucket and maps,
// until the next one is frozen, and is dropped whole then.
//
// Every entry is on disk in the transaction that made it; the maps only
// say where to look. They take in a commit's entries, and its freeze,
// before it commits (publish), and give them back if it fails, so memory
// always knows at least what any snapshot holds: a location a reader's
// snapshot does not hold yet reads as absent there. The one thing memory
// can know less of is a generation it has dropped while an older snapshot
// still holds it; a reader finds such a generation in its own snapshot
// and reads it whole. That only happens to a reader that began before a
// freeze and looks after it, so the cost is rare, and every read answers
// exactly what its snapshot holds.
//
// Layout: a journal's root bucket holds one bucket per generation (at most
// two: the active one and the frozen one), named by the first sequence
// number it holds (8 bytes, big endian). Each maps sequence (8) → entry
// key (32) ‖ entry value. Open reads the generations back into memory; if
// two are left and the older one is not marked as all carried
// (keyCarried), its carrying starts again from its first key, which is
// harmless, since it puts the values already there.

// journalKind says what a journal holds and where it carries its entries.
type journalKind struct {
	what     string // names it in errors and logs
	root     []byte // the bucket of its generations
	tree     []byte // the bucket its entries are carried into
	valueMin int    // the least length of an entry's value
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
	emailJournal = journalKind{what: "email index journal", root: bucketEmailJournal, tree: bucketReferralsByEmail}
)

const (
	// DefaultJournalEntries is the default bound on a generation's
	// entries; a generation's maps take about 20 bytes an entry. The
	// larger it is, the more entries share a leaf when carried: into a
	// tree of L leaves a generation of n rewrites about L of them, so
	// L/n leaves per entry (docs/benchmarks.md).
	DefaultJournalEntries = 1 << 18
	// journalMaxAge bounds how long an entry waits in the journal, so a
	// quiet store carries its entries too.
	journalMaxAge = 10 * time.Minute
	// journalCarryMin is the least a commit carries. It carries twice its
	// own writes when that is more, so carrying outpaces new entries.
	journalCarryMin = 256
)

// noOffset ends a generation's chain of offsets.
const noOffset = ^uint32(0)

// generation finds one journal bucket's entries by the first 4 bytes of
// their key (a hash, or begins with one). That is a hint, not an answer:
// every caller checks the key the entry holds, so keys that share the 4
// bytes only cost a look each, and an entry deleted from the bucket, which
// the maps keep until the generation is dropped, is no longer found.
// About 20 bytes an entry, against 70 for a map by whole key.
type generation struct {
	name   uint64
	n      int               // entries put into it
	latest map[uint32]uint32 // 4 key bytes → offset (seq − name) of the newest entry with them
	prev   []uint32          // by offset: the next older offset with the same 4 bytes, or noOffset
	oldest time.Time         // when its first entry was committed
}

func newGeneration(name uint64) generation {
	return generation{name: name, latest: map[uint32]uint32{}}
}

func hintOf(key []byte) uint32 { return binary.BigEndian.Uint32(key) }

// add takes in key's entry at seq; entries come in sequence order.
func (g *generation) add(key []byte, seq uint64) {
	off := uint32(seq - g.name)
	for uint32(len(g.prev)) < off {
		g.prev = append(g.prev, noOffset) // deleted before a restart read the bucket
	}
	h := hintOf(key)
	last, ok := g.latest[h]
	if !ok {
		last = noOffset
	}
	g.prev = append(g.prev, last)
	g.latest[h] = off
	g.n++
}

// seqsOf calls yield with the sequence number of each entry whose key may
// begin as key does, newest first.
func (g *generation) seqsOf(key []byte, yield func(seq uint64)) {
	off, ok := g.latest[hintOf(key)]
	for ok && off != noOffset {
		yield(g.name + uint64(off))
		off = g.prev[off]
	}
}

type journal struct {
	kind     *journalKind
	limit    int
	maxAge   time.Duration
	carryMin int
	// partner, when set, is a journal that fills at about the same rate;
	// this one keeps its freezes half a generation away from partner's
	// (inStep).
	partner *journal

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
	carry   []uint32  // offsets into frozen in carryOrder, while it is being carried
	tx      journalTx // what the transaction in progress does
}

// journalTx is a write transaction's effect on the journal, which
// publish applies to memory just before the transaction commits and
// rolledBack takes back if the commit fails.
type journalTx struct {
	begun    bool // begin ran; false once committed or rolled back
	firstSeq uint64
	pending  map[[32]byte]uint64 // entries it put, in the active generation
	freezeAs uint64              // when non-zero, it froze active and began this generation
	carry    []uint32            // when it froze, the frozen entries' offsets in carryOrder
	carried  int                 // carry position it reached
	undo     *journalUndo        // set once published
}

// journalUndo is what memory was before a transaction's publish.
type journalUndo struct {
	active    generation // its fields; the maps it shares are unwound by hints
	frozen    *generation
	carry     []uint32
	carried   int
	published uint64
	prevLen   int      // len(active.prev) before the entries were added
	hints     []uint32 // the added entries' hints, in the order added
	offsets   []uint32 // and their offsets
}

func genName(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// loadJournal reads the journal's generations back into memory, starting
// the first one on a store that has none.
func loadJournal(db *bolt.DB, kind *journalKind, limit int, now func() time.Time) (*journal, error) {
	if limit <= 0 {
		limit = DefaultJournalEntries
	}
	// A small journal is carried in a few commits too, not in one.
	j := &journal{kind: kind, limit: limit, maxAge: journalMaxAge, carryMin: min(journalCarryMin, max(1, limit/8)), nextSeq: 1}
	var gens []generation
	err := db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(kind.root)
		err := root.ForEachBucket(func(name []byte) error {
			if len(name) != 8 {
				return fmt.Errorf("%s: bucket %x: %w", kind.what, name, errCorrupt)
			}
			g := newGeneration(binary.BigEndian.Uint64(name))
			j.nextSeq = max(j.nextSeq, g.name)
			err := root.Bucket(name).ForEach(func(k, v []byte) error {
				if len(k) != 8 || len(v) < 32+kind.valueMin {
					return fmt.Errorf("%s: entry %x: %w", kind.what, k, errCorrupt)
				}
				seq := binary.BigEndian.Uint64(k)
				if seq < g.name || seq-g.name >= uint64(noOffset) {
					return fmt.Errorf("%s: entry %d in generation %d: %w", kind.what, seq, g.name, errCorrupt)
				}
				g.add(v, seq)
				j.nextSeq = max(j.nextSeq, seq+1)
				return nil
			})
			gens = append(gens, g)
			return err
		})
		if err != nil {
			return err
		}
		switch len(gens) {
		case 0:
			_, err = root.CreateBucket(genName(j.nextSeq))
			gens = append(gens, newGeneration(j.nextSeq))
		case 1:
		case 2:
			if !bytes.Equal(root.Get(keyCarried), genName(gens[0].name)) {
				j.carry = gens[0].carryOrder()
			}
		default:
			err = fmt.Errorf("%s: %d generations: %w", kind.what, len(gens), errCorrupt)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(gens) == 2 {
		j.frozen = &gens[0]
	}
	j.active = gens[len(gens)-1]
	j.published = j.nextSeq
	if j.active.n > 0 {
		// When the entries came is not kept; counting from now delays
		// the next freeze by at most maxAge.
		j.active.oldest = now()
	}
	return j, nil
}

// carryOrder lists the offsets of g's entries in the order of their keys'
// first 4 bytes, the order they are carried in: carrying needs
// neighbouring keys together, so that a leaf is written once for many of
// them, not an exact order. Keys that share those bytes (a handful in a
// generation, or one address's entries in the email index) come oldest
// first, so that were a key ever in a generation twice, its newest value
// would be the one left in the tree. It reads no bucket and sorts by two
// counting passes over 16 bits of the hint each: for a full generation at
// the default size, about 20 ms of the commit that freezes it, against 47
// for a comparison sort and more for reading the bucket
// (BenchmarkCarryOrder).
func (g *generation) carryOrder() []uint32 {
	type entry struct{ hint, off uint32 }
	entries := make([]entry, 0, g.n)
	for h, off := range g.latest {
		chain := len(entries)
		for ; off != noOffset; off = g.prev[off] {
			entries = append(entries, entry{h, off})
		}
		slices.Reverse(entries[chain:])
	}
	sorted := make([]entry, len(entries))
	starts := make([]int, 1<<16)
	for _, shift := range []uint{0, 16} { // stable, so the second pass keeps the first's order
		clear(starts)
		for _, e := range entries {
			starts[uint16(e.hint>>shift)]++
		}
		next := 0
		for d, n := range starts {
			starts[d], next = next, next+n
		}
		for _, e := range entries {
			d := uint16(e.hint >> shift)
			sorted[starts[d]] = e
			starts[d]++
		}
		entries, sorted = sorted, entries
	}
	offsets := make([]uint32, len(entries))
	for i, e := range entries {
		offsets[i] = e.off
	}
	return offsets
}

// begin starts the journal's part of a write transaction: it freezes the
// active generation when that is due and none is being carried, dropping
// the one carried before.
func (j *journal) begin(tx *bolt.Tx, now time.Time) error {
	j.tx = journalTx{begun: true, firstSeq: j.nextSeq, pending: j.tx.pending, carried: j.carried}
	clear(j.tx.pending)
	if j.tx.pending == nil {
		j.tx.pending = map[[32]byte]uint64{}
	}
	if j.carrying() || !j.freezeDue(now) {
		return nil
	}
	root := tx.Bucket(j.kind.root)
	j.tx.carry = j.active.carryOrder()
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
	n := j.active.n
	return n >= j.limit || n > 0 && now.Sub(j.active.oldest) >= j.maxAge || j.inStep()
}

// inStep reports whether the journal, half full, is about as far from its
// limit as its partner is from its own. Two journals that fill at the same
// rate would otherwise freeze, sort and drop a generation in the same
// commit, and carry side by side; freezing this one early puts half a
// generation between them, and only the drift of their rates brings them
// back in step.
func (j *journal) inStep() bool {
	p := j.partner
	if p == nil || j.active.n < j.limit/2 {
		return false
	}
	p.mu.RLock()
	d := (j.limit - j.active.n) - (p.limit - p.active.n)
	p.mu.RUnlock()
	return -j.limit/4 < d && d < j.limit/4
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

// publish applies the transaction's effect to memory. It runs last in
// the transaction, before the commit, so that no reader's snapshot ever
// holds an entry the maps do not know; readers whose snapshots predate
// the commit find the new locations absent in them.
func (j *journal) publish(now time.Time) {
	t := &j.tx
	if !t.begun || t.undo != nil {
		return
	}
	type put struct {
		key [32]byte
		seq uint64
	}
	puts := make([]put, 0, len(t.pending))
	for k, seq := range t.pending {
		puts = append(puts, put{k, seq})
	}
	slices.SortFunc(puts, func(a, b put) int { return cmp.Compare(a.seq, b.seq) })
	j.mu.Lock()
	defer j.mu.Unlock()
	u := &journalUndo{active: j.active, frozen: j.frozen, carry: j.carry, carried: j.carried, published: j.published}
	if t.freezeAs != 0 {
		frozen := j.active
		j.frozen = &frozen
		j.active = newGeneration(t.freezeAs)
		j.carry, j.carried = t.carry, 0
	} else if j.carried = t.carried; j.carried == len(j.carry) {
		j.carry, j.carried = nil, 0 // all carried; the order is not needed
	}
	if len(puts) > 0 && j.active.n == 0 {
		j.active.oldest = now
	}
	u.prevLen = len(j.active.prev)
	u.hints, u.offsets = make([]uint32, len(puts)), make([]uint32, len(puts))
	for i, p := range puts {
		j.active.add(p.key[:], p.seq)
		u.hints[i], u.offsets[i] = hintOf(p.key[:]), uint32(p.seq-j.active.name)
	}
	j.published = j.nextSeq
	t.undo = u
}

// committed ends the transaction's part once it is on disk.
func (j *journal) committed() { j.tx.begun, j.tx.undo = false, nil }

// rolledBack forgets the transaction's effect, taking back what publish
// told memory. A transaction that failed before begin ran has none.
func (j *journal) rolledBack() {
	t := &j.tx
	if !t.begun {
		return
	}
	t.begun = false
	j.nextSeq = t.firstSeq
	u := t.undo
	if u == nil {
		return
	}
	t.undo = nil
	j.mu.Lock()
	defer j.mu.Unlock()
	if t.freezeAs == 0 {
		// The entries went into the generation that was active before, in
		// its maps, which it shares with u.active: unwinding each hint's
		// chain by one, last in first out, restores them.
		g := &j.active
		for i := len(u.hints) - 1; i >= 0; i-- {
			if older := g.prev[u.offsets[i]]; older == noOffset {
				delete(g.latest, u.hints[i])
			} else {
				g.latest[u.hints[i]] = older
			}
		}
		u.active.prev = g.prev[:u.prevLen]
	}
	j.active, j.frozen, j.carry, j.carried, j.published = u.active, u.frozen, u.carry, u.carried, u.published
}

// location is where a generation may keep a key's entry.
type location struct{ gen, seq uint64 }

// locate lists where the journal may keep key, newest first; value says
// whether it does. In the writer, that includes the transaction's own
// entries. known names the generations memory holds.
func (j *journal) locate(tx *bolt.Tx, key [32]byte) (locs []location, known [2]uint64) {
	if tx.Writable() {
		if seq, ok := j.tx.pending[key]; ok {
			locs = append(locs, location{j.writing(), seq})
		}
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	for i, g := range []*generation{&j.active, j.frozen} {
		if g != nil {
			known[i] = g.name
			g.seqsOf(key[:], func(seq uint64) { locs = append(locs, location{g.name, seq}) })
		}
	}
	return locs, known
}

// delete deletes the journal's entries of key whose value match accepts,
// and the tree's.
func (j *journal) delete(tx *bolt.Tx, key [32]byte, match func(v []byte) bool) error {
	root := tx.Bucket(j.kind.root)
	locs, _ := j.locate(tx, key)
	for _, l := range locs {
		if g, v := j.value(root, l, key); v != nil && match(v) {
			if err := g.Delete(genName(l.seq)); err != nil {
				return err
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
	locs, known := j.locate(tx, key)
	for _, l := range locs {
		if _, v := j.value(root, l, key); v != nil {
			return v
		}
	}
	if !tx.Writable() {
		// Memory may have dropped a generation this snapshot still holds
		// (a freeze committed since tx began). It is older than those
		// memory knows, and newer than the tree for the entries it holds.
		if v := j.scanForgotten(root, known, key); v != nil {
			return v
		}
	}
	return tx.Bucket(j.kind.tree).Get(key[:])
}

// scanForgotten reads whole each generation in root that known does not
// name, and returns the newest value of key in them.
func (j *journal) scanForgotten(root *bolt.Bucket, known [2]uint64, key [32]byte) []byte {
	var found []byte
	root.ForEachBucket(func(name []byte) error {
		if n := binary.BigEndian.Uint64(name); n == known[0] || n == known[1] {
			return nil
		}
		// Sequence order: the last match is the newest.
		return root.Bucket(name).ForEach(func(_, v []byte) error {
			if len(v) >= 32+j.kind.valueMin && bytes.Equal(v[:32], key[:]) {
				found = v[32:]
			}
			return nil
		})
	})
	return found
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
	locs, _ := j.locate(tx, key)
	for _, l := range locs {
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
	// What memory knows, taken at one moment; the file is read after, so
	// that a slow read never holds up the writer's next commit.
	type hints struct {
		gen  uint64
		seqs []uint64 // where prefix's entries may be
	}
	var known []hints // the active generation, then the frozen one
	j.mu.RLock()
	for _, g := range []*generation{&j.active, j.frozen} {
		if g != nil {
			h := hints{gen: g.name}
			g.seqsOf(prefix[:], func(seq uint64) { h.seqs = append(h.seqs, seq) })
			known = append(known, h)
		}
	}
	published := j.published
	j.mu.RUnlock()

	root := tx.Bucket(j.kind.root)
	var keys [][32]byte
	take := func(v []byte) {
		if len(v) >= 32 && bytes.Equal(v[:16], prefix[:]) {
			keys = append(keys, [32]byte(v[:32]))
		}
	}
	err := root.ForEachBucket(func(name []byte) error {
		b := root.Bucket(name)
		n := binary.BigEndian.Uint64(name)
		i := slices.IndexFunc(known, func(h hints) bool { return h.gen == n })
		if i < 0 {
			// Dropped from memory since tx began, or begun by tx or by a
			// commit memory has not taken in yet: read it whole.
			return b.ForEach(func(_, v []byte) error { take(v); return nil })
		}
		for _, seq := range known[i].seqs {
			take(b.Get(genName(seq)))
		}
		if i == 0 { // the active generation
			// Committed after the maps were last brought up to date, or
			// put by tx itself.
			c := b.Cursor()
			for k, v := c.Seek(genName(published)); k != nil; k, v = c.Next() {
				take(v)
			}
		}
		return nil
	})
	return keys, err
}

// carryOn moves the next slice of the frozen generation, in carryOrder,
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
	for _, off := range j.carry[j.carried:end] {
		seq := j.frozen.name + uint64(off)
		v := g.Get(genName(seq))
		if v == nil {
			continue // deleted: swept, replaced or erased
		}
		if len(v) < 32+j.kind.valueMin {
			return fmt.Errorf("%s: entry %d: %w", j.kind.what, seq, errCorrupt)
		}
		// Copied: a remap at commit would move the page.
		key, val := bytes.Clone(v[:32]), bytes.Clone(v[32:])
		if j.kind.expired != nil && j.kind.expired(val, now) {
			// Dropped from the generation too: nothing points at it
			// any more, so neither sweeping nor erasure would find it.
			if err := j.kind.drop(tx, key, val); err != nil {
				return err
			}
			if err := tree.Delete(key); err != nil {
				return err
			}
			if err := g.Delete(genName(seq)); err != nil {
				return err
			}
			continue
		}
		if err := tree.Put(key, val); err != nil {
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
