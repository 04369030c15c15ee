package account_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/otp"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/session"
	"github.com/gatehouse/gatehouse/internal/sms"
)

// textLog is the tests' SMSQueue: it queues through sms.Queue, so that the SMS templates check the
// purpose and data of every message and the SMS worker delivers it to the dev outbox, and keeps a
// copy of each message so that tests can read codes and check that nothing was sent without waiting.
type textLog struct {
	sealer *seal.Sealer
	queue  jobs.Queue // for messages queued on their own (tx nil)
	mu     sync.Mutex
	msgs   []account.SMS
}

var _ account.SMSQueue = (*textLog)(nil)

func (l *textLog) QueueSMS(ctx context.Context, tx records.Tx, m account.SMS) error {
	var q sms.QueueTx = l.queue
	if tx != nil {
		q = tx
	}
	if err := sms.Queue(ctx, q, l.sealer, sms.Outgoing(m)); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, m)
	return nil
}

// find returns the messages queued to the number with the purpose ("" for any), oldest first.
func (l *textLog) find(to, purpose string) []account.SMS {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []account.SMS
	for _, m := range l.msgs {
		if m.To == to && (purpose == "" || m.Purpose == purpose) {
			out = append(out, m)
		}
	}
	return out
}

// code returns the code of the newest message to the number with the purpose.
func (l *textLog) code(t testing.TB, to, purpose string) string {
	t.Helper()
	ms := l.find(to, purpose)
	if len(ms) == 0 {
		t.Fatalf("no %s text message to %s", purpose, to)
	}
	return ms[len(ms)-1].Data[account.SMSKeyCode]
}

// newOTP returns an engine over the env's ephemeral store with the tests' key, adjusted by mod.
func (e *env) newOTP(t testing.TB, mod func(*otp.Options)) *otp.Engine {
	t.Helper()
	o := otp.Options{Key: []byte("otp-test-key-0123456789abcdef-0123456789"), Now: e.clock.Now}
	if mod != nil {
		mod(&o)
	}
	eng, err := otp.NewEngine(e.eph, o)
	if err != nil {
		t.Fatalf("otp.NewEngine: %v", err)
	}
	return eng
}

// client is a client at the address 192.0.2.n (each test's per-IP quota allows 10 codes an hour).
func client(n int) session.ClientMeta {
	m := firefox
	m.IP = fmt.Sprintf("192.0.2.%d", n)
	return m
}

// withPhone returns a create modifier giving the account a verified phone number.
func withPhone(e164 string) func(*gatehouse.Account) {
	return func(a *gatehouse.Account) {
		a.Phone = e164
		a.PhoneVerifiedAt = epoch
	}
}

// wrongCode returns a well-formed code other than code.
func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// wantLimit fails unless err is an *otp.LimitError itself (not wrapped: the HTTP layer reads its
// headers from it) with the code and reason.
func wantLimit(t testing.TB, what string, err error, code, reason string) *otp.LimitError {
	t.Helper()
	le, ok := err.(*otp.LimitError)
	if !ok {
		t.Fatalf("%s: err = %T %v, want an *otp.LimitError", what, err, err)
	}
	if le.Err.Code != code || le.Err.Reason != reason {
		t.Fatalf("%s: err = %s/%s, want %s/%s", what, le.Err.Code, le.Err.Reason, code, reason)
	}
	if le.RetryAfterSeconds() < 1 {
		t.Errorf("%s: Retry-After %d", what, le.RetryAfterSeconds())
	}
	return le
}

// sameError fails unless the two errors are identical in value and text.
func sameError(t testing.TB, what string, got, want error) {
	t.Helper()
	if !reflect.DeepEqual(got, want) || got.Error() != want.Error() {
		t.Errorf("%s: err = %#v (%v), want the same as %#v (%v)", what, got, got, want, want)
	}
}

// waitText waits until the SMS worker has delivered a text message to the number holding want.
func (e *env) waitText(t testing.TB, to, want string) mail.OutboxMessage {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		for _, m := range e.outbox.Messages() {
			if m.Channel == mail.ChannelSMS && m.To == to && strings.Contains(m.Text, want) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no text message to %s holding %q after %v", to, want, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRegisterPhone(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		const number = "+96550000001"
		res, err := e.svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+965 5000 0001", Locale: "ar-KW"}, firefox)
		if err != nil {
			t.Fatalf("RegisterPhoneStart: %v", err)
		}
		wantRL := otp.RateLimitInfo{Policy: otp.PolicyPhone, Limit: 3, Window: time.Hour, Remaining: 2, Reset: time.Hour}
		if res.ExpiresIn != otp.DefaultTTL || res.ResendAfter != otp.DefaultResendCooldown || res.RateLimit != wantRL {
			t.Errorf("StartResult = %+v", res)
		}
		msgs := e.texts.find(number, "")
		if len(msgs) != 1 {
			t.Fatalf("texts to %s = %+v, want one", number, msgs)
		}
		m := msgs[0]
		if m.Purpose != account.SMSRegister || m.Locale != "ar-KW" || m.Data[account.SMSKeyApp] != account.DefaultAppName ||
			m.Data[account.SMSKeyMinutes] != "5" || len(m.Data[account.SMSKeyCode]) != 6 || !m.ExpiresAt.Equal(epoch.Add(otp.DefaultTTL)) {
			t.Errorf("text = %+v", m)
		}
		code := m.Data[account.SMSKeyCode]
		// The message goes out through the job queue, in Arabic.
		if txt := e.waitText(t, number, code).Text; !strings.Contains(txt, "Gatehouse") || !strings.ContainsAny(txt, "رمز") {
			t.Errorf("delivered text = %q", txt)
		}

		e.clock.Advance(time.Minute)
		tk, err := e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{
			Phone: "0096550000001", Code: code, Password: goodPassword, Name: "Layla", Email: "layla@example.com", Locale: "ar",
		}, firefox)
		if err != nil {
			t.Fatalf("RegisterPhoneComplete: %v", err)
		}
		a := tk.Account
		now := epoch.Add(time.Minute)
		if a.Phone != number || !a.PhoneVerifiedAt.Equal(now) || a.Email != "layla@example.com" || !a.EmailVerifiedAt.IsZero() ||
			a.Name != "Layla" || a.Locale != "ar" || a.PasswordHash != "" || a.Status != gatehouse.AccountActive {
			t.Errorf("account = %+v", a)
		}
		if stored := e.get(t, a.ID); stored.Phone != number || stored.PasswordHash == "" {
			t.Errorf("stored account = %+v", stored)
		}
		if !slices.Equal(tk.Session.AMR, []string{account.AMRSMS}) || tk.Session.AccountID != a.ID || tk.RefreshToken == "" {
			t.Errorf("session = %+v", tk.Session)
		}
		claims, err := e.tokens.Verify(tk.AccessToken)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if claims.Subject != a.ID || !slices.Equal(claims.AMR, []string{"sms"}) {
			t.Errorf("claims = %+v", claims)
		}
		if n := len(e.deliveries(t, "layla@example.com", mail.TemplateVerifyEmail)); n != 1 {
			t.Errorf("%d verification emails, want 1", n)
		}
		if ev := e.audit.last(t, audit.ActionAccountRegistered); ev.SubjectID != a.ID || ev.Data["method"] != "phone" || ev.Data["email"] != true {
			t.Errorf("registered event = %+v", ev)
		}
		if ev := e.audit.last(t, audit.ActionSessionLogin); ev.SubjectID != a.ID || ev.SessionID != tk.Session.ID {
			t.Errorf("login event = %+v", ev)
		}
		// The email can be verified with the code sent to it.
		_, vcode := e.verification(t, "layla@example.com")
		if _, err := e.svc.VerifyEmail(t.Context(), account.VerifyInput{Email: "layla@example.com", Code: vcode}); err != nil {
			t.Errorf("VerifyEmail: %v", err)
		}

		// The code is used up.
		_, err = e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{Phone: number, Code: code, Password: goodPassword}, firefox)
		wantError(t, "second complete", err, gatehouse.EINVALID, otp.ReasonExpired)

		// Every written form of the number signs in to the account with the password.
		for _, id := range []string{"+965 5000 0001", "0096550000001", "+96550000001", "5000 0001", "٥٠٠٠٠٠٠١"} {
			tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: id, Password: goodPassword}, firefox)
			if err != nil {
				t.Errorf("Login(%q): %v", id, err)
				continue
			}
			if tk.Account.ID != a.ID || !slices.Equal(tk.Session.AMR, []string{"pwd"}) {
				t.Errorf("Login(%q) = account %s, amr %v", id, tk.Account.ID, tk.Session.AMR)
			}
		}
	})
}

func TestLoginByPhoneForms(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, withPhone("+96560001234"))
		for _, id := range []string{"+965 6000 1234", "0096560001234", "+96560001234", "6000-1234", "(+965) 6000 1234"} {
			tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: id, Password: goodPassword}, firefox)
			if err != nil {
				t.Errorf("Login(%q): %v", id, err)
				continue
			}
			if tk.Account.ID != a.ID {
				t.Errorf("Login(%q) signed in %s, want %s", id, tk.Account.ID, a.ID)
			}
		}
		// Numbers that parse to no account, and text that is no number, are unknown accounts.
		for _, id := range []string{"+96560001235", "12", "phone"} {
			_, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: id, Password: goodPassword}, firefox)
			wantError(t, id, err, gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials)
			if ev := e.audit.last(t, audit.ActionSessionLoginFailed); ev.Reason != account.FailureUnknownAccount {
				t.Errorf("%s: audit = %+v", id, ev)
			}
		}
	})
}

func TestRegisterPhoneExistingNumber(t *testing.T) {
	eachBackend(t, func(o *account.Options) { o.NotifyExistingBySMS = true }, func(t *testing.T, e *env) {
		owner := e.create(t, func(a *gatehouse.Account) { withPhone("+96550000002")(a); a.Locale = "ar" })
		fresh, err := e.svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+96550000003"}, client(1))
		if err != nil {
			t.Fatalf("start, new number: %v", err)
		}
		taken, err := e.svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+965 5000 0002"}, client(2))
		if err != nil {
			t.Fatalf("start, taken number: %v", err)
		}
		if !reflect.DeepEqual(fresh, taken) {
			t.Errorf("answers differ: new %+v, taken %+v", fresh, taken)
		}
		// The owner is told, in their language; no code goes out.
		msgs := e.texts.find(owner.Phone, "")
		if len(msgs) != 1 || msgs[0].Purpose != account.SMSAccountExists || msgs[0].Locale != "ar" || msgs[0].Data[account.SMSKeyCode] != "" {
			t.Errorf("texts to the owner = %+v", msgs)
		}
		ev := e.audit.last(t, account.ActionRegisterExistingPhone)
		if ev.SubjectID != owner.ID || ev.Reason != account.ReasonPhoneTaken || ev.Data["sms_sent"] != true {
			t.Errorf("audit event = %+v", ev)
		}
		// Completing the sign-up of the taken number fails like a wrong code for the new one.
		newCode := e.texts.code(t, "+96550000003", account.SMSRegister)
		_, errNew := e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{Phone: "+96550000003", Code: wrongCode(newCode), Password: goodPassword}, firefox)
		_, errTaken := e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{Phone: "+96550000002", Code: "000000", Password: goodPassword}, firefox)
		wantError(t, "wrong code", errNew, gatehouse.EINVALID, otp.ReasonInvalid)
		sameError(t, "taken number", errTaken, errNew)

		// Without NotifyExistingBySMS nothing at all goes to the number; the answer is still the same.
		quiet := e.service(t, nil)
		other := e.create(t, withPhone("+96550000004"))
		fresh, err = quiet.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+96550000005"}, client(3))
		if err != nil {
			t.Fatal(err)
		}
		taken, err = quiet.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+96550000004"}, client(4))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fresh, taken) {
			t.Errorf("answers differ: new %+v, taken %+v", fresh, taken)
		}
		if msgs := e.texts.find(other.Phone, ""); len(msgs) != 0 {
			t.Errorf("texts to the owner = %+v", msgs)
		}
		if ev := e.audit.last(t, account.ActionRegisterExistingPhone); ev.SubjectID != other.ID || ev.Data["sms_sent"] != false {
			t.Errorf("audit event = %+v", ev)
		}
		// The cooldown applies to a taken number as to a new one.
		_, errNew = quiet.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+96550000005"}, client(5))
		_, errTaken = quiet.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+96550000004"}, client(6))
		wantLimit(t, "new number again", errNew, gatehouse.ERATELIMITED, otp.ReasonCooldown)
		wantLimit(t, "taken number again", errTaken, gatehouse.ERATELIMITED, otp.ReasonCooldown)
	})
}

func TestCodesAreBoundToPurposeAndNumber(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		const number = "+96550000011"
		if _, err := e.svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: number}, client(1)); err != nil {
			t.Fatal(err)
		}
		code := e.texts.code(t, number, account.SMSRegister)
		signedIn := e.create(t, withPhone("+96550000012"))

		_, err := e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: number, Code: code}, firefox)
		wantError(t, "register code for sign-in", err, gatehouse.EINVALID, otp.ReasonExpired)
		_, err = e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{Phone: "+96550000013", Code: code, Password: goodPassword}, firefox)
		wantError(t, "register code for another number", err, gatehouse.EINVALID, otp.ReasonExpired)
		_, err = e.svc.PhoneChangeComplete(t.Context(), signedIn.ID, e.clock.Now(), number, code)
		wantError(t, "register code for a phone change", err, gatehouse.EINVALID, otp.ReasonExpired)

		// None of that touched the code of the number it was sent to.
		if _, err := e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{Phone: number, Code: code, Password: goodPassword}, firefox); err != nil {
			t.Fatalf("RegisterPhoneComplete: %v", err)
		}
	})
}

func TestRegisterPhoneCompleteChecksFieldsBeforeTheCode(t *testing.T) {
	e := newEnv(t, backends()[0], nil)
	const number = "+96550000021"
	if _, err := e.svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: number}, firefox); err != nil {
		t.Fatal(err)
	}
	code := e.texts.code(t, number, account.SMSRegister)
	for _, tc := range []struct {
		name   string
		in     account.PhoneRegisterInput
		fields []string
	}{
		{"bad number", account.PhoneRegisterInput{Phone: "+965 12", Code: code, Password: goodPassword}, []string{"phone"}},
		{"no code", account.PhoneRegisterInput{Phone: number, Code: " ", Password: goodPassword}, []string{"code"}},
		{"bad email", account.PhoneRegisterInput{Phone: number, Code: code, Password: goodPassword, Email: "not-an-address"}, []string{"email"}},
		{"bad locale", account.PhoneRegisterInput{Phone: number, Code: code, Password: goodPassword, Locale: "!!"}, []string{"locale"}},
		{"common password", account.PhoneRegisterInput{Phone: number, Code: code, Password: "password123"}, []string{"password"}},
		{"password is the number", account.PhoneRegisterInput{Phone: number, Code: code, Password: "my number 96550000021 x"}, []string{"password"}},
		{"several", account.PhoneRegisterInput{Phone: "x", Code: code, Password: goodPassword, Name: "a\nb", Email: "@"}, []string{"email", "name", "phone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.RegisterPhoneComplete(t.Context(), tc.in, firefox)
			if gatehouse.ErrorCode(err) != gatehouse.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			if got := fieldErrors(err); !slices.Equal(got, tc.fields) {
				t.Errorf("fields = %q, want %q (%v)", got, tc.fields, err)
			}
		})
	}
	_, err := e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{Phone: "+965 12", Code: code, Password: goodPassword}, firefox)
	if ge := (*gatehouse.Error)(nil); !errors.As(err, &ge) || ge.Reason != "invalid_phone" {
		t.Errorf("bad number: err = %v, want reason invalid_phone", err)
	}
	// The code survived every refusal.
	if _, err := e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{Phone: number, Code: code, Password: goodPassword}, firefox); err != nil {
		t.Fatalf("RegisterPhoneComplete: %v", err)
	}
}

func TestRegisterPhoneTakenMeanwhile(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		const number = "+96550000031"
		if _, err := e.svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: number}, firefox); err != nil {
			t.Fatal(err)
		}
		code := e.texts.code(t, number, account.SMSRegister)
		e.create(t, withPhone(number))
		_, err := e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{Phone: number, Code: code, Password: goodPassword}, firefox)
		wantError(t, "taken meanwhile", err, gatehouse.ECONFLICT, account.ReasonPhoneTaken)
	})
}

func TestRegisterPhoneWithTakenEmail(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		owner := e.create(t, nil)
		const number = "+96550000041"
		if _, err := e.svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: number}, firefox); err != nil {
			t.Fatal(err)
		}
		code := e.texts.code(t, number, account.SMSRegister)
		tk, err := e.svc.RegisterPhoneComplete(t.Context(), account.PhoneRegisterInput{
			Phone: number, Code: code, Password: goodPassword, Email: strings.ToUpper(owner.Email),
		}, firefox)
		if err != nil {
			t.Fatalf("RegisterPhoneComplete: %v", err)
		}
		if tk.Account.Email != "" || tk.Account.Phone != number {
			t.Errorf("account = %+v, want the number without the taken address", tk.Account)
		}
		if n := len(e.deliveries(t, owner.Email, mail.TemplateRegisterExisting)); n != 1 {
			t.Errorf("%d register_existing emails to the owner, want 1", n)
		}
		if n := len(e.deliveries(t, strings.ToUpper(owner.Email), mail.TemplateVerifyEmail)) + len(e.deliveries(t, owner.Email, mail.TemplateVerifyEmail)); n != 0 {
			t.Errorf("%d verification emails, want none", n)
		}
		if ev := e.audit.last(t, audit.ActionAccountRegistered); ev.Data["email"] != false {
			t.Errorf("registered event = %+v", ev)
		}
	})
}

func TestCodeLimitsSurfaceAsLimitErrors(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		svc := e.serviceWith(t, e.newOTP(t, func(o *otp.Options) {
			o.Limits.PerIPPerHour = 2
			o.Limits.AllowCountries = []string{"KW"}
		}), nil)
		ip := client(1)
		if _, err := svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+96550000051"}, ip); err != nil {
			t.Fatal(err)
		}
		_, err := svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+96550000051"}, client(2))
		le := wantLimit(t, "cooldown", err, gatehouse.ERATELIMITED, otp.ReasonCooldown)
		if le.RetryAfterSeconds() > 60 || le.RateLimitPolicyField() == "" {
			t.Errorf("cooldown: Retry-After %d, policy %q", le.RetryAfterSeconds(), le.RateLimitPolicyField())
		}
		if _, err := svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: "+96550000052"}, ip); err != nil {
			t.Fatal(err)
		}
		_, err = svc.PhoneChangeStart(t.Context(), e.create(t, nil).ID, e.clock.Now(), account.PhoneCodeRequest{Phone: "+96550000053"}, ip)
		wantLimit(t, "IP quota", err, gatehouse.ERATELIMITED, otp.ReasonIPQuota)
		_, err = svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+966501234567"}, client(3))
		if ge := wantError(t, "country", err, gatehouse.EFORBIDDEN, otp.ReasonCountryBlocked); ge.Field != "phone" {
			t.Errorf("country refusal of a sign-up names field %q, want phone", ge.Field)
		}
		// A sign-in code request names the number "identifier"; so does its refusal.
		_, err = svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: "+966501234568"}, client(5))
		if ge := wantError(t, "country at sign-in", err, gatehouse.EFORBIDDEN, otp.ReasonCountryBlocked); ge.Field != "identifier" {
			t.Errorf("country refusal of a sign-in code names field %q, want identifier", ge.Field)
		}
		// An unknown identifier meets the same limits as a known one.
		_, err = svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: "+96550000052"}, client(4))
		wantLimit(t, "sign-in code again", err, gatehouse.ERATELIMITED, otp.ReasonCooldown)
		if n := len(e.texts.find("+96550000053", "")) + len(e.texts.find("+966501234567", "")); n != 0 {
			t.Errorf("%d texts sent over the limits", n)
		}
	})
}

func TestLoginOTPBySMS(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, func(a *gatehouse.Account) { withPhone("+96560001234")(a); a.Locale = "ar" })
		known, err := e.svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: "+965 6000 1234", Locale: "en"}, client(1))
		if err != nil {
			t.Fatalf("LoginOTPStart: %v", err)
		}
		unknown, err := e.svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: "+96560009999", Locale: "en"}, client(2))
		if err != nil {
			t.Fatalf("LoginOTPStart, unknown: %v", err)
		}
		if !reflect.DeepEqual(known, unknown) {
			t.Errorf("answers differ: known %+v, unknown %+v", known, unknown)
		}
		msgs := e.texts.find(a.Phone, "")
		if len(msgs) != 1 || msgs[0].Purpose != account.SMSLogin || msgs[0].Locale != "ar" {
			t.Fatalf("texts = %+v", msgs)
		}
		if msgs := e.texts.find("+96560009999", ""); len(msgs) != 0 {
			t.Errorf("texts to an unknown number = %+v", msgs)
		}
		if evs := e.audit.find(account.ActionLoginCodeRequested, a.ID); len(evs) != 1 || evs[0].Outcome != audit.OutcomeSuccess || evs[0].Data["channel"] != "sms" {
			t.Errorf("code request events = %+v", evs)
		}
		if ev := e.audit.last(t, account.ActionLoginCodeRequested); ev.Reason != account.FailureUnknownAccount || ev.SubjectID != "" {
			t.Errorf("unknown code request event = %+v", ev)
		}
		code := msgs[0].Data[account.SMSKeyCode]

		// A wrong code for the known number and any code for the unknown one answer alike.
		_, errKnown := e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: "0096560001234", Code: wrongCode(code)}, firefox)
		wantError(t, "wrong code", errKnown, gatehouse.EINVALID, otp.ReasonInvalid)
		if ev := e.audit.last(t, audit.ActionSessionLoginFailed); ev.Reason != otp.ReasonInvalid || ev.SubjectID != a.ID {
			t.Errorf("wrong code event = %+v", ev)
		}
		_, errUnknown := e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: "+96560009999", Code: "000000"}, firefox)
		sameError(t, "unknown number", errUnknown, errKnown)
		if ev := e.audit.last(t, audit.ActionSessionLoginFailed); ev.Reason != otp.ReasonInvalid || ev.SubjectID != "" {
			t.Errorf("unknown number event = %+v", ev)
		}
		// Without a code requested, known and unknown numbers answer alike too.
		other := e.create(t, withPhone("+96560002222"))
		_, errKnown = e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: other.Phone, Code: "123456"}, firefox)
		_, errUnknown = e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: "+96560003333", Code: "123456"}, firefox)
		wantError(t, "no code", errKnown, gatehouse.EINVALID, otp.ReasonExpired)
		sameError(t, "no code, unknown", errUnknown, errKnown)

		e.clock.Advance(time.Minute)
		tk, err := e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: "6000 1234", Code: " " + code + " "}, client(7))
		if err != nil {
			t.Fatalf("LoginOTPComplete: %v", err)
		}
		if tk.Account.ID != a.ID || !slices.Equal(tk.Session.AMR, []string{"sms"}) || tk.Session.IP != client(7).IP {
			t.Errorf("tokens = account %s, session %+v", tk.Account.ID, tk.Session)
		}
		claims, err := e.tokens.Verify(tk.AccessToken)
		if err != nil || !slices.Equal(claims.AMR, []string{"sms"}) || !claims.AuthTime.Equal(epoch.Add(time.Minute)) {
			t.Errorf("claims = %+v, %v", claims, err)
		}
		if ev := e.audit.last(t, audit.ActionSessionLogin); ev.SubjectID != a.ID || ev.Data["channel"] != "sms" {
			t.Errorf("login event = %+v", ev)
		}
		_, err = e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: a.Phone, Code: code}, firefox)
		wantError(t, "used code", err, gatehouse.EINVALID, otp.ReasonExpired)
	})
}

func TestLoginOTPByEmail(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, nil)
		known, err := e.svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: strings.ToUpper(a.Email)}, client(1))
		if err != nil {
			t.Fatalf("LoginOTPStart: %v", err)
		}
		unknown, err := e.svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: "nobody@example.com"}, client(2))
		if err != nil {
			t.Fatalf("LoginOTPStart, unknown: %v", err)
		}
		if !reflect.DeepEqual(known, unknown) {
			t.Errorf("answers differ: known %+v, unknown %+v", known, unknown)
		}
		if n := len(e.deliveries(t, "nobody@example.com", mail.TemplateLoginCode)); n != 0 {
			t.Errorf("%d emails to an unknown address", n)
		}
		ds := e.deliveries(t, a.Email, mail.TemplateLoginCode)
		if len(ds) != 1 {
			t.Fatalf("%d sign-in code emails, want 1", len(ds))
		}
		msg := e.message(t, ds[0])
		cm := codeRE.FindStringSubmatch(msg.Text)
		if cm == nil || !strings.Contains(msg.Text, "Hello Bob,") || !strings.Contains(msg.Text, "5 minutes") {
			t.Fatalf("email:\n%s", msg.Text)
		}
		// The address in another case is the same subject.
		tk, err := e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: " " + a.Email + " ", Code: cm[1]}, firefox)
		if err != nil {
			t.Fatalf("LoginOTPComplete: %v", err)
		}
		if tk.Account.ID != a.ID || !slices.Equal(tk.Session.AMR, []string{"otp"}) {
			t.Errorf("tokens = account %s, session %+v", tk.Account.ID, tk.Session)
		}
		_, err = e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: "nobody@example.com", Code: cm[1]}, firefox)
		wantError(t, "unknown address", err, gatehouse.EINVALID, otp.ReasonInvalid)
	})
}

func TestLoginOTPRefusals(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		unverifiedPhone := e.create(t, func(a *gatehouse.Account) { a.Phone = "+96560004444" })
		unverifiedEmail := e.create(t, func(a *gatehouse.Account) { a.EmailVerifiedAt = time.Time{} })
		locked := e.create(t, func(a *gatehouse.Account) { withPhone("+96560005555")(a); a.Status = gatehouse.AccountLocked })
		disabled := e.create(t, func(a *gatehouse.Account) { withPhone("+96560006666")(a); a.Status = gatehouse.AccountDisabled })

		// No code goes to a number or address the account has not proved.
		for i, id := range []string{unverifiedPhone.Phone, unverifiedEmail.Email} {
			if _, err := e.svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: id}, client(i+1)); err != nil {
				t.Fatalf("LoginOTPStart(%s): %v", id, err)
			}
			ev := e.audit.last(t, account.ActionLoginCodeRequested)
			if ev.Reason != account.FailureUnverifiedIdentifier || ev.SubjectID == "" {
				t.Errorf("%s: event = %+v", id, ev)
			}
		}
		if len(e.texts.find(unverifiedPhone.Phone, "")) != 0 || len(e.deliveries(t, unverifiedEmail.Email, mail.TemplateLoginCode)) != 0 {
			t.Error("a code went to an unverified identifier")
		}
		// Even the right code (read from the engine here) does not open such an account.
		code, _, err := e.otp.Issue(t.Context(), otp.PurposeLogin, unverifiedPhone.Phone)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: unverifiedPhone.Phone, Code: code}, firefox)
		wantError(t, "unverified number", err, gatehouse.EINVALID, otp.ReasonInvalid)
		if ev := e.audit.last(t, audit.ActionSessionLoginFailed); ev.Reason != account.FailureUnverifiedIdentifier || ev.SubjectID != unverifiedPhone.ID {
			t.Errorf("event = %+v", ev)
		}
		// Likewise a right guess for an unknown number.
		code, _, err = e.otp.Issue(t.Context(), otp.PurposeLogin, "+96560007777")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: "+96560007777", Code: code}, firefox)
		wantError(t, "unknown number, right code", err, gatehouse.EINVALID, otp.ReasonInvalid)

		// A locked or disabled account gets its code, and learns why it cannot sign in only after it.
		for i, tc := range []struct {
			a      *gatehouse.Account
			reason string
		}{{locked, account.ReasonAccountLocked}, {disabled, account.ReasonAccountDisabled}} {
			if _, err := e.svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: tc.a.Phone}, client(10+i)); err != nil {
				t.Fatal(err)
			}
			code := e.texts.code(t, tc.a.Phone, account.SMSLogin)
			_, err := e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: tc.a.Phone, Code: wrongCode(code)}, firefox)
			wantError(t, tc.reason+", wrong code", err, gatehouse.EINVALID, otp.ReasonInvalid)
			_, err = e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{Identifier: tc.a.Phone, Code: code}, firefox)
			wantError(t, tc.reason, err, gatehouse.EFORBIDDEN, tc.reason)
			if ev := e.audit.last(t, audit.ActionSessionLoginFailed); ev.Reason != tc.reason || ev.SubjectID != tc.a.ID {
				t.Errorf("event = %+v", ev)
			}
		}
		if n := len(e.audit.find(audit.ActionSessionLogin, "")); n != 0 {
			t.Errorf("%d sign-ins succeeded", n)
		}

		// Malformed input.
		_, err = e.svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: "+965 12"}, firefox)
		if ge := wantError(t, "bad number", err, gatehouse.EINVALID, "invalid_phone"); ge.Field != "identifier" {
			t.Errorf("field = %q", ge.Field)
		}
		_, err = e.svc.LoginOTPStart(t.Context(), account.LoginCodeRequest{Identifier: "a@b@c"}, firefox)
		if ge := wantError(t, "bad address", err, gatehouse.EINVALID, account.ReasonValidationFailed); ge.Field != "identifier" {
			t.Errorf("field = %q", ge.Field)
		}
		_, err = e.svc.LoginOTPComplete(t.Context(), account.LoginCodeInput{}, firefox)
		if got := fieldErrors(err); !slices.Equal(got, []string{"code", "identifier"}) {
			t.Errorf("fields = %q", got)
		}
	})
}

func TestPhoneChange(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		const oldNumber, newNumber = "+96550000061", "+96550000062"
		a := e.create(t, func(a *gatehouse.Account) { withPhone(oldNumber)(a); a.Locale = "ar" })
		if _, err := e.svc.Profile(t.Context(), a.ID); err != nil { // cached
			t.Fatal(err)
		}
		authTime := e.clock.Now()
		e.clock.Advance(2 * time.Minute)

		for _, at := range []time.Time{{}, authTime.Add(-9 * time.Minute)} {
			_, err := e.svc.PhoneChangeStart(t.Context(), a.ID, at, account.PhoneCodeRequest{Phone: newNumber}, firefox)
			wantError(t, "old sign-in", err, gatehouse.EFORBIDDEN, account.ReasonReauthRequired)
			_, err = e.svc.PhoneChangeComplete(t.Context(), a.ID, at, newNumber, "123456")
			wantError(t, "old sign-in", err, gatehouse.EFORBIDDEN, account.ReasonReauthRequired)
		}
		_, err := e.svc.PhoneChangeStart(t.Context(), a.ID, authTime, account.PhoneCodeRequest{Phone: "5000 0061"}, firefox)
		wantError(t, "own number", err, gatehouse.EINVALID, account.ReasonValidationFailed)
		_, err = e.svc.PhoneChangeStart(t.Context(), "01890000-0000-7000-8000-000000000000", authTime, account.PhoneCodeRequest{Phone: newNumber}, firefox)
		wantError(t, "unknown account", err, gatehouse.ENOTFOUND, "")

		res, err := e.svc.PhoneChangeStart(t.Context(), a.ID, authTime, account.PhoneCodeRequest{Phone: "+965 5000 0062"}, firefox)
		if err != nil {
			t.Fatalf("PhoneChangeStart: %v", err)
		}
		if res.ExpiresIn != otp.DefaultTTL || res.ResendAfter != otp.DefaultResendCooldown {
			t.Errorf("StartResult = %+v", res)
		}
		msgs := e.texts.find(newNumber, "")
		if len(msgs) != 1 || msgs[0].Purpose != account.SMSPhoneChange || msgs[0].Locale != "ar" {
			t.Fatalf("texts to the new number = %+v", msgs)
		}
		code := msgs[0].Data[account.SMSKeyCode]
		if ev := e.audit.last(t, account.ActionPhoneChangeRequested); ev.SubjectID != a.ID || ev.Outcome != audit.OutcomeSuccess {
			t.Errorf("request event = %+v", ev)
		}

		// The code is bound to the account: another one cannot use it.
		b := e.create(t, nil)
		_, err = e.svc.PhoneChangeComplete(t.Context(), b.ID, e.clock.Now(), newNumber, code)
		wantError(t, "another account", err, gatehouse.EINVALID, otp.ReasonExpired)
		_, err = e.svc.PhoneChangeComplete(t.Context(), a.ID, authTime, newNumber, wrongCode(code))
		wantError(t, "wrong code", err, gatehouse.EINVALID, otp.ReasonInvalid)

		got, err := e.svc.PhoneChangeComplete(t.Context(), a.ID, authTime, "0096550000062", code)
		if err != nil {
			t.Fatalf("PhoneChangeComplete: %v", err)
		}
		now := epoch.Add(2 * time.Minute)
		if got.Phone != newNumber || !got.PhoneVerifiedAt.Equal(now) || got.PasswordHash != "" {
			t.Errorf("account = %+v", got)
		}
		// The old number is told, in the account's language.
		notice := e.texts.find(oldNumber, "")
		if len(notice) != 1 || notice[0].Purpose != account.SMSPhoneChangedNotice || notice[0].Locale != "ar" || !notice[0].ExpiresAt.IsZero() {
			t.Errorf("texts to the old number = %+v", notice)
		}
		e.waitText(t, oldNumber, "Gatehouse")
		ev := e.audit.last(t, account.ActionPhoneChanged)
		if ev.SubjectID != a.ID || ev.ActorID != a.ID || ev.Data["old_notified"] != true || strings.Contains(fmt.Sprint(ev.Data), newNumber) {
			t.Errorf("changed event = %+v", ev)
		}
		// The cached profile was dropped.
		if p, err := e.svc.Profile(t.Context(), a.ID); err != nil || p.Phone != newNumber {
			t.Errorf("Profile = %+v, %v", p, err)
		}
		// The new number signs in; the old one no longer does.
		if tk, err := e.svc.Login(t.Context(), account.LoginInput{Identifier: "5000 0062", Password: goodPassword}, firefox); err != nil || tk.Account.ID != a.ID {
			t.Errorf("Login with the new number: %v", err)
		}
		_, err = e.svc.Login(t.Context(), account.LoginInput{Identifier: oldNumber, Password: goodPassword}, firefox)
		wantError(t, "old number", err, gatehouse.EUNAUTHENTICATED, account.ReasonInvalidCredentials)
	})
}

func TestPhoneChangeToTakenNumber(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, withPhone("+96550000071"))
		b := e.create(t, withPhone("+96550000072"))
		now := e.clock.Now()
		free, err := e.svc.PhoneChangeStart(t.Context(), a.ID, now, account.PhoneCodeRequest{Phone: "+96550000073"}, client(1))
		if err != nil {
			t.Fatal(err)
		}
		taken, err := e.svc.PhoneChangeStart(t.Context(), a.ID, now, account.PhoneCodeRequest{Phone: b.Phone}, client(2))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(free, taken) {
			t.Errorf("answers differ: free %+v, taken %+v", free, taken)
		}
		if msgs := e.texts.find(b.Phone, ""); len(msgs) != 0 {
			t.Errorf("texts to the other account's number = %+v", msgs)
		}
		if ev := e.audit.last(t, account.ActionPhoneChangeRequested); ev.Reason != account.ReasonPhoneTaken || ev.SubjectID != a.ID {
			t.Errorf("request event = %+v", ev)
		}
		// A number taken between the code and its use.
		code := e.texts.code(t, "+96550000073", account.SMSPhoneChange)
		c := e.create(t, withPhone("+96550000073"))
		_, err = e.svc.PhoneChangeComplete(t.Context(), a.ID, now, "+96550000073", code)
		wantError(t, "taken meanwhile", err, gatehouse.ECONFLICT, account.ReasonPhoneTaken)
		if got := e.get(t, a.ID); got.Phone != "+96550000071" {
			t.Errorf("phone = %s", got.Phone)
		}
		if got := e.get(t, c.ID); got.Phone != "+96550000073" {
			t.Errorf("other phone = %s", got.Phone)
		}
	})
}

func TestPhoneChangeFromNoNumber(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, e *env) {
		a := e.create(t, nil)
		now := e.clock.Now()
		if _, err := e.svc.PhoneChangeStart(t.Context(), a.ID, now, account.PhoneCodeRequest{Phone: "+96550000081"}, firefox); err != nil {
			t.Fatal(err)
		}
		code := e.texts.code(t, "+96550000081", account.SMSPhoneChange)
		got, err := e.svc.PhoneChangeComplete(t.Context(), a.ID, now, "+96550000081", code)
		if err != nil {
			t.Fatalf("PhoneChangeComplete: %v", err)
		}
		if got.Phone != "+96550000081" || got.PhoneVerifiedAt.IsZero() {
			t.Errorf("account = %+v", got)
		}
		if ev := e.audit.last(t, account.ActionPhoneChanged); ev.Data["old_notified"] != false {
			t.Errorf("event = %+v", ev)
		}
		if n := len(e.texts.find("", account.SMSPhoneChangedNotice)); n != 0 {
			t.Errorf("%d notices", n)
		}
	})
}

func TestCodeFlowsNeedTheEngine(t *testing.T) {
	e := newEnv(t, backends()[0], nil)
	deps := account.Deps{
		Store: e.store, Ephemeral: e.eph, Hasher: e.hasher, Policy: password.DefaultPolicy(),
		Tokens: e.tokens, Sessions: e.sessions, Audit: e.audit, Mail: e.mail, OTP: e.otp,
	}
	opts := account.Options{PublicURL: publicURL, CodeKey: []byte("0123456789abcdef")}
	if _, err := account.NewService(deps, opts); err == nil || !strings.Contains(err.Error(), "Deps.SMS") {
		t.Errorf("NewService with OTP but no SMS: %v", err)
	}
	deps.OTP = nil
	svc, err := account.NewService(deps, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "+96550000091"}, firefox)
	if gatehouse.ErrorCode(err) != gatehouse.EINTERNAL {
		t.Errorf("RegisterPhoneStart without an engine: %v", err)
	}
	// Sign-in with a number and a password needs no engine.
	a := e.create(t, withPhone("+96550000092"))
	if tk, err := svc.Login(t.Context(), account.LoginInput{Identifier: "+965 5000 0092", Password: goodPassword}, firefox); err != nil || tk.Account.ID != a.ID {
		t.Errorf("Login: %v", err)
	}
}

func TestPhoneOptions(t *testing.T) {
	e := newEnv(t, backends()[0], nil)
	for _, tc := range []struct {
		region string
		want   string // "" for an error
	}{{"", ""}, {"kw", "KW"}, {" US ", "US"}, {"KWT", "!"}, {"K1", "!"}} {
		svc, err := account.NewService(account.Deps{
			Store: e.store, Ephemeral: e.eph, Hasher: e.hasher, Policy: password.DefaultPolicy(),
			Tokens: e.tokens, Sessions: e.sessions, Audit: e.audit, Mail: e.mail,
		}, account.Options{PublicURL: publicURL, CodeKey: []byte("0123456789abcdef"), DefaultRegion: tc.region})
		if tc.want == "!" {
			if err == nil || !strings.Contains(err.Error(), "DefaultRegion") {
				t.Errorf("region %q: err = %v", tc.region, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("region %q: %v", tc.region, err)
		}
		o := svc.Options()
		if o.DefaultRegion != tc.want || o.RecentAuthWindow != account.DefaultRecentAuthWindow || o.AppName != account.DefaultAppName || o.NotifyExistingBySMS {
			t.Errorf("region %q: options = %+v", tc.region, o)
		}
	}
	_, err := account.NewService(account.Deps{
		Store: e.store, Ephemeral: e.eph, Hasher: e.hasher, Policy: password.DefaultPolicy(),
		Tokens: e.tokens, Sessions: e.sessions, Audit: e.audit, Mail: e.mail,
	}, account.Options{PublicURL: publicURL, CodeKey: []byte("0123456789abcdef"), RecentAuthWindow: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "RecentAuthWindow") {
		t.Errorf("negative RecentAuthWindow: err = %v", err)
	}
	// Without a default region only numbers with a country code are read.
	svc := e.service(t, func(o *account.Options) { o.DefaultRegion = "" })
	_, err = svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "5000 0001"}, firefox)
	wantError(t, "national number without a region", err, gatehouse.EINVALID, "invalid_phone")
	if _, err := svc.RegisterPhoneStart(t.Context(), account.PhoneCodeRequest{Phone: "00965 5000 0001"}, firefox); err != nil {
		t.Errorf("00-prefixed number without a region: %v", err)
	}
}

// TestSMSNamesMatchTheSMSPackage keeps the package's copies of internal/sms's names (it cannot
// import internal/sms) in step with them.
func TestSMSNamesMatchTheSMSPackage(t *testing.T) {
	pairs := [][2]string{
		{account.SMSRegister, sms.PurposeRegister},
		{account.SMSLogin, sms.PurposeLogin},
		{account.SMSPhoneChange, sms.PurposePhoneChange},
		{account.SMSPhoneChangedNotice, sms.PurposePhoneChangedNotice},
		{account.SMSAccountExists, sms.PurposeAccountExists},
		{account.SMSKeyApp, sms.KeyApp},
		{account.SMSKeyCode, sms.KeyCode},
		{account.SMSKeyMinutes, sms.KeyMinutes},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("account has %q where sms has %q", p[0], p[1])
		}
	}
}

func TestCodeInputsDoNotLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "in", account.LoginCodeInput{Identifier: "+96550000000", Code: "654321"})
	log.Info("x", "in", account.PhoneRegisterInput{Phone: "+96550000000", Code: "654321", Password: "pw-SECRET"})
	for _, secret := range []string{"654321", "pw-SECRET"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log holds %q: %s", secret, buf.String())
		}
	}
}
