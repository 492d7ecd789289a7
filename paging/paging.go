// Package paging walks a model list to its end, page by page, for the
// callers that need every record rather than one page of them, such as
// the referrald command's listings.
package paging

import (
	"context"
	"iter"

	"github.com/referrald/referrald/model"
)

// All yields every record find lists, in the list's order, asking for
// pages of model.MaxListLimit. An error ends the walk: it is yielded once,
// with T's zero value.
func All[T any](ctx context.Context, find func(context.Context, model.ListOptions) (model.Page[T], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		opt := model.ListOptions{Limit: model.MaxListLimit}
		for {
			page, err := find(ctx, opt)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, v := range page.Data {
				if !yield(v, nil) {
					return
				}
			}
			if !page.HasMore || page.NextCursor == nil {
				return
			}
			opt.Cursor = *page.NextCursor
		}
	}
}
