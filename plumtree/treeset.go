package plumtree

// treeSet is the tree of trees of hashtree_tree.erl, two levels deep here:
// one leaf tree per full prefix (one entry per key, hash = object hash) and
// a root tree with one entry per leaf (hash = the leaf's top hash).
// Upstream has a middle level per Prefix; with the handful of full prefixes
// the broker uses it would only add a round trip to every exchange.
//
// Leaf inserts only mark the leaf dirty; update pushes dirty leaves' top
// hashes into the root, so writes stay cheap and the hashing happens once
// per exchange step.
type treeSet struct {
	root      *hashTree
	leaves    map[string]*hashTree // by tree id (encoded full prefix)
	dirty     map[string]struct{}
	leafShape TreeShape
	rootShape TreeShape
}

func newTreeSet(root, leaf TreeShape) *treeSet {
	return &treeSet{
		root:      newHashTree(root),
		leaves:    map[string]*hashTree{},
		dirty:     map[string]struct{}{},
		leafShape: leaf,
		rootShape: root,
	}
}

func (ts *treeSet) insert(tree, key string, h uint64) {
	leaf := ts.leaves[tree]
	if leaf == nil {
		leaf = newHashTree(ts.leafShape)
		ts.leaves[tree] = leaf
	}
	leaf.insert(key, h)
	ts.dirty[tree] = struct{}{}
}

func (ts *treeSet) update() {
	for id := range ts.dirty {
		ts.root.insert(id, ts.leaves[id].top())
	}
	clear(ts.dirty)
}

// tree returns the up-to-date tree with id ("" is the root), or an empty
// tree of the right shape when this node has none.
func (ts *treeSet) tree(id string) *hashTree {
	ts.update()
	if id == "" {
		return ts.root
	}
	if t := ts.leaves[id]; t != nil {
		return t
	}
	return newHashTree(ts.leafShape)
}
