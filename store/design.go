package store

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.PosterDesignService = (*Store)(nil)

// Poster designs are kept as JSON by program key, a program without one
// having none stored; logos apart, so reading a design never loads one.

func getPosterDesign(tx *bolt.Tx, programID string) (*model.PosterDesign, [16]byte, error) {
	p, err := getRecord(tx, bucketPrograms, model.PrefixProgram, programID, decodeProgram)
	if err != nil {
		return nil, [16]byte{}, err
	}
	key := keyOf(model.PrefixProgram, p.ID)
	d := model.DefaultPosterDesign(p.ID)
	if v := tx.Bucket(bucketPosterDesigns).Get(key[:]); v != nil {
		if err := json.Unmarshal(v, d); err != nil {
			return nil, key, errCorrupt
		}
	}
	return d, key, nil
}

// FindPosterDesign implements model.PosterDesignService.
func (s *Store) FindPosterDesign(ctx context.Context, programID string) (d *model.PosterDesign, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		d, _, err = getPosterDesign(tx, programID)
		return err
	})
	return d, err
}

// updatePosterDesign changes a program's design with change, which may
// refuse it, and stores it in the same commit as what change returns.
func (s *Store) updatePosterDesign(ctx context.Context, programID, action string,
	change func(w *wtx, d *model.PosterDesign, key []byte) (apply func() error, detail string, err error)) (d *model.PosterDesign, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		var key [16]byte
		d, key, err = getPosterDesign(w.tx, programID)
		if err != nil {
			return nil, err
		}
		apply, detail, err := change(w, d, key[:])
		if err != nil {
			return nil, err
		}
		now := model.NewTime(w.now)
		d.UpdatedAt = &now
		return func() error {
			if apply != nil {
				if err := apply(); err != nil {
					return err
				}
			}
			if err := putJSON(w.tx, bucketPosterDesigns, key[:], d); err != nil {
				return err
			}
			return w.auditf(action, d.ProgramID, "%s", detail)
		}, nil
	})
	return d, err
}

// UpdatePosterDesign implements model.PosterDesignService.
func (s *Store) UpdatePosterDesign(ctx context.Context, programID string, u model.PosterDesignUpdate) (*model.PosterDesign, error) {
	return s.updatePosterDesign(ctx, programID, "poster_design.updated",
		func(w *wtx, d *model.PosterDesign, key []byte) (func() error, string, error) {
			before := *d
			u.Apply(d)
			return nil, changed(&before, d).String(), nil
		})
}

// SetPosterLogo implements model.PosterDesignService.
func (s *Store) SetPosterLogo(ctx context.Context, programID string, png []byte, width, height int) (*model.PosterDesign, error) {
	return s.updatePosterDesign(ctx, programID, "poster_design.logo_set",
		func(w *wtx, d *model.PosterDesign, key []byte) (func() error, string, error) {
			d.Logo = &model.Logo{Width: width, Height: height, Bytes: len(png), UpdatedAt: model.NewTime(w.now)}
			return func() error { return w.tx.Bucket(bucketPosterLogos).Put(key, png) },
				fmt.Sprintf("a logo of %d×%d pixels", width, height), nil
		})
}

// DeletePosterLogo implements model.PosterDesignService.
func (s *Store) DeletePosterLogo(ctx context.Context, programID string) (*model.PosterDesign, error) {
	return s.updatePosterDesign(ctx, programID, "poster_design.logo_deleted",
		func(w *wtx, d *model.PosterDesign, key []byte) (func() error, string, error) {
			d.Logo, d.LogoInQR = nil, false
			return func() error { return w.tx.Bucket(bucketPosterLogos).Delete(key) }, "logo removed", nil
		})
}

// FindPosterLogo implements model.PosterDesignService.
func (s *Store) FindPosterLogo(ctx context.Context, programID string) (png []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		_, key, err := getPosterDesign(tx, programID)
		if err != nil {
			return err
		}
		v := tx.Bucket(bucketPosterLogos).Get(key[:])
		if v == nil {
			return model.Errorf(model.ENotFound, "program %s has no logo", programID)
		}
		png = append([]byte(nil), v...)
		return nil
	})
	return png, err
}
