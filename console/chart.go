package console

import (
	"fmt"
	"strconv"
)

// Charts are drawn here as numbers for an inline SVG: no script, no
// library, and nothing for the browser to fetch. Each chart is one
// series of bars, a day each, on its own scale: scans run in the
// hundreds where purchases run in the ones, and on one axis purchases
// would be a flat line. Each has a title and a description in words for
// screen readers, and the page gives the same figures as a table.

// Chart geometry, in the SVG's own units: it scales to its box.
const (
	chartWidth   = 320.0
	chartHeight  = 150.0
	chartLeft    = 34.0 // room for the scale's labels
	chartRight   = 6.0
	chartTop     = 10.0
	chartBottom  = 22.0 // room for the dates
	chartPlotW   = chartWidth - chartLeft - chartRight
	chartPlotH   = chartHeight - chartTop - chartBottom
	chartBaseY   = chartTop + chartPlotH
	chartMinBarW = 1.0
)

// chart is one series drawn as bars.
type chart struct {
	// ID makes the ids of the title and description.
	ID, Title, Desc string
	// Class picks the series' colour in the stylesheet.
	Class         string
	Width, Height float64
	Bars          []bar
	Grid          []gridLine
	Dates         []dateLabel
	BaseY         float64
	PlotLeft      float64
	PlotRight     float64
	// AxisX is where the scale's labels end; DateY the dates' baseline.
	AxisX, DateY float64
	Total        int64
}

type bar struct {
	X, Y, W, H float64
	// Label says the day and its count, as the bar's tooltip.
	Label string
}

type gridLine struct {
	Y     float64
	Label string
}

type dateLabel struct {
	X      float64
	Text   string
	Anchor string
}

// dayCharts are the overview's three charts over days.
func dayCharts(days []dayRow) []chart {
	series := []struct {
		id, title, noun, class string
		value                  func(dayRow) int64
	}{
		{"scans", "Scans per day", "scans", "series-scans", func(d dayRow) int64 { return d.Scans }},
		{"signups", "Signups per day", "signups", "series-signups", func(d dayRow) int64 { return d.Signups }},
		{"purchases", "Purchases per day", "purchases", "series-purchases", func(d dayRow) int64 { return d.Purchases }},
	}
	out := make([]chart, 0, len(series))
	for _, s := range series {
		values := make([]int64, len(days))
		for i, d := range days {
			values[i] = s.value(d)
		}
		out = append(out, barChart("chart-"+s.id, s.title, s.noun, s.class, days, values))
	}
	return out
}

// barChart draws values, one per day of days.
func barChart(id, title, noun, class string, days []dayRow, values []int64) chart {
	c := chart{ID: id, Title: title, Class: class, Width: chartWidth, Height: chartHeight, BaseY: chartBaseY,
		PlotLeft: chartLeft, PlotRight: chartWidth - chartRight, AxisX: chartLeft - 5, DateY: chartHeight - 5}
	var peak int64
	peakDay := -1
	for i, v := range values {
		c.Total += v
		if v > peak {
			peak, peakDay = v, i
		}
	}
	top := niceCeil(peak)
	for _, v := range []int64{0, top / 2, top} {
		if v == top/2 && top%2 != 0 {
			continue // a half that is not a whole number
		}
		c.Grid = append(c.Grid, gridLine{Y: chartBaseY - float64(v)/float64(top)*chartPlotH, Label: formatCount(v)})
	}
	n := len(values)
	if n == 0 {
		c.Desc = "No days to show."
		return c
	}
	slot := chartPlotW / float64(n)
	w := min(slot, max(chartMinBarW, slot*0.72)) // touching, when the days outnumber the pixels
	for i, v := range values {
		h := float64(v) / float64(top) * chartPlotH
		if v > 0 {
			h = max(h, 1.5) // a day with any count shows
		}
		c.Bars = append(c.Bars, bar{X: round1(chartLeft + slot*float64(i) + (slot-w)/2), Y: round1(chartBaseY - h),
			W: round1(w), H: round1(h), Label: fmt.Sprintf("%s: %s %s", days[i].Day.Format("2 Jan"), formatCount(v), noun)})
	}
	for _, i := range uniqueInts(0, n/2, n-1) {
		anchor := "middle"
		if i == 0 && n > 1 {
			anchor = "start"
		} else if i == n-1 && n > 1 {
			anchor = "end"
		}
		x := chartLeft + slot*float64(i) + slot/2
		if anchor == "start" {
			x = chartLeft
		} else if anchor == "end" {
			x = chartWidth - chartRight
		}
		c.Dates = append(c.Dates, dateLabel{X: round1(x), Text: days[i].Day.Format("2 Jan"), Anchor: anchor})
	}
	span := days[0].Day.Format("2 Jan 2006") + " to " + days[n-1].Day.Format("2 Jan 2006")
	switch {
	case c.Total == 0:
		c.Desc = fmt.Sprintf("No %s from %s.", noun, span)
	default:
		c.Desc = fmt.Sprintf("%s %s from %s; the most in a day was %s, on %s.", formatCount(c.Total), noun, span,
			formatCount(peak), days[peakDay].Day.Format("2 Jan"))
	}
	return c
}

// niceCeil is the smallest of 1, 2, 5, 10, 20, 50, ... that is at least
// v, so that the scale's top and middle are round numbers.
func niceCeil(v int64) int64 {
	if v <= 1 {
		return 1
	}
	for step := int64(1); ; step *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*step >= v {
				return m * step
			}
		}
	}
}

func round1(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 1, 64), 64)
	return v
}

// uniqueInts is its arguments without repeats, in order.
func uniqueInts(xs ...int) []int {
	var out []int
	seen := map[int]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
