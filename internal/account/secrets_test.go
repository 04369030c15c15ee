package account

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"testing"
)

func TestNewCodeIsUniformSixDigits(t *testing.T) {
	// Draws at or above the ceiling are rejected: the code comes from the next draw.
	var src bytes.Buffer
	for _, n := range []uint32{0xFFFFFFFF, codeCeiling, codeCeiling - 1} {
		_ = binary.Write(&src, binary.BigEndian, n)
	}
	code, err := newCode(&src)
	if err != nil {
		t.Fatal(err)
	}
	if want := "999999"; code != want { // (codeCeiling-1) % 1e6 = 4293999999 % 1e6
		t.Errorf("code = %s, want %s", code, want)
	}
	if _, err := newCode(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("a short random source gave a code")
	}
	seen := map[string]bool{}
	for range 200 {
		c, err := newCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !isDigits6(c) {
			t.Fatalf("code %q is not six digits", c)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Errorf("%d distinct codes in 200 draws", len(seen))
	}
}

func TestLinkTokenRoundTrip(t *testing.T) {
	tok, hash, err := newLinkToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := linkTokenHash(" " + tok + " ")
	if !ok || !bytes.Equal(got, hash) {
		t.Fatalf("linkTokenHash(token) = %x, %t; want %x", got, ok, hash)
	}
	for _, bad := range []string{"", tok[:42], tok + "A", strings.Replace(tok, tok[:1], "+", 1), tok[:42] + "/"} {
		if _, ok := linkTokenHash(bad); ok {
			t.Errorf("linkTokenHash(%q) accepted", bad)
		}
	}
}

func TestCodeHashBindsVerification(t *testing.T) {
	key := []byte("0123456789abcdef")
	a := codeHash(key, "v1", "123456")
	for _, other := range [][]byte{
		codeHash(key, "v2", "123456"),
		codeHash(key, "v1", "123457"),
		codeHash([]byte("fedcba9876543210"), "v1", "123456"),
		codeHash(key, "v1|1", "23456"),
	} {
		if bytes.Equal(a, other) {
			t.Error("two different inputs give one code hash")
		}
	}
}
