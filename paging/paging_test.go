package paging

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/referrald/referrald/model"
)

// list is a model list of the numbers 1..n, paged by cursor, that fails
// when asked for the page after failAfter (0: never).
func list(n, failAfter int, asked *[]model.ListOptions) func(context.Context, model.ListOptions) (model.Page[int], error) {
	return func(_ context.Context, opt model.ListOptions) (model.Page[int], error) {
		*asked = append(*asked, opt)
		start := 0
		if opt.Cursor != "" {
			start, _ = strconv.Atoi(opt.Cursor)
		}
		if failAfter > 0 && start >= failAfter {
			return model.Page[int]{}, errors.New("the store went away")
		}
		var page model.Page[int]
		for i := start + 1; i <= n && len(page.Data) < opt.Limit; i++ {
			page.Data = append(page.Data, i)
		}
		if last := start + len(page.Data); last < n {
			cursor := strconv.Itoa(last)
			page.HasMore, page.NextCursor = true, &cursor
		}
		return page, nil
	}
}

func TestAll(t *testing.T) {
	for _, n := range []int{0, 1, model.MaxListLimit, model.MaxListLimit + 1, 2*model.MaxListLimit + 7} {
		var asked []model.ListOptions
		var got []int
		for v, err := range All(context.Background(), list(n, 0, &asked)) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		want := make([]int, n)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(got, want) {
			t.Errorf("%d records: got %d of them (%v...)", n, len(got), got[:min(len(got), 3)])
		}
		if pages := max(1, (n+model.MaxListLimit-1)/model.MaxListLimit); len(asked) != pages || asked[0] != (model.ListOptions{Limit: model.MaxListLimit}) {
			t.Errorf("%d records: asked %v, want %d pages of %d from the start", n, asked, pages, model.MaxListLimit)
		}
	}
}

// An error ends the walk after the records before it; stopping early asks
// for no more pages.
func TestAllStops(t *testing.T) {
	var asked []model.ListOptions
	var got []int
	var errs []error
	for v, err := range All(context.Background(), list(250, model.MaxListLimit, &asked)) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, v)
	}
	if len(got) != model.MaxListLimit || len(errs) != 1 || len(asked) != 2 {
		t.Errorf("got %d records, errors %v after %d pages; want one page and one error", len(got), errs, len(asked))
	}

	asked = nil
	for v := range All(context.Background(), list(250, 0, &asked)) {
		if v == 3 {
			break
		}
	}
	if len(asked) != 1 {
		t.Errorf("stopped at the third record, yet asked for %d pages", len(asked))
	}
}
