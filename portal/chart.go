package portal

import (
	"fmt"
	"time"

	"github.com/referrald/referrald/model"
)

// A poster's scans per day, drawn as an inline SVG of bars: no script, no
// library, nothing to fetch, and only attributes (the CSP allows no inline
// style). It has a title and a description in words, and the page gives
// the same figures as a table. The console's charts (console/chart.go)
// are fuller; this one is a phone's width of bars.

type dayRow struct {
	Day                       time.Time
	Scans, Signups, Purchases int64
}

// fillDays is n days from from, with the counts of byDay on theirs and
// zero on the days between.
func fillDays(from time.Time, n int, byDay []model.DayFunnel) []dayRow {
	days := make([]dayRow, n)
	for i := range days {
		days[i].Day = from.AddDate(0, 0, i)
	}
	for _, d := range byDay {
		i := int(d.Day.UTC().Sub(from) / (24 * time.Hour))
		if i >= 0 && i < n {
			days[i].Scans, days[i].Signups, days[i].Purchases = d.Impressions, d.Referrals, d.Conversions
		}
	}
	return days
}

// Chart geometry, in the SVG's own units: it scales to its box.
const (
	chartWidth  = 300.0
	chartHeight = 110.0
	chartTop    = 6.0
	chartBottom = 18.0 // room for the dates
)

type chart struct {
	Width, Height float64
	Title, Desc   string
	Bars          []bar
	BaseY         float64
	// First and Last label the first and last day.
	First, Last string
	LabelY      float64
}

type bar struct {
	X, Y, W, H float64
	Label      string
}

// scanChart draws the scans of days.
func scanChart(days []dayRow) chart {
	plotH := chartHeight - chartTop - chartBottom
	c := chart{Width: chartWidth, Height: chartHeight, Title: "Scans per day", BaseY: chartTop + plotH, LabelY: chartHeight - 4}
	if len(days) == 0 {
		c.Desc = "No days to show."
		return c
	}
	var peak, total int64
	for _, d := range days {
		total += d.Scans
		peak = max(peak, d.Scans)
	}
	slot := chartWidth / float64(len(days))
	for i, d := range days {
		h := 0.0
		if peak > 0 {
			h = float64(d.Scans) / float64(peak) * plotH
		}
		if d.Scans > 0 {
			h = max(h, 2)
		}
		c.Bars = append(c.Bars, bar{X: round1(slot*float64(i) + slot*0.15), Y: round1(c.BaseY - h), W: round1(slot * 0.7), H: round1(h),
			Label: fmt.Sprintf("%s: %s scans", d.Day.Format("2 Jan"), formatCount(d.Scans))})
	}
	c.First, c.Last = days[0].Day.Format("2 Jan"), days[len(days)-1].Day.Format("2 Jan")
	span := days[0].Day.Format("2 Jan 2006") + " to " + days[len(days)-1].Day.Format("2 Jan 2006")
	if total == 0 {
		c.Desc = "No scans from " + span + "."
	} else {
		c.Desc = fmt.Sprintf("%s scans from %s; the most in a day was %s.", formatCount(total), span, formatCount(peak))
	}
	return c
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
