package otp

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unicode/utf8"
)

func TestRandomCode(t *testing.T) {
	be := func(vs ...uint32) *bytes.Reader {
		var b []byte
		for _, v := range vs {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		return bytes.NewReader(b)
	}
	const limit = 4_294_000_000 // the largest multiple of 10^6 below 2^32
	for _, tc := range []struct {
		name string
		in   *bytes.Reader
		want string
	}{
		{"zero keeps its leading zeros", be(0), "000000"},
		{"small value", be(42), "000042"},
		{"modulo", be(1_234_567), "234567"},
		{"largest accepted", be(limit - 1), "999999"},
		{"values from the limit up are drawn again", be(limit, 0xFFFFFFFF, 7), "000007"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := randomCode(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("randomCode = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := randomCode(be(limit)); err == nil {
		t.Error("randomCode with a source that runs dry after a rejected value succeeded")
	}
}

func TestNormalizeCode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" when not a code
	}{
		{"123456", "123456"},
		{"012345", "012345"},
		{" 123456\t\n", "123456"},
		{"123 456", "123456"},
		{"123-456", "123456"},
		{"1 2 3 4 5 6", "123456"},
		{"١٢٣٤٥٦", "123456"},
		{"۰۱۲۳۴۵", "012345"},
		{"12٣4۵6", "123456"},
		{"", ""},
		{"12345", ""},
		{"1234567", ""},
		{"12345a", ""},
		{"123.456", ""},
		{"+123456", ""},
		{"１２３４５６", ""}, // full-width digits are not accepted
		{"123\u00a0456", ""},
		{"\xff23456", ""},
	} {
		got, ok := NormalizeCode(tc.in)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("NormalizeCode(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", " 123-456 ", "١٢٣٤٥٦", "۰۱۲۳۴۵", "12345", "", "\xff", "1 2 3 4 5 6 7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeCode(s)
		if !ok {
			if got != "" {
				t.Fatalf("NormalizeCode(%q) = %q with ok false", s, got)
			}
			return
		}
		if len(got) != CodeLength || !utf8.ValidString(got) {
			t.Fatalf("NormalizeCode(%q) = %q", s, got)
		}
		for i := range len(got) {
			if got[i] < '0' || got[i] > '9' {
				t.Fatalf("NormalizeCode(%q) = %q has a non-digit", s, got)
			}
		}
		if again, ok := NormalizeCode(got); !ok || again != got {
			t.Fatalf("NormalizeCode is not idempotent on %q: %q, %v", got, again, ok)
		}
	})
}

func TestDecodeRecord(t *testing.T) {
	good := record{id: "abc", mac: bytes.Repeat([]byte{7}, 32)}
	r, err := decodeRecord(good.encode())
	if err != nil || r.id != good.id || !bytes.Equal(r.mac, good.mac) {
		t.Fatalf("round trip: %+v, %v", r, err)
	}
	for _, bad := range []string{"", "v1", "v1..00", "v2.abc." + string(bytes.Repeat([]byte("0"), 64)), "v1.abc.zz", "v1.abc.0000", "123"} {
		if _, err := decodeRecord([]byte(bad)); err == nil {
			t.Errorf("decodeRecord(%q) succeeded", bad)
		}
	}
}
