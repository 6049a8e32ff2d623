package config

import "strings"

// candidates are the keys an unknown key may have meant. For listener keys they are every
// valid option key at the same cascade level, so a typo in the type or the option of
// listener.tcp.default.max_conections finds its match.
func candidates(key string) []string {
	var out []string
	for _, f := range schema().keys {
		out = append(out, f.Key)
	}
	for _, o := range schema().options {
		out = append(out, "listener."+o.Key)
	}
	parts := strings.Split(key, ".")
	if parts[0] != "listener" || len(parts) < 3 {
		return out
	}
	for _, t := range ListenerType("").Values() {
		for _, o := range schema().options {
			if !o.appliesTo(ListenerType(t)) {
				continue
			}
			if len(parts) == 3 {
				out = append(out, "listener."+t+"."+o.Key)
			} else {
				out = append(out, "listener."+t+"."+parts[2]+"."+o.Key)
			}
		}
	}
	return out
}

// suggest returns the candidate closest to key, if it is close enough to be a likely typo.
// Ties go to the first in sorted order so the message is the same on every run.
func suggest(key string, cands []string) string {
	limit := max(2, len(key)/5)
	best, bestD := "", limit+1
	for _, c := range cands {
		if c == key {
			continue
		}
		d := distance(key, c)
		if d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein edit distance, counting an adjacent swap as one edit (the
// optimal string alignment variant): transposed letters are the commonest typo in a key.
func distance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
