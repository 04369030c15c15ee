package phone

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// FuzzParse holds Parse to its promises on any input: no panic, errors that are always the
// invalid_phone *gatehouse.Error, and numbers that are canonical (parsing the E.164 form again
// gives the same number) and mask without showing more than four digits. Seeds are in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add("+965 5000 0000", "US")
	f.Add("0096550000000", "")
	f.Add("(202) 555-0142", "US")
	f.Fuzz(func(t *testing.T, input, region string) {
		n, err := Parse(input, region)
		if err != nil {
			var e *gatehouse.Error
			if !errors.As(err, &e) || e.Code != gatehouse.EINVALID || e.Reason != Reason || e.Field != Field || e.Message == "" {
				t.Fatalf("Parse(%q, %q) error %#v is not an invalid_phone *gatehouse.Error", input, region, err)
			}
			if n != (Number{}) {
				t.Fatalf("Parse(%q, %q) returned %+v with an error", input, region, n)
			}
			return
		}
		if !strings.HasPrefix(n.E164, "+") || len(n.E164) > 16 || strings.Trim(n.E164[1:], "0123456789") != "" {
			t.Fatalf("Parse(%q, %q).E164 = %q, not E.164", input, region, n.E164)
		}
		if n.Region == "" || n.CountryCode <= 0 || n.Type == "" {
			t.Fatalf("Parse(%q, %q) = %+v: missing fields", input, region, n)
		}
		again, err := Parse(n.E164, "")
		if err != nil || again != n {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v again", n.E164, again, err, n)
		}
		masked := Mask(n.E164)
		if i := strings.LastIndex(masked, "•"); i >= 0 {
			if tail := strings.TrimSpace(masked[i+len("•"):]); len(tail) > 4 {
				t.Fatalf("Mask(%q) = %q shows %d digits", n.E164, masked, len(tail))
			}
		} else {
			t.Fatalf("Mask(%q) = %q hides nothing", n.E164, masked)
		}
	})
}
