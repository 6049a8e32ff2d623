package mqttload

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/nautilus-mq/nautilus/bench/stats"
)

var (
	nautilusColor  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	mosquittoColor = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

func brokerColor(name string, i int) color.Color {
	switch name {
	case NautilusName:
		return nautilusColor
	case MosquittoName:
		return mosquittoColor
	}
	return plotColors[i%len(plotColors)]
}

var plotColors = []color.Color{nautilusColor, mosquittoColor, color.RGBA{G: 0xa0, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}}

// WritePlots draws the comparison's PNGs into dir and returns their file names:
// throughput.png and efficiency.png (grouped bars per scenario), latency.png (latency by
// percentile in the fixed-rate scenario, all rounds merged), connections.png.
func (c *Comparison) WritePlots(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plot dir: %w", err)
	}
	sum := c.Summaries()
	var flowSpecs, connSpecs []string
	for _, sp := range c.Specs {
		switch sp.Scenario {
		case FanIn, FanOut, Pairs, Shared:
			flowSpecs = append(flowSpecs, sp.Name)
		case Connect:
			connSpecs = append(connSpecs, sp.Name)
		}
	}
	brokers := []string{NautilusName, MosquittoName}
	var files []string
	bars := func(file, title, ylabel string, specs []string, val func(*Summary) float64) error {
		if len(specs) == 0 {
			return nil
		}
		vals := map[string][]float64{}
		for _, b := range brokers {
			for _, sp := range specs {
				v := 0.0
				if s := sum[sp][b]; s != nil {
					v = val(s)
				}
				vals[b] = append(vals[b], v)
			}
		}
		if err := groupedBars(filepath.Join(dir, file), title, ylabel, specs, brokers, vals); err != nil {
			return err
		}
		files = append(files, file)
		return nil
	}
	if err := bars("throughput.png", "Delivered messages/s (median)", "msgs/s", flowSpecs, func(s *Summary) float64 { return s.MsgsPerSec }); err != nil {
		return nil, err
	}
	if err := bars("efficiency.png", "Messages per broker CPU-second (median)", "msgs / CPU-s", flowSpecs, func(s *Summary) float64 { return s.MsgsPerBrokerCPUSec }); err != nil {
		return nil, err
	}
	if err := bars("connections.png", "Connects/s (median)", "connects/s", connSpecs, func(s *Summary) float64 { return s.ConnectsPerSec }); err != nil {
		return nil, err
	}
	for _, sp := range c.Specs {
		if sp.Scenario != Latency {
			continue
		}
		hs := map[string]*stats.Histogram{}
		for _, b := range brokers {
			if s := sum[sp.Name][b]; s != nil && s.Hist.Count() > 0 {
				hs[b] = s.Hist
			}
		}
		file := "latency.png"
		title := fmt.Sprintf("Latency by percentile, %s (%d msg/s, QoS %d)", sp.Name, sp.Cfg.Rate, sp.Cfg.QoS)
		if err := LatencyPlot(filepath.Join(dir, file), title, brokers, hs); err != nil {
			return nil, err
		}
		files = append(files, file)
		break
	}
	return files, nil
}

func groupedBars(path, title, ylabel string, groups, series []string, vals map[string][]float64) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	w := vg.Points(14)
	for i, s := range series {
		bc, err := plotter.NewBarChart(plotter.Values(vals[s]), w)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		bc.LineStyle.Width = 0
		bc.Color = brokerColor(s, i)
		bc.Offset = w * vg.Length(float64(i)-float64(len(series)-1)/2)
		p.Add(bc)
		p.Legend.Add(s, bc)
	}
	p.Legend.Top = true
	p.NominalX(groups...)
	p.Y.Min = 0
	if err := p.Save(vg.Length(max(6, len(groups)))*vg.Inch*0.9+2*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// LatencyPlot draws latency against percentile on a "nines" axis (x = -log10(1-q)), the usual
// HdrHistogram picture, one line per series.
func LatencyPlot(path, title string, order []string, hs map[string]*stats.Histogram) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 1, Label: "90"}, {Value: 2, Label: "99"}, {Value: 3, Label: "99.9"}, {Value: 4, Label: "99.99"}})
	for i, name := range order {
		h := hs[name]
		if h == nil {
			continue
		}
		var pts plotter.XYs
		for _, q := range []float64{0.001, 10, 25, 50, 75, 90, 95, 98, 99, 99.5, 99.9, 99.95, 99.99} {
			x := nines(q)
			pts = append(pts, plotter.XY{X: x, Y: float64(h.Quantile(q).Microseconds()) / 1000})
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		l.Color = brokerColor(name, i)
		l.Width = vg.Points(2)
		p.Add(l)
		p.Legend.Add(name, l)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min = 0
	if err := p.Save(7*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

func nines(q float64) float64 {
	if q >= 100 {
		return 5
	}
	return -math.Log10(1 - q/100)
}

// TimelinePlot draws the delivery rate of one run over time.
func TimelinePlot(path, title string, r *Result) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "delivered msgs/s"
	var pts plotter.XYs
	for _, t := range r.Timeline {
		pts = append(pts, plotter.XY{X: t.T, Y: t.Rate})
	}
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	l.Color = nautilusColor
	p.Add(l)
	p.Y.Min = 0
	if err := p.Save(7*vg.Inch, 3.5*vg.Inch, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// WriteRunPlots draws the plots of a single `nautilus-bench mqtt` run into dir.
func WriteRunPlots(dir string, r *Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plot dir: %w", err)
	}
	var files []string
	base := fmt.Sprintf("%s-q%d", r.Scenario, r.QoS)
	if h := r.Histogram(); h != nil && h.Count() > 0 {
		f := base + "-latency.png"
		title := fmt.Sprintf("%s %s latency by percentile", r.Broker, r.Scenario)
		if err := LatencyPlot(filepath.Join(dir, f), title, []string{r.Broker}, map[string]*stats.Histogram{r.Broker: h}); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if len(r.Timeline) > 0 {
		f := base + "-timeline.png"
		if err := TimelinePlot(filepath.Join(dir, f), fmt.Sprintf("%s %s delivery rate", r.Broker, r.Scenario), r); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}
