package cluster

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/serf/serf"
)

// MemberInfo is one member as this node's gossip sees it, for the admin API: live members and
// also those that left or failed and are not yet reaped.
type MemberInfo struct {
	Node   string
	Status string // serf's status: alive, leaving, left, failed
	Gossip string // gossip address host:port
	Link   string // advertised peer-link address (the member's link tag)
	Self   bool
	// LinkUp reports an established peer link to the member (always false for this node).
	LinkUp bool
}

// MemberList returns every member gossip knows, this node included, sorted by name. Unlike
// Members it lists members that failed or left, with their status, until serf reaps them.
func (n *Node) MemberList() []MemberInfo {
	if n.serf == nil {
		return []MemberInfo{{Node: n.name, Status: "alive", Self: true, Gossip: n.opts.GossipAddr}}
	}
	var out []MemberInfo
	for _, m := range n.serf.Members() {
		mi := MemberInfo{
			Node: m.Name, Status: m.Status.String(), Link: m.Tags[tagLink], Self: m.Name == n.name,
			Gossip: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
		}
		if !mi.Self {
			if ps, ok := n.Peer(m.Name); ok {
				mi.LinkUp = ps.Up
			}
		}
		out = append(out, mi)
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// ErrMemberAlive is returned by RemoveFailed for a member that gossip reports alive: a live
// node leaves by itself (Leave on that node).
var ErrMemberAlive = errors.New("cluster: member is alive")

// RemoveFailed removes a member that failed (or already left) from the cluster for good:
// serf's force-leave with pruning, so every node reports it "leave", drops its peer state and
// stops trying to reach it, and it disappears from MemberList. A member that gossip reports
// alive is refused with ErrMemberAlive; an unknown name with ErrUnknownNode.
func (n *Node) RemoveFailed(name string) error {
	if n.serf == nil {
		return errors.New("cluster: RemoveFailed before Start")
	}
	if name == n.name {
		return fmt.Errorf("cluster: %s is this node: a node leaves by itself with Leave", name)
	}
	members := n.serf.Members()
	i := slices.IndexFunc(members, func(m serf.Member) bool { return m.Name == name })
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrUnknownNode, name)
	}
	if members[i].Status == serf.StatusAlive {
		return fmt.Errorf("%w: %s", ErrMemberAlive, name)
	}
	if err := n.serf.RemoveFailedNodePrune(name); err != nil {
		return fmt.Errorf("cluster: remove %s: %w", name, err)
	}
	return nil
}
