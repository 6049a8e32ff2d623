package plumtree

// The comparison steps of an exchange, shared by the message-driven walk
// (exchange.go) and the in-process Diff that the property test checks
// against a naive full comparison.

// diffChildren returns the indices of children that differ between two
// bucket contents (sorted by index): present on one side only, or with
// different hashes. The result is sorted.
func diffChildren(local, remote []child) []uint32 {
	var out []uint32
	i, j := 0, 0
	for i < len(local) || j < len(remote) {
		switch {
		case j == len(remote) || (i < len(local) && local[i].idx < remote[j].idx):
			out = append(out, local[i].idx)
			i++
		case i == len(local) || remote[j].idx < local[i].idx:
			out = append(out, remote[j].idx)
			j++
		default:
			if local[i].hash != remote[j].hash {
				out = append(out, local[i].idx)
			}
			i, j = i+1, j+1
		}
	}
	return out
}

// keyDiff is the outcome of comparing keys: Missing are keys only the
// remote side has, RemoteMissing keys only the local side has, Different
// keys both have with different hashes.
type keyDiff struct {
	Missing, RemoteMissing, Different []string
}

func (d *keyDiff) add(o keyDiff) {
	d.Missing = append(d.Missing, o.Missing...)
	d.RemoteMissing = append(d.RemoteMissing, o.RemoteMissing...)
	d.Different = append(d.Different, o.Different...)
}

// diffPairs compares two segments' pairs, both sorted by key.
func diffPairs(local, remote []keyHash) keyDiff {
	var d keyDiff
	i, j := 0, 0
	for i < len(local) || j < len(remote) {
		switch {
		case j == len(remote) || (i < len(local) && local[i].key < remote[j].key):
			d.RemoteMissing = append(d.RemoteMissing, local[i].key)
			i++
		case i == len(local) || remote[j].key < local[i].key:
			d.Missing = append(d.Missing, remote[j].key)
			j++
		default:
			if local[i].hash != remote[j].hash {
				d.Different = append(d.Different, local[i].key)
			}
			i, j = i+1, j+1
		}
	}
	return d
}

// diffTrees walks two trees of the same shape top-down, descending only
// into differing buckets, and returns the differing keys (local = a). Each
// result list comes out in segment order, then key order.
func diffTrees(a, b *hashTree) keyDiff {
	var d keyDiff
	var walk func(l int, bucket uint32)
	walk = func(l int, bucket uint32) {
		for _, c := range diffChildren(a.bucket(l, bucket), b.bucket(l, bucket)) {
			if l+1 < a.levels {
				walk(l+1, c)
				continue
			}
			d.add(diffPairs(a.segment(c), b.segment(c)))
		}
	}
	if a.top() != b.top() {
		walk(0, 0)
	}
	return d
}
