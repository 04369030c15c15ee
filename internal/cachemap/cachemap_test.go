package cachemap

import "testing"

func TestMakeRoom(t *testing.T) {
	for _, tc := range []struct {
		name           string
		size, expired  int
		limit, wantMax int
		wantMin        int
	}{
		{"below the limit: untouched", 10, 3, 11, 10, 10},
		{"expired entries are enough", 16, 8, 16, 8, 8},
		{"then arbitrary ones, down to 7/8", 16, 0, 16, 14, 14},
		{"some expired, then arbitrary", 16, 1, 16, 14, 14},
		{"limit 1", 1, 0, 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[int]bool{} // value: expired
			for i := range tc.size {
				m[i] = i < tc.expired
			}
			MakeRoom(m, tc.limit, func(expired bool) bool { return expired })
			if len(m) < tc.wantMin || len(m) > tc.wantMax {
				t.Fatalf("%d entries left, want %d..%d", len(m), tc.wantMin, tc.wantMax)
			}
			if tc.size >= tc.limit {
				for k, expired := range m {
					if expired {
						t.Fatalf("expired entry %d kept", k)
					}
				}
			}
		})
	}
}
