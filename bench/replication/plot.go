package replication

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var backendColor = map[string]color.Color{
	Plumtree: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	SWC:      color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// series is one line of a plot.
type series struct {
	name    string
	backend string
	dashed  bool
	// alt marks the points with squares: a sim join on a cluster size other than the largest.
	alt bool
	pts plotter.XYs
}

// Plot files written by WritePlots.
const (
	PlotConvergence = "replication-convergence.png"
	PlotBytes       = "replication-bytes.png"
	PlotTombstones  = "replication-tombstones.png"
	PlotChurnBytes  = "replication-churn-bytes.png"
)

// byKeys collects, per backend, metric against key count for one mode and scenario, sorted
// by key count.
func byKeys(rs []*Result, mode, scenario, metric string) map[string]plotter.XYs {
	out := map[string]plotter.XYs{}
	for _, r := range rs {
		if r.Mode != mode || r.Scenario != scenario || r.Err != "" {
			continue
		}
		if v, ok := r.Get(metric); ok {
			out[r.Backend] = append(out[r.Backend], plotter.XY{X: float64(r.Keys), Y: v})
		}
	}
	for _, pts := range out {
		sort.Slice(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
	}
	return out
}

// realSizes are the cluster sizes of the real-node results, ascending.
func realSizes(rs []*Result) []int {
	var out []int
	for _, r := range rs {
		if r.Mode == "real" && !slices.Contains(out, r.Nodes) {
			out = append(out, r.Nodes)
		}
	}
	slices.Sort(out)
	return out
}

// simSizes are the cluster sizes of a simulator scenario's results, ascending.
func simSizes(rs []*Result, scenario string) []int {
	var out []int
	for _, r := range rs {
		if r.Mode == "sim" && r.Scenario == scenario && !slices.Contains(out, r.Nodes) {
			out = append(out, r.Nodes)
		}
	}
	slices.Sort(out)
	return out
}

func withNodes(rs []*Result, n int) []*Result {
	var out []*Result
	for _, r := range rs {
		if r.Nodes == n {
			out = append(out, r)
		}
	}
	return out
}

// WritePlots draws the report's PNGs into dir and returns the file names written (a plot
// without data is skipped).
func (rep *Report) WritePlots(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plot dir: %w", err)
	}
	var files []string
	draw := func(file, title, xl, yl string, logX bool, ss []series) error {
		if len(ss) == 0 {
			return nil
		}
		if err := linePlot(filepath.Join(dir, file), title, xl, yl, logX, ss); err != nil {
			return err
		}
		files = append(files, file)
		return nil
	}
	var conv, bytes []series
	for _, b := range []string{Plumtree, SWC} {
		for _, n := range realSizes(rep.Results) {
			if pts := byKeys(withNodes(rep.Results, n), "real", RealBurst, "converge")[b]; len(pts) > 0 {
				conv = append(conv, series{name: fmt.Sprintf("%s: real write burst, %d nodes, wall s", b, n), backend: b, pts: pts})
			}
		}
		// One line per cluster size: a 1M join measured on fewer nodes is not a point of the
		// same curve.
		sizes := simSizes(rep.Results, Join)
		for _, n := range sizes {
			rs, alt := withNodes(rep.Results, n), n != sizes[len(sizes)-1]
			if pts := byKeys(rs, "sim", Join, "join time")[b]; len(pts) > 0 {
				conv = append(conv, series{name: fmt.Sprintf("%s: sim join of an empty node, %d nodes, virtual s", b, n), backend: b, dashed: true, alt: alt, pts: pts})
			}
			if pts := byKeys(rs, "sim", Join, "bytes")[b]; len(pts) > 0 {
				bytes = append(bytes, series{name: fmt.Sprintf("%s: sim join of an empty node, %d nodes, all nodes' bytes", b, n), backend: b, alt: alt, pts: pts})
			}
		}
	}
	if err := draw(PlotConvergence, "Convergence time against key count", "keys", "seconds", true, conv); err != nil {
		return files, err
	}
	if err := draw(PlotBytes, "Bytes sent to bring an empty node up to date", "keys in the cluster", "bytes", true, bytes); err != nil {
		return files, err
	}
	// Only one churn size is drawn, since a smaller one is over before the first tenth of a
	// larger one's time axis: the largest that both backends ran, else the largest.
	churnKeys, bothKeys := 0, 0
	ran := map[int]map[string]bool{}
	for _, r := range rep.Results {
		if r.Mode == "sim" && r.Scenario == Churn && len(r.Series) > 0 {
			churnKeys = max(churnKeys, r.Keys)
			if ran[r.Keys] == nil {
				ran[r.Keys] = map[string]bool{}
			}
			if ran[r.Keys][r.Backend] = true; len(ran[r.Keys]) > 1 {
				bothKeys = max(bothKeys, r.Keys)
			}
		}
	}
	if bothKeys > 0 {
		churnKeys = bothKeys
	}
	var tomb, stored []series
	for _, r := range rep.Results {
		if r.Mode != "sim" || r.Scenario != Churn || len(r.Series) == 0 || r.Keys != churnKeys {
			continue
		}
		var t, s plotter.XYs
		t0 := r.Series[0].T
		for _, p := range r.Series {
			t = append(t, plotter.XY{X: p.T - t0, Y: p.Tombstones})
			s = append(s, plotter.XY{X: p.T - t0, Y: p.Bytes})
		}
		tomb = append(tomb, series{name: r.Backend, backend: r.Backend, pts: t})
		stored = append(stored, series{name: r.Backend, backend: r.Backend, pts: s})
	}
	churn := ""
	if len(tomb) > 0 {
		churn = fmt.Sprintf(" (%d client ids, simulator)", churnKeys)
	}
	if err := draw(PlotTombstones, "Tombstones per node under client-id churn"+churn, "virtual seconds", "tombstones per node", false, tomb); err != nil {
		return files, err
	}
	if err := draw(PlotChurnBytes, "Stored metadata bytes per node under client-id churn"+churn, "virtual seconds", "bytes per node", false, stored); err != nil {
		return files, err
	}
	return files, nil
}

func linePlot(path, title, xl, yl string, logX bool, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xl
	p.Y.Label.Text = yl
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	for _, s := range ss {
		l, pts, err := plotter.NewLinePoints(s.pts)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		c := backendColor[s.backend]
		l.Color, pts.Color = c, c
		l.Width = vg.Points(1.5)
		pts.Shape = draw.CircleGlyph{}
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			pts.Shape = draw.TriangleGlyph{}
		}
		if s.alt {
			pts.Shape = draw.BoxGlyph{}
			pts.Radius = vg.Points(4)
		}
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	if err := p.Save(7*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}
