package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAuth imitates the four endpoints of the auth API the workloads use, strictly enough that a
// workload sending the wrong fields, content type or token fails: bodies must be JSON with exactly
// the fields gatehouse accepts, refresh tokens rotate and a rotated token is refused, and the account
// read requires a live bearer token.
type fakeAuth struct {
	// Set before use.
	unverified     bool   // sign-in answers 403 email_not_verified
	registerRefuse string // when set, register answers 422 with this problem code

	mu          sync.Mutex
	passwords   map[string]string // email → password
	refresh     map[string]string // live refresh token → email
	rotated     map[string]bool   // refresh tokens already used
	access      map[string]string // access token → email
	accessSeen  map[string]bool   // access tokens that read the account
	signedIn    map[string]int    // email → successful sign-ins
	registers   int               // register requests, duplicates included
	duplicates  int               // registers of an address that already had an account
	refreshes   int               // successful rotations
	reused      int               // refreshes presenting a rotated token
	badRequests []string          // why requests were refused as malformed
	phones      map[string]bool   // numbers sent a phone sign-up code (otp_test.go)
	phoneStarts int               // phone sign-up requests, repeats included
	phoneRepeat int               // phone sign-up requests for a number already sent a code
	seq         int
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{
		passwords: map[string]string{}, refresh: map[string]string{}, rotated: map[string]bool{},
		access: map[string]string{}, accessSeen: map[string]bool{}, signedIn: map[string]int{},
		phones: map[string]bool{},
	}
}

func (f *fakeAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method + " " + r.URL.Path {
	case "POST " + pathRegister:
		var req struct{ Email, Password string }
		if f.decode(w, r, &req, "email", "password") {
			f.register(w, req.Email, req.Password)
		}
	case "POST " + pathLogin:
		var req struct{ Identifier, Password string }
		if f.decode(w, r, &req, "identifier", "password") {
			f.login(w, req.Identifier, req.Password)
		}
	case "POST " + pathRefresh:
		var req struct {
			RefreshToken string `json:"refresh_token"`
		}
		if f.decode(w, r, &req, "refresh_token") {
			f.rotate(w, req.RefreshToken)
		}
	case "GET " + pathAccount:
		f.read(w, r)
	case "POST " + pathPhoneStart:
		var req struct{ Phone string }
		if f.decode(w, r, &req, "phone") {
			f.phoneStart(w, req.Phone)
		}
	default:
		problem(w, http.StatusNotFound, "not_found")
	}
}

// decode reads a strict JSON body whose fields must all be among names (and non-empty).
func (f *fakeAuth) decode(w http.ResponseWriter, r *http.Request, v any, names ...string) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.refuse(w, "content type "+ct)
		return false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.refuse(w, err.Error())
		return false
	}
	var fields map[string]string
	if err := json.Unmarshal(body, &fields); err != nil {
		f.refuse(w, err.Error())
		return false
	}
	if len(fields) != len(names) {
		f.refuse(w, fmt.Sprintf("fields %v, want %v", fields, names))
		return false
	}
	for _, n := range names {
		if fields[n] == "" {
			f.refuse(w, "missing "+n)
			return false
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		f.refuse(w, err.Error())
		return false
	}
	return true
}

func (f *fakeAuth) refuse(w http.ResponseWriter, why string) {
	f.mu.Lock()
	f.badRequests = append(f.badRequests, why)
	f.mu.Unlock()
	problem(w, http.StatusBadRequest, "invalid")
}

func (f *fakeAuth) register(w http.ResponseWriter, email, password string) {
	if f.registerRefuse != "" {
		problem(w, http.StatusUnprocessableEntity, f.registerRefuse)
		return
	}
	f.mu.Lock()
	f.registers++
	if _, ok := f.passwords[email]; ok {
		f.duplicates++
	} else {
		f.passwords[email] = password
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"message":"Check your email."}`)
}

func (f *fakeAuth) login(w http.ResponseWriter, email, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if want, ok := f.passwords[email]; !ok || want != password {
		problem(w, http.StatusUnauthorized, "invalid_credentials")
		return
	}
	if f.unverified {
		problem(w, http.StatusForbidden, "email_not_verified")
		return
	}
	f.signedIn[email]++
	f.issue(w, email)
}

func (f *fakeAuth) rotate(w http.ResponseWriter, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	email, ok := f.refresh[token]
	if !ok {
		if f.rotated[token] {
			f.reused++
			problem(w, http.StatusUnauthorized, "refresh_token_reused")
			return
		}
		problem(w, http.StatusUnauthorized, "invalid_refresh_token")
		return
	}
	delete(f.refresh, token)
	f.rotated[token] = true
	f.refreshes++
	f.issue(w, email)
}

// issue answers new tokens for email; f.mu is held.
func (f *fakeAuth) issue(w http.ResponseWriter, email string) {
	f.seq++
	access, refresh := fmt.Sprintf("at-%d", f.seq), fmt.Sprintf("rt-%d", f.seq)
	f.access[access] = email
	f.refresh[refresh] = email
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 900,
		"account": map[string]string{"email": email},
	})
}

func (f *fakeAuth) read(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	email, live := f.access[token]
	if ok && live {
		f.accessSeen[token] = true
	}
	f.mu.Unlock()
	if !ok || !live {
		problem(w, http.StatusUnauthorized, "token_invalid")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"email": email})
}

func problem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "code": code, "detail": "The fake says " + code + "."})
}

func testEnv(t *testing.T, f *fakeAuth, workers int) Env {
	t.Helper()
	return Env{Client: NewClient(workers, DefaultTimeout), BaseURL: serverURL(t, f), Workers: workers, RunID: "run1"}
}

func TestAuthWorkloadsRun(t *testing.T) {
	const workers = 3
	tests := []struct {
		name  string
		check func(t *testing.T, f *fakeAuth, res *Result)
	}{
		{"signup", func(t *testing.T, f *fakeAuth, res *Result) {
			if f.duplicates != 0 {
				t.Errorf("%d sign-ups reused an address", f.duplicates)
			}
			if int64(f.registers) < res.Requests {
				t.Errorf("server saw %d sign-ups, the run counted %d", f.registers, res.Requests)
			}
		}},
		{"signin", func(t *testing.T, f *fakeAuth, res *Result) {
			if f.registers != workers || f.duplicates != 0 {
				t.Errorf("set-up registered %d accounts (%d duplicates), want %d", f.registers, f.duplicates, workers)
			}
			if len(f.signedIn) != workers {
				t.Errorf("%d accounts signed in, want one per worker (%d)", len(f.signedIn), workers)
			}
		}},
		{"refresh", func(t *testing.T, f *fakeAuth, res *Result) {
			if f.reused != 0 {
				t.Errorf("%d refreshes presented an already rotated token", f.reused)
			}
			if int64(f.refreshes) < res.OK {
				t.Errorf("server rotated %d tokens, the run counted %d", f.refreshes, res.OK)
			}
			if len(f.signedIn) != workers {
				t.Errorf("set-up signed in %d accounts, want %d", len(f.signedIn), workers)
			}
		}},
		{"account", func(t *testing.T, f *fakeAuth, res *Result) {
			if len(f.accessSeen) != workers {
				t.Errorf("%d access tokens read the account, want one per worker (%d)", len(f.accessSeen), workers)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wl, err := Find(Builtin(), tt.name)
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
			tt.check(t, f, res)
		})
	}
}

func TestAuthSetupNeedsUnverifiedLogin(t *testing.T) {
	for _, name := range []string{"signin", "refresh", "account"} {
		t.Run(name, func(t *testing.T) {
			wl, err := Find(Builtin(), name)
			if err != nil {
				t.Fatal(err)
			}
			f := newFakeAuth()
			f.unverified = true
			_, err = wl.Setup(context.Background(), testEnv(t, f, 2))
			if err == nil {
				t.Fatal("set-up succeeded though sign-in needs a verified address")
			}
			for _, want := range []string{"403 email_not_verified", "-server-env GATEHOUSE_ACCOUNT_ALLOW_UNVERIFIED_LOGIN=true"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestAuthSetupReportsRefusedSignup(t *testing.T) {
	wl, err := Find(Builtin(), "signin")
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeAuth()
	f.registerRefuse = "password_too_common"
	_, err = wl.Setup(context.Background(), testEnv(t, f, 20))
	if err == nil || !strings.Contains(err.Error(), "status 422 password_too_common: The fake says password_too_common.") {
		t.Errorf("set-up error = %v, want the problem's status, code and detail", err)
	}
}

func TestRefreshKeepsRotatedToken(t *testing.T) {
	wl, err := Find(Builtin(), "refresh")
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeAuth()
	next, err := wl.Setup(context.Background(), testEnv(t, f, 2))
	if err != nil {
		t.Fatal(err)
	}
	sent := func(worker int) string {
		t.Helper()
		call, err := next(context.Background(), worker, 0)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.NewDecoder(call.Request.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if call.Then == nil {
			t.Fatal("no Then to keep the successor")
		}
		if err := call.Then([]byte(`{"refresh_token":"successor-` + body.RefreshToken + `"}`)); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{`{}`, `{"refresh_token":""}`, `not json`} {
			if call.Then([]byte(bad)) == nil {
				t.Errorf("Then accepted %s", bad)
			}
		}
		return body.RefreshToken
	}
	first0, first1 := sent(0), sent(1)
	if first0 == first1 {
		t.Errorf("workers 0 and 1 share refresh token %s", first0)
	}
	if got := sent(0); got != "successor-"+first0 {
		t.Errorf("worker 0 sent %q after the rotation, want the successor of %q", got, first0)
	}
	if got := sent(1); got != "successor-"+first1 {
		t.Errorf("worker 1 sent %q after the rotation, want the successor of %q", got, first1)
	}
}

func TestEachWorker(t *testing.T) {
	t.Run("all", func(t *testing.T) {
		var running, peak atomic.Int32
		done := make([]bool, 50)
		err := eachWorker(context.Background(), len(done), func(_ context.Context, w int) error {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			done[w] = true
			running.Add(-1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for w, ok := range done {
			if !ok {
				t.Errorf("worker %d not set up", w)
			}
		}
		if p := peak.Load(); p > setupParallelism {
			t.Errorf("%d set-up calls ran at once, bound %d", p, setupParallelism)
		}
	})
	t.Run("first error", func(t *testing.T) {
		boom := errors.New("boom")
		err := eachWorker(context.Background(), 1000, func(ctx context.Context, w int) error {
			if w == 3 {
				return boom
			}
			<-ctx.Done() // the others wait for the cancellation the error causes
			return ctx.Err()
		})
		if !errors.Is(err, boom) {
			t.Errorf("error = %v, want boom", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var calls atomic.Int32
		err := eachWorker(ctx, 100, func(context.Context, int) error { calls.Add(1); return nil })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("%d calls after cancellation", n)
		}
	})
	t.Run("none", func(t *testing.T) {
		if err := eachWorker(context.Background(), 0, nil); err != nil {
			t.Error(err)
		}
	})
}

// TestAuthSetupUsesPrefix checks that set-up requests keep the base URL's path prefix.
func TestAuthSetupUsesPrefix(t *testing.T) {
	f := newFakeAuth()
	base := serverURL(t, http.StripPrefix("/auth", f))
	prefixed, _ := url.Parse(base.String() + "/auth")
	wl, err := Find(Builtin(), "account")
	if err != nil {
		t.Fatal(err)
	}
	next, err := wl.Setup(context.Background(), Env{Client: NewClient(1, DefaultTimeout), BaseURL: prefixed, Workers: 1, RunID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	call, err := next(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if call.Request.URL.Path != "/auth"+pathAccount {
		t.Errorf("path %s, want /auth%s", call.Request.URL.Path, pathAccount)
	}
}
