package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/phone"
)

// phoneStart imitates POST /api/v1/auth/register/phone/start: the number must be a Kuwait mobile
// number as gatehouse parses it, and the answer is 202 with the code's lifetimes.
func (f *fakeAuth) phoneStart(w http.ResponseWriter, number string) {
	n, err := phone.Parse(number, "")
	if err != nil {
		f.refuse(w, "phone "+number+": "+err.Error())
		return
	}
	if n.E164 != number || n.Region != "KW" {
		f.refuse(w, "phone "+number+" is "+n.E164+" in "+n.Region+", want itself in KW")
		return
	}
	f.mu.Lock()
	f.phoneStarts++
	if f.phones[number] {
		f.phoneRepeat++
	}
	f.phones[number] = true
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"expires_in":300,"resend_after":60}`)
}

func TestLoadPhone(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "+96550000000"},
		{1, "+96550000001"},
		{99_999, "+96550099999"},
		{100_000, "+96550100000"},
		{1_000_000, "+96555000000"},
		{2_012_345, "+96590012345"},
		{phoneSpace - 1, "+96596999999"},
		{phoneSpace, "+96550000000"},
	}
	for _, tt := range tests {
		if got := loadPhone(tt.n); got != tt.want {
			t.Errorf("loadPhone(%d) = %s, want %s", tt.n, got, tt.want)
		}
	}
}

// TestLoadPhoneParses checks numbers of every block, its edges included, with the parser the
// server uses: each must be a valid Kuwait number, already in canonical form.
func TestLoadPhoneParses(t *testing.T) {
	var ns []uint64
	for blk := range uint64(len(kuwaitMobileBlocks)) {
		base := blk * blockSize
		for _, d := range []uint64{0, 1, 12_345, 50_000, 67_890, 99_998, 99_999} {
			ns = append(ns, base+d)
		}
	}
	for n := uint64(0); n < phoneSpace; n += 9_973 {
		ns = append(ns, n)
	}
	for _, n := range ns {
		s := loadPhone(n)
		num, err := phone.Parse(s, "")
		if err != nil {
			t.Errorf("loadPhone(%d) = %s: %v", n, s, err)
			continue
		}
		if num.E164 != s || num.Region != "KW" || num.CountryCode != 965 {
			t.Errorf("loadPhone(%d) = %s parses as %s, region %s, code %d", n, s, num.E164, num.Region, num.CountryCode)
		}
	}
}

// TestOTPStartUnique checks that the requests of a run never repeat a number, and that two runs
// start at different places.
func TestOTPStartUnique(t *testing.T) {
	const workers, iters = 7, 500
	seen := map[string]bool{}
	for _, run := range []string{"runA", "runB"} {
		next, err := setupOTPStart(context.Background(), Env{BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Workers: workers, RunID: run})
		if err != nil {
			t.Fatal(err)
		}
		for it := range uint64(iters) {
			for w := range workers {
				call, err := next(context.Background(), w, it)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(call.Request.Body)
				if err != nil {
					t.Fatal(err)
				}
				if seen[string(body)] {
					t.Fatalf("run %s, worker %d, iteration %d repeats %s", run, w, it, body)
				}
				seen[string(body)] = true
			}
		}
	}
	if runOffset("runA") == runOffset("runB") {
		t.Error("two runs start at the same number")
	}
}

func TestOTPStartRun(t *testing.T) {
	const workers = 3
	wl, err := Find(Builtin(), "otp-start")
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeAuth()
	res, err := Run(context.Background(), Options{
		Workload:    wl,
		BaseURL:     serverURL(t, f),
		Concurrency: workers,
		Warmup:      20 * time.Millisecond,
		Duration:    testWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.OK != res.Requests || len(res.Errors) != 0 {
		t.Fatalf("%d requests, %d as expected, errors %+v", res.Requests, res.OK, res.Errors)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.badRequests) != 0 {
		t.Errorf("the fake refused malformed requests: %q", f.badRequests[:min(3, len(f.badRequests))])
	}
	if f.phoneRepeat != 0 {
		t.Errorf("%d requests repeated a number", f.phoneRepeat)
	}
	if int64(f.phoneStarts) < res.Requests {
		t.Errorf("server saw %d requests, the run counted %d", f.phoneStarts, res.Requests)
	}
}
