package swc

import "slices"

// Watermark is one group's watermark matrix: for each observer (a column),
// the bases of that observer's node clock as this node last learned them,
// per origin (a row). Min(origin) is then the counter up to which every
// listed observer has seen all of origin's dots.
//
// Columns only grow: a replica's clock only grows, so every value learned
// for one observer is a snapshot no older than the one it replaces, and the
// pointwise maximum of two snapshots is the newer one. A column is thus
// always one consistent snapshot of its observer's clock, which garbage
// collection relies on (gc.go).
type Watermark struct {
	cols map[ID]VV
}

// NewWatermark returns an empty matrix.
func NewWatermark() *Watermark { return &Watermark{cols: map[ID]VV{}} }

// UpdatePeer raises observer's column from its clock's bases.
func (w *Watermark) UpdatePeer(observer ID, clock BVV) {
	col := w.cols[observer]
	if col == nil {
		col = VV{}
		w.cols[observer] = col
	}
	for id, e := range clock {
		col.raise(id, e.Base)
	}
}

// LeftJoin takes the pointwise maximum with o for the columns and rows
// already present here (VerneMQ's swc_watermark:left_join).
func (w *Watermark) LeftJoin(o *Watermark) {
	for obs, col := range w.cols {
		ocol := o.cols[obs]
		for id := range col {
			col.raise(id, ocol[id])
		}
	}
}

// Get returns observer's base for origin (0 when unknown).
func (w *Watermark) Get(observer, origin ID) uint64 { return w.cols[observer][origin] }

// Min returns the smallest base for origin over observers: every one of
// them has seen origin's dots up to it. An observer without a column counts
// as 0, so an unknown member holds garbage collection back.
func (w *Watermark) Min(origin ID, observers []ID) uint64 {
	m := uint64(0)
	for i, obs := range observers {
		v := w.cols[obs][origin]
		if i == 0 || v < m {
			m = v
		}
	}
	return m
}

// Column returns a copy of observer's column, or nil.
func (w *Watermark) Column(observer ID) VV {
	if c := w.cols[observer]; c != nil {
		return c.Clone()
	}
	return nil
}

// Observers returns the observers, sorted.
func (w *Watermark) Observers() []ID {
	out := make([]ID, 0, len(w.cols))
	for id := range w.cols {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// RemoveObserver drops observer's column (a departed replica).
func (w *Watermark) RemoveObserver(observer ID) bool {
	_, ok := w.cols[observer]
	delete(w.cols, observer)
	return ok
}
