package swc

import "fmt"

// Dump describes the tombstones of c and the watermarks that hold them.
func (c *Core) Dump() string {
	s := fmt.Sprintf("self %s members %v actors %v\n", c.self, c.members, c.actors)
	for _, g := range c.groups {
		for _, k := range sortedKeys(g.gc) {
			o := c.objs[k]
			s += fmt.Sprintf(" g%d %q vals %+v ctx %v\n", g.idx, k, o.dcc.Vals, o.dcc.Ctx)
			for _, obs := range g.wm.Observers() {
				s += fmt.Sprintf("   col %s: %v\n", obs, g.wm.cols[obs])
			}
			s += fmt.Sprintf("   clock %v ex %+v\n", g.clock, g.ex)
		}
	}
	return s
}
