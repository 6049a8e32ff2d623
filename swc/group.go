package swc

import "strconv"

// group is one independent replica of a slice of the keyspace.
type group struct {
	idx   int
	clock BVV
	wm    *Watermark
	dkm   *DKM
	// gc holds the store keys whose objects read as deleted (their LWW
	// winner is ⊥): the candidates for collection.
	gc map[string]struct{}
	// bcast is the write batch of the current step: store key → index in
	// bitems, so a key written twice is sent once, in its latest state.
	bcast  map[string]int
	bitems []bcastItem
	dirty  bool // clock or watermark changed since the last Ready
	ex     *exchange
	// fresh: the group held nothing when the node started and has not finished an exchange
	// since, so its first exchange may stream (initsync.go). Broadcasts that reach it
	// meanwhile do not change that: they are a few keys, not the keyspace.
	fresh bool

	nextSync, nextGC uint64
}

type bcastItem struct {
	skey string
	dcc  DCC // filled
}

func newGroup(i int) *group {
	return &group{idx: i, clock: BVV{}, wm: NewWatermark(), dkm: NewDKM(), gc: map[string]struct{}{}, fresh: true}
}

// Meta keys. Per-group keys carry the group number.
const (
	metaActor  = "actor"
	metaGroups = "groups"
	metaActors = "actors"
)

func clockKey(g int) string { return "clock/" + strconv.Itoa(g) }
func wmKey(g int) string    { return "wm/" + strconv.Itoa(g) }
