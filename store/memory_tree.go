package store

import (
	"bytes"
	"hash/fnv"
)

// node is a node of a persistent treap: writes copy the path from the root, so any root
// pointer taken earlier stays a consistent, immutable version of the keyspace. That makes
// snapshots and iterators O(1) to create. Priorities hash the key, so the shape (and thus
// every simulator run) is deterministic.
type node struct {
	key, val    []byte
	prio        uint64
	left, right *node
}

func prio(key []byte) uint64 {
	h := fnv.New64a()
	h.Write(key)
	return h.Sum64()
}

func treeInsert(n *node, key, val []byte, p uint64) *node {
	if n == nil {
		return &node{key: key, val: val, prio: p}
	}
	cp := *n
	switch c := bytes.Compare(key, n.key); {
	case c == 0:
		cp.val = val
		return &cp
	case c < 0:
		cp.left = treeInsert(n.left, key, val, p)
		if cp.left.prio > cp.prio { // rotate right; cp.left is a fresh copy, safe to modify
			l := cp.left
			cp.left = l.right
			l.right = &cp
			return l
		}
	default:
		cp.right = treeInsert(n.right, key, val, p)
		if cp.right.prio > cp.prio {
			r := cp.right
			cp.right = r.left
			r.left = &cp
			return r
		}
	}
	return &cp
}

func treeDelete(n *node, key []byte) *node {
	if n == nil {
		return nil
	}
	switch c := bytes.Compare(key, n.key); {
	case c == 0:
		return treeMerge(n.left, n.right)
	case c < 0:
		l := treeDelete(n.left, key)
		if l == n.left {
			return n
		}
		cp := *n
		cp.left = l
		return &cp
	default:
		r := treeDelete(n.right, key)
		if r == n.right {
			return n
		}
		cp := *n
		cp.right = r
		return &cp
	}
}

func treeMerge(a, b *node) *node {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if a.prio > b.prio {
		cp := *a
		cp.right = treeMerge(a.right, b)
		return &cp
	}
	cp := *b
	cp.left = treeMerge(a, b.left)
	return &cp
}

func treeGet(n *node, key []byte) *node {
	for n != nil {
		switch c := bytes.Compare(key, n.key); {
		case c == 0:
			return n
		case c < 0:
			n = n.left
		default:
			n = n.right
		}
	}
	return nil
}

// treeSeekGE returns the node with the smallest key >= key (> key when strict).
func treeSeekGE(n *node, key []byte, strict bool) *node {
	var best *node
	for n != nil {
		c := bytes.Compare(n.key, key)
		if c > 0 || (c == 0 && !strict) {
			best, n = n, n.left
		} else {
			n = n.right
		}
	}
	return best
}

// treeSeekLT returns the node with the largest key < key (<= key when inclusive).
func treeSeekLT(n *node, key []byte, inclusive bool) *node {
	var best *node
	for n != nil {
		c := bytes.Compare(n.key, key)
		if c < 0 || (c == 0 && inclusive) {
			best, n = n, n.right
		} else {
			n = n.left
		}
	}
	return best
}

func treeFirst(n *node) *node {
	for n != nil && n.left != nil {
		n = n.left
	}
	return n
}

func treeLast(n *node) *node {
	for n != nil && n.right != nil {
		n = n.right
	}
	return n
}
