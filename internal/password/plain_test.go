package password

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestPlainRedacted(t *testing.T) {
	const secret = "hunter2-s3cret"
	p := Plain(secret)

	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("sign in", "password", p, slog.Any("request", struct{ Password Plain }{p}))
	logger.Info("sign in", slog.Group("body", "password", p))
	slog.New(slog.NewTextHandler(&buf, nil)).Info("sign in", "password", p)

	for _, s := range []string{
		buf.String(),
		fmt.Sprint(p), fmt.Sprintf("%v %s %q %x %#v %+v", p, p, p, p, p, p),
		fmt.Sprintf("%v %+v %#v", struct{ Password Plain }{p}, struct{ Password Plain }{p}, struct{ Password Plain }{p}),
		mustJSON(t, struct{ Password Plain }{p}),
	} {
		if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
			t.Fatalf("output reveals the password: %s", s)
		}
		if !strings.Contains(s, Redacted) {
			t.Fatalf("output lacks %q: %s", Redacted, s)
		}
	}

	var req struct{ Password Plain }
	if err := json.Unmarshal([]byte(`{"Password":"`+secret+`"}`), &req); err != nil {
		t.Fatal(err)
	}
	if string(req.Password) != secret {
		t.Fatalf("decoded %q, want the password itself", string(req.Password))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
