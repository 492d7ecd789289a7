package store

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.ProgramService = (*Store)(nil)

const (
	commissionNone byte = iota
	commissionFlat
	commissionPercent
)

func encodeProgram(p *model.Program) []byte {
	e := newEncoder()
	e.str(p.Name)
	e.str(p.LandingURL)
	switch c := p.Commission; {
	case c == nil:
		e.byte(commissionNone)
	case c.Type == model.CommissionPercent:
		e.byte(commissionPercent)
		e.varint(c.BasisPoints)
	default:
		e.byte(commissionFlat)
		e.varint(c.Amount)
		e.str(c.Currency)
	}
	e.bytes(p.Metadata)
	e.time(p.CreatedAt)
	e.time(p.UpdatedAt)
	// Added after the first layout; older records read them as zero.
	e.uvarint(uint64(p.HoldDays))
	var legacyCap int64
	var caps map[string]int64
	if p.Commission != nil {
		legacyCap, caps = p.Commission.LegacyCap, p.Commission.Caps
	}
	e.varint(legacyCap)
	e.str(p.FraudPolicy)
	// Caps per currency came next; records from before read as none.
	e.amounts(caps)
	// The status came last; records from before it read as active.
	e.byte(programStatusByte(p.Status))
	return e.b
}

// Program statuses on disk. Zero is active, so that a record written
// before programs had a status reads as active.
const (
	programStatusActive byte = iota
	programStatusArchived
)

func programStatusByte(s model.ProgramStatus) byte {
	if s == model.ProgramArchived {
		return programStatusArchived
	}
	return programStatusActive
}

func decodeProgram(key, val []byte) (*model.Program, error) {
	d := newDecoder(val)
	p := &model.Program{ID: model.FormatID(model.PrefixProgram, [16]byte(key))}
	p.Name = d.str()
	p.LandingURL = d.str()
	switch d.byte() {
	case commissionPercent:
		p.Commission = &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: d.varint()}
	case commissionFlat:
		p.Commission = &model.CommissionRule{Type: model.CommissionFlat, Amount: d.varint(), Currency: d.str()}
	}
	p.Metadata = d.bytes()
	p.CreatedAt = d.time()
	p.UpdatedAt = d.time()
	p.HoldDays = int(d.uvarint())
	if legacyCap := d.varint(); p.Commission != nil {
		p.Commission.LegacyCap = legacyCap
	}
	if p.FraudPolicy = d.str(); p.FraudPolicy == "" {
		p.FraudPolicy = model.FraudFlag
	}
	if caps := d.amounts(); p.Commission != nil {
		p.Commission.Caps = caps
	}
	if p.Status = model.ProgramActive; d.byte() == programStatusArchived {
		p.Status = model.ProgramArchived
	}
	return p, d.err
}

// CreateProgram implements model.ProgramService.
func (s *Store) CreateProgram(ctx context.Context, in model.ProgramCreate, idem model.Idempotency) (*model.Program, bool, error) {
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		key := w.newKey()
		p := model.NewProgram(in, model.FormatID(model.PrefixProgram, key), model.NewTime(w.now))
		val := encodeProgram(p)
		return snapshot(key, val), func() error {
			if err := w.tx.Bucket(bucketPrograms).Put(key[:], val); err != nil {
				return err
			}
			return w.auditf("program.created", p.ID, "name %q", p.Name)
		}, nil
	})
	return fromSnapshot(snap, replayed, err, decodeProgram)
}

// FindProgramByID implements model.ProgramService.
func (s *Store) FindProgramByID(ctx context.Context, id string) (p *model.Program, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		p, err = getRecord(tx, bucketPrograms, model.PrefixProgram, id, decodeProgram)
		return err
	})
	return p, err
}

// FindPrograms implements model.ProgramService. A program's status has
// no index: a school runs a handful of programs, so a list by status
// reads the programs and skips the others, within the budget of a sparse
// filter (see listPage).
func (s *Store) FindPrograms(ctx context.Context, f model.ProgramFilter) (p model.Page[*model.Program], err error) {
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucketPrograms, nil, model.PrefixProgram, f.ListOptions,
			func(tx *bolt.Tx, key []byte) (*model.Program, bool, error) {
				p, err := decodeProgram(key, tx.Bucket(bucketPrograms).Get(key))
				return p, err == nil && (f.Status == "" || p.Status == f.Status), err
			})
		return err
	})
	return p, err
}

// UpdateProgram implements model.ProgramService.
func (s *Store) UpdateProgram(ctx context.Context, id string, u model.ProgramUpdate) (p *model.Program, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		p, err = getRecord(w.tx, bucketPrograms, model.PrefixProgram, id, decodeProgram)
		if err != nil {
			return nil, err
		}
		before := *p
		u.Apply(p)
		p.UpdatedAt = model.NewTime(w.now)
		key := keyOf(model.PrefixProgram, p.ID)
		return func() error {
			if err := w.tx.Bucket(bucketPrograms).Put(key[:], encodeProgram(p)); err != nil {
				return err
			}
			return w.auditf("program.updated", p.ID, "%s", changed(&before, p))
		}, nil
	})
	return p, err
}
