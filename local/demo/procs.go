package demo

import (
	"fmt"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/profile"
)

// ReplicaProcs are the functions' processes for the CPU accounting
// (Config.Processes): a function's first replica by its name, the others
// as name#2, name#3.
func ReplicaProcs(p *plane.Plane) []profile.Proc {
	var out []profile.Proc
	for name, pids := range p.AllPIDs() {
		for i, pid := range pids {
			n := name
			if i > 0 {
				n = fmt.Sprintf("%s#%d", name, i+1)
			}
			out = append(out, profile.Proc{Name: n, PID: pid})
		}
	}
	return out
}
