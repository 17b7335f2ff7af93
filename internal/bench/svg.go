package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
)

// Chart geometry: labels on the left, a log₂ axis of "times ahead" on the
// right, centred on 1 (equal), clipped at 8× either way.
const (
	svgWidth   = 980
	svgLabelW  = 470
	svgAxisL   = svgLabelW + 20
	svgAxisR   = svgWidth - 30
	svgRowH    = 28
	svgTop     = 70
	svgMaxLog2 = 3.0
)

func svgX(adv float64) float64 {
	l := math.Max(-svgMaxLog2, math.Min(svgMaxLog2, math.Log2(adv)))
	mid := float64(svgAxisL+svgAxisR) / 2
	return mid + l/svgMaxLog2*float64(svgAxisR-svgAxisL)/2
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// SVG draws one bar per figure: how many times ours is ahead of (green,
// right) or behind (red, left) Debian's tlsproxy, with both medians as text.
func (r *Report) SVG() []byte {
	var b bytes.Buffer
	h := svgTop + svgRowH*len(r.Figures) + 50
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgWidth, h, svgWidth, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, h)
	fmt.Fprintf(&b, `<text x="10" y="24" font-size="16" font-weight="bold">tlsproxy: ours vs Debian's C tlsproxy (%s)</text>`+"\n", esc(r.Started.UTC().Format("2006-01-02 15:04 UTC")))
	fmt.Fprintf(&b, `<text x="10" y="44" fill="#555">bar: times ours is ahead (right, green) or behind (left, red), whichever way the figure improves; medians of %d round(s)</text>`+"\n", r.Rounds)
	// Row backgrounds, then the axis grid over them, then the bars.
	for i := range r.Figures {
		if i%2 == 0 {
			fmt.Fprintf(&b, `<rect x="0" y="%d" width="%d" height="%d" fill="#f5f5f5"/>`+"\n", svgTop+i*svgRowH-8, svgWidth, svgRowH)
		}
	}
	axisBottom := svgTop + svgRowH*len(r.Figures)
	for _, t := range []float64{0.125, 0.25, 0.5, 1, 2, 4, 8} {
		x := svgX(t)
		stroke, label := "#ddd", fmt.Sprintf("%g×", t)
		switch {
		case t == 1:
			stroke, label = "#333", "equal"
		case t < 1:
			label = fmt.Sprintf("%g× behind", 1/t)
		default:
			label = fmt.Sprintf("%g× ahead", t)
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x, svgTop-8, x, axisBottom, stroke)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555" font-size="10">%s</text>`+"\n", x, axisBottom+16, esc(label))
	}
	for i, f := range r.Figures {
		y := svgTop + i*svgRowH
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+4, esc(f.Title))
		fmt.Fprintf(&b, `<text x="10" y="%d" fill="#666" font-size="10">ours %s, C %s %s</text>`+"\n", y+16, esc(numPtr(f.OursMedian)), esc(numPtr(f.CMedian)), esc(f.Unit))
		adv := f.Advantage()
		if math.IsNaN(adv) {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#999" text-anchor="middle">no comparison</text>`+"\n", svgX(1), y+8)
			continue
		}
		x0, x1 := svgX(1), svgX(adv)
		fill := "#2e7d32"
		if adv < 1 {
			fill = "#c62828"
			x0, x1 = x1, x0
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="14" fill="%s"/>`+"\n", x0, y-2, math.Max(x1-x0, 1), fill)
		tx, anchor := x1+4, "start"
		if adv < 1 {
			tx, anchor = x0-4, "end"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s" font-size="11">%.2f×</text>`+"\n", tx, y+9, anchor, adv)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
