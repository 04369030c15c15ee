package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/apitest"
)

var smsCode = regexp.MustCompile(`\b(\d{6})\b`)

// waitSMS waits for a new text message to `to` in the dev outbox (beyond `seen` already there) and
// returns its code.
func waitSMS(t *testing.T, c *apitest.Client, to string, seen int) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if list := smsTo(t, c, to); len(list) > seen {
			m := smsCode.FindStringSubmatch(list[0].Text)
			if m == nil {
				t.Fatalf("no code in the SMS: %q", list[0].Text)
			}
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no SMS to %s arrived", to)
	return ""
}

func smsTo(t *testing.T, c *apitest.Client, to string) []outboxMail {
	t.Helper()
	var body struct {
		Data []outboxMail `json:"data"`
	}
	c.Get("/api/v1/dev/outbox").JSON(t, &body)
	var out []outboxMail
	for _, m := range body.Data {
		if m.Channel == "sms" && m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// TestPhoneSignUp: sign-up by SMS code on each backend, with numbers in several written forms mapping
// to one account, identical answers for known numbers, burned codes and purpose binding.
func TestPhoneSignUp(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			srv := startServer(t, authEnv(be, map[string]string{"GATEHOUSE_OTP_DEFAULT_REGION": "KW"}))
			c := apitest.NewClient(t, srv.URL)
			bad := c.AllowInvalidRequests()
			const e164 = "+96550000000"

			r := c.Post("/api/v1/auth/register/phone/start", map[string]any{"phone": "+965 5000 0000"})
			if r.Status != http.StatusAccepted {
				t.Fatalf("start = %d %s", r.Status, r.Body)
			}
			first := string(r.Body)
			code := waitSMS(t, c, e164, 0)

			// The code is bound to its purpose and number.
			if r := bad.Post("/api/v1/auth/login/otp/complete", map[string]any{"identifier": e164, "code": code}); r.Status < 400 {
				t.Fatalf("a register code signed in: %d", r.Status)
			}
			r = c.Post("/api/v1/auth/register/phone/complete", map[string]any{"phone": "0096550000000", "code": code, "password": testPassword, "name": "Customer"})
			if r.Status != http.StatusCreated {
				t.Fatalf("complete = %d %s", r.Status, r.Body)
			}
			var tk tokens
			r.JSON(t, &tk)
			if !strings.Contains(string(r.Body), `"phone":"+96550000000"`) || !strings.Contains(string(r.Body), `"phone_verified":true`) {
				t.Fatalf("account after phone sign-up: %s", r.Body)
			}
			// Every written form signs in to the same account.
			for _, form := range []string{"+96550000000", "0096550000000", "+965 5000 0000", "5000 0000"} {
				if got := login(t, c, form, testPassword); got.Account.ID != tk.Account.ID {
					t.Errorf("%q signed in to %s, want %s", form, got.Account.ID, tk.Account.ID)
				}
			}

			// A number that has an account gets the same answer as a new one.
			if r := c.Post("/api/v1/auth/register/phone/start", map[string]any{"phone": "+96550000001"}); r.Status != http.StatusAccepted {
				t.Fatalf("start for a new number = %d", r.Status)
			} else if string(r.Body) != first {
				t.Fatalf("answers differ for two new numbers: %s vs %s", r.Body, first)
			}
			// (after the cooldown for e164 has passed it would be answered the same; here, the first
			// start's cooldown still runs for e164, so compare a fresh existing number instead)

			// Five wrong codes burn the code: the right one then fails too.
			other := "+96550000001"
			right := waitSMS(t, c, other, 0)
			wrong := "000000"
			if right == wrong {
				wrong = "111111"
			}
			for i := range 5 {
				r := bad.Post("/api/v1/auth/register/phone/complete", map[string]any{"phone": other, "code": wrong, "password": testPassword})
				if p := r.Problem(t); r.Status != http.StatusBadRequest || p.Code != "otp_invalid" {
					t.Fatalf("wrong code %d = %d %+v", i+1, r.Status, p)
				}
			}
			if r := bad.Post("/api/v1/auth/register/phone/complete", map[string]any{"phone": other, "code": right, "password": testPassword}); r.Status == http.StatusCreated {
				t.Fatal("the right code worked after five wrong ones")
			}
			// A code for one number never works for another.
			third := "+96550000002"
			if r := c.Post("/api/v1/auth/register/phone/start", map[string]any{"phone": third}); r.Status != http.StatusAccepted {
				t.Fatalf("start = %d", r.Status)
			}
			c3 := waitSMS(t, c, third, 0)
			if r := bad.Post("/api/v1/auth/register/phone/complete", map[string]any{"phone": "+96550000003", "code": c3, "password": testPassword}); r.Status == http.StatusCreated {
				t.Fatal("a code for one number registered another")
			}
			// Invalid numbers say so.
			r = bad.Post("/api/v1/auth/register/phone/start", map[string]any{"phone": "12"})
			if p := r.Problem(t); r.Status != http.StatusUnprocessableEntity || p.Code != "invalid_phone" {
				t.Fatalf("invalid number = %d %+v", r.Status, p)
			}
		})
	}
}

// TestPhoneEnumeration: starting a sign-up for a number that has an account answers exactly like a
// new number, and passwordless sign-in answers the same for unknown identifiers.
func TestPhoneEnumeration(t *testing.T) {
	srv := startServer(t, map[string]string{"GATEHOUSE_OTP_DEFAULT_REGION": "KW"})
	c := apitest.NewClient(t, srv.URL)
	const known = "+96551111111"
	c.Post("/api/v1/auth/register/phone/start", map[string]any{"phone": known})
	code := waitSMS(t, c, known, 0)
	if r := c.Post("/api/v1/auth/register/phone/complete", map[string]any{"phone": known, "code": code, "password": testPassword}); r.Status != http.StatusCreated {
		t.Fatalf("complete = %d %s", r.Status, r.Body)
	}
	// Fresh destinations for both sides of each comparison, so cooldowns and quotas match.
	a := c.Post("/api/v1/auth/login/otp/start", map[string]any{"identifier": known})
	b := c.Post("/api/v1/auth/login/otp/start", map[string]any{"identifier": "+96551111112"})
	if a.Status != b.Status || string(a.Body) != string(b.Body) {
		t.Fatalf("login code start differs: %d %s / %d %s", a.Status, a.Body, b.Status, b.Body)
	}
	if a.Header.Get("RateLimit") != b.Header.Get("RateLimit") {
		t.Fatalf("RateLimit headers differ: %q / %q", a.Header.Get("RateLimit"), b.Header.Get("RateLimit"))
	}
	// Passwordless sign-in completes with the SMS code.
	lc := waitSMS(t, c, known, 1)
	r := c.Post("/api/v1/auth/login/otp/complete", map[string]any{"identifier": known, "code": lc})
	if r.Status != http.StatusOK {
		t.Fatalf("login with code = %d %s", r.Status, r.Body)
	}
}

// TestOTPLimits reaches every sending limit through the API and checks the 429/403/503 answers and
// their headers.
func TestOTPLimits(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) { testOTPLimits(t, be) })
	}
}

func testOTPLimits(t *testing.T, be backend) {
	start := func(c *apitest.Client, phone string) *apitest.Response {
		return c.AllowInvalidRequests().Post("/api/v1/auth/register/phone/start", map[string]any{"phone": phone})
	}
	dataDir := t.TempDir() // one development secret for the servers sharing the backend's database
	server := func(t *testing.T, extra map[string]string) string {
		env := authEnv(be, extra)
		env["GATEHOUSE_DATA_DIR"] = dataDir
		if be.env["GATEHOUSE_REDIS_KEY_PREFIX"] != "" { // each subtest its own counters
			env["GATEHOUSE_REDIS_KEY_PREFIX"] = fmt.Sprintf("gh_e2e_%d:", time.Now().UnixNano())
		}
		return startServer(t, env).URL
	}
	t.Run("cooldown", func(t *testing.T) {
		c := apitest.NewClient(t, server(t, nil))
		if r := start(c, "+96550010000"); r.Status != http.StatusAccepted {
			t.Fatalf("first = %d", r.Status)
		}
		r := start(c, "+96550010000")
		p := r.Problem(t)
		if r.Status != http.StatusTooManyRequests || p.Code != "otp_cooldown" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("second = %d %+v, Retry-After %q", r.Status, p, r.Header.Get("Retry-After"))
		}
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
	})
	t.Run("codes per number per hour", func(t *testing.T) {
		c := apitest.NewClient(t, server(t, map[string]string{"GATEHOUSE_OTP_PER_DESTINATION_PER_HOUR": "1"}))
		if r := start(c, "+96550010001"); r.Status != http.StatusAccepted {
			t.Fatalf("first = %d", r.Status)
		}
		// Another purpose for the same number: no cooldown shared, but the hourly quota is.
		r := c.AllowInvalidRequests().Post("/api/v1/auth/login/otp/start", map[string]any{"identifier": "+96550010001"})
		if p := r.Problem(t); r.Status != http.StatusTooManyRequests || p.Code != "otp_phone_quota" || r.Header.Get("RateLimit-Policy") == "" || r.Header.Get("RateLimit") == "" {
			t.Fatalf("over the quota = %d %+v, headers %v", r.Status, p, r.Header)
		}
	})
	t.Run("codes per IP per hour", func(t *testing.T) {
		c := apitest.NewClient(t, server(t, map[string]string{"GATEHOUSE_OTP_PER_IP_PER_HOUR": "2"}))
		for i := range 2 {
			if r := start(c, fmt.Sprintf("+9655002000%d", i)); r.Status != http.StatusAccepted {
				t.Fatalf("start %d = %d", i, r.Status)
			}
		}
		if r := start(c, "+96550020009"); r.Status != http.StatusTooManyRequests || r.Problem(t).Code != "otp_ip_quota" {
			t.Fatalf("third = %d %s", r.Status, r.Body)
		}
	})
	t.Run("daily SMS budget", func(t *testing.T) {
		c := apitest.NewClient(t, server(t, map[string]string{"GATEHOUSE_SMS_DAILY_BUDGET": "1"}))
		if r := start(c, "+96550030000"); r.Status != http.StatusAccepted {
			t.Fatalf("first = %d", r.Status)
		}
		r := start(c, "+96550030001")
		if p := r.Problem(t); r.Status != http.StatusServiceUnavailable || p.Code != "sms_budget_exhausted" {
			t.Fatalf("over budget = %d %+v", r.Status, p)
		}
	})
	t.Run("country deny list", func(t *testing.T) {
		c := apitest.NewClient(t, server(t, map[string]string{"GATEHOUSE_SMS_DENY_COUNTRIES": "KW"}))
		r := start(c, "+96555000000")
		if p := r.Problem(t); r.Status != http.StatusForbidden || p.Code != "sms_country_blocked" {
			t.Fatalf("blocked country = %d %+v", r.Status, p)
		}
		if r := start(c, "+14155550100"); r.Status != http.StatusAccepted {
			t.Fatalf("allowed country = %d %s", r.Status, r.Body)
		}
	})
}

// TestOTPGuessesAcrossNodes: wrong guesses spread over two servers sharing Redis still stop at five.
func TestOTPGuessesAcrossNodes(t *testing.T) {
	list := backends(t)
	if len(list) < 2 {
		t.Skip("needs PostgreSQL and Redis: set GATEHOUSE_TEST_POSTGRES_URL and GATEHOUSE_TEST_REDIS_URL")
	}
	env := authEnv(list[1], map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir()})
	a, b := startServer(t, env), startServer(t, env)
	ca, cb := apitest.NewClient(t, a.URL), apitest.NewClient(t, b.URL)
	const phone = "+96550040000"
	if r := ca.Post("/api/v1/auth/register/phone/start", map[string]any{"phone": phone}); r.Status != http.StatusAccepted {
		t.Fatalf("start = %d", r.Status)
	}
	var code string
	for deadline := time.Now().Add(15 * time.Second); code == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, c := range []*apitest.Client{ca, cb} {
			if l := smsTo(t, c, phone); len(l) > 0 {
				code = smsCode.FindStringSubmatch(l[0].Text)[1]
			}
		}
	}
	if code == "" {
		t.Fatal("no SMS on either node")
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	var mu sync.Mutex
	counted := map[string]int{}
	var wg sync.WaitGroup
	for i := range 20 {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		wg.Go(func() {
			r := c.AllowInvalidRequests().Post("/api/v1/auth/register/phone/complete", map[string]any{"phone": phone, "code": wrong, "password": testPassword})
			var p struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(r.Body, &p)
			mu.Lock()
			counted[p.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counted["otp_invalid"] != 5 {
		t.Fatalf("answers %v: want exactly 5 counted wrong guesses", counted)
	}
	if r := cb.AllowInvalidRequests().Post("/api/v1/auth/register/phone/complete", map[string]any{"phone": phone, "code": code, "password": testPassword}); r.Status == http.StatusCreated {
		t.Fatal("the right code worked after the guesses")
	}
}

// TestOTPFailsClosedWithoutRedis runs gatehouse on a Redis server of the test's own, stops that
// Redis in the middle, and checks that codes can neither be issued nor accepted (503).
func TestOTPFailsClosedWithoutRedis(t *testing.T) {
	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed; this test starts and stops a Redis of its own")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(redisServer, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the test's Redis did not start")
		}
	}
	srv := startServer(t, map[string]string{"GATEHOUSE_REDIS_URL": "redis://" + addr + "/0"})
	c := apitest.NewClient(t, srv.URL)
	bad := c.AllowInvalidRequests()
	const phone = "+96550050000"
	if r := c.Post("/api/v1/auth/register/phone/start", map[string]any{"phone": phone}); r.Status != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.Status, r.Body)
	}
	code := waitSMS(t, c, phone, 0)
	stop()
	r := bad.Post("/api/v1/auth/register/phone/complete", map[string]any{"phone": phone, "code": code, "password": testPassword})
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("complete with Redis down = %d %s", r.Status, r.Body)
	}
	if r := bad.Post("/api/v1/auth/register/phone/start", map[string]any{"phone": "+96550050001"}); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("start with Redis down = %d %s", r.Status, r.Body)
	}
	if r := bad.Post("/api/v1/auth/login", map[string]any{"identifier": phone, "password": testPassword}); r.Status == http.StatusOK {
		t.Fatal("an account was created although its code could not be checked")
	}
}

// TestPhoneChange: a recently signed-in account changes its number with a code sent to the new
// number; the old number is told.
func TestPhoneChange(t *testing.T) {
	srv := startServer(t, map[string]string{"GATEHOUSE_OTP_DEFAULT_REGION": "KW"})
	c := apitest.NewClient(t, srv.URL)
	const oldPhone, newPhone = "+96550060000", "+96550060001"
	c.Post("/api/v1/auth/register/phone/start", map[string]any{"phone": oldPhone})
	code := waitSMS(t, c, oldPhone, 0)
	r := c.Post("/api/v1/auth/register/phone/complete", map[string]any{"phone": oldPhone, "code": code, "password": testPassword})
	var tk tokens
	r.JSON(t, &tk)
	if r.Status != http.StatusCreated {
		t.Fatalf("sign-up = %d %s", r.Status, r.Body)
	}
	if r := c.Do(http.MethodPost, "/api/v1/account/phone/start", map[string]any{"phone": newPhone}, bearer(tk.AccessToken)); r.Status != http.StatusAccepted {
		t.Fatalf("phone change start = %d %s", r.Status, r.Body)
	}
	code = waitSMS(t, c, newPhone, 0)
	r = c.Do(http.MethodPost, "/api/v1/account/phone/complete", map[string]any{"phone": newPhone, "code": code}, bearer(tk.AccessToken))
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), newPhone) {
		t.Fatalf("phone change complete = %d %s", r.Status, r.Body)
	}
	// The old number got a notice (a second message, without a code).
	deadline := time.Now().Add(15 * time.Second)
	for len(smsTo(t, c, oldPhone)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the old number was not told of the change")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := login(t, c, newPhone, testPassword); got.Account.ID != tk.Account.ID {
		t.Fatal("the new number does not sign in to the account")
	}
}
