// Package cachemap holds the one rule the process's small caches (the session revocation checker,
// the profile near cache) use to stay within their size: a map is bounded, not ordered.
package cachemap

// MakeRoom makes room in a full map m of at most limit entries: the entries expired reports go,
// then arbitrary ones (a cache entry dropped early costs one lookup), down to 7/8 of limit so that
// the next inserts do not scan again. A map below limit is left as it is.
func MakeRoom[K comparable, V any](m map[K]V, limit int, expired func(V) bool) {
	if len(m) < limit {
		return
	}
	for k, v := range m {
		if expired(v) {
			delete(m, k)
		}
	}
	target := limit - max(limit/8, 1)
	for k := range m {
		if len(m) <= target {
			break
		}
		delete(m, k)
	}
}
