package openapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse/gatehouse/openapi"
)

func TestLoad(t *testing.T) {
	doc, err := openapi.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if doc.Components.Schemas["Problem"] == nil {
		t.Error("the Problem schema is missing")
	}
}

// TestJSON checks that the JSON form is the same document: kin-openapi loads it to an equal value.
func TestJSON(t *testing.T) {
	b, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatal("JSON() is not valid JSON")
	}
	fromJSON, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("load the JSON form: %v", err)
	}
	fromYAML, err := openapi3.NewLoader().LoadFromData(openapi.YAML())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromJSON)
	c, _ := json.Marshal(fromYAML)
	if string(a) != string(c) {
		t.Errorf("the JSON form differs from the YAML document:\n%s\n%s", a, c)
	}
	var head struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(b, &head); err != nil || head.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q (%v), want 3.1.0", head.OpenAPI, err)
	}
}

// TestComponentObjectsAreClosed checks that every object schema of the components forbids unknown
// members: requests with unknown fields are refused (400), and responses carry exactly what is
// documented.
func TestComponentObjectsAreClosed(t *testing.T) {
	doc, err := openapi.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, ref := range doc.Components.Schemas {
		s := ref.Value
		if s == nil || s.Type == nil || !s.Type.Is("object") {
			continue
		}
		if ap := s.AdditionalProperties; ap.Has == nil || *ap.Has || ap.Schema != nil {
			t.Errorf("schema %s: want additionalProperties: false", name)
		}
	}
}

// TestOperations checks what every operation must declare: an operationId, a tag, a default
// (problem) response, and, for the signed-in routes, both the bearer and the cookie scheme.
func TestOperations(t *testing.T) {
	doc, err := openapi.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", name)
			}
			if len(op.Tags) == 0 {
				t.Errorf("%s: no tag", name)
			}
			if op.Responses.Default() == nil {
				t.Errorf("%s: no default response", name)
			}
			if op.Security == nil {
				continue
			}
			schemes := map[string]bool{}
			for _, req := range *op.Security {
				for s := range req {
					schemes[s] = true
				}
			}
			if (schemes["bearerAuth"] || schemes["cookieAuth"]) && !(schemes["bearerAuth"] && schemes["cookieAuth"]) {
				t.Errorf("%s: security %v, want both bearerAuth and cookieAuth", name, schemes)
			}
			if (schemes["bearerAuth"]) && op.Responses.Status(401) == nil {
				t.Errorf("%s: signed-in route without a 401 response", name)
			}
		}
	}
}

// TestSchemas checks the schemas whose rules go beyond listing fields, with the validation
// kin-openapi applies to OpenAPI 3.1 documents.
func TestSchemas(t *testing.T) {
	doc, err := openapi.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	account := map[string]any{
		"id": "0190f5a4-7b7e-7cc2-9c1e-2f3a4b5c6d7e", "status": "active", "roles": []any{"user"},
		"name": "", "locale": "", "email": "ada@example.com", "email_verified": false,
		"phone_verified": false, "created_at": "2026-11-23T14:02:08Z", "updated_at": "2026-11-23T14:02:08Z",
	}
	tests := []struct {
		schema string
		value  string
		ok     bool
	}{
		{"VerifyEmailRequest", `{"token":"abc"}`, true},
		{"VerifyEmailRequest", `{"email":"ada@example.com","code":"048213"}`, true},
		{"VerifyEmailRequest", `{}`, false},
		{"VerifyEmailRequest", `{"email":"ada@example.com"}`, false},
		{"VerifyEmailRequest", `{"token":"abc","code":"048213"}`, false},
		{"VerifyEmailRequest", `{"token":"abc","extra":1}`, false},
		{"Tokens", `{"access_token":"a","refresh_token":"r","token_type":"Bearer","expires_in":900,"account":ACCOUNT}`, true},
		{"Tokens", `{"token_type":"cookie","expires_in":900,"account":ACCOUNT}`, true},
		{"Tokens", `{"access_token":"a","token_type":"Bearer","expires_in":900,"account":ACCOUNT}`, false},
		{"Tokens", `{"access_token":"a","token_type":"cookie","expires_in":900,"account":ACCOUNT}`, false},
		{"Tokens", `{"token_type":"cookie","expires_in":900}`, false},
		{"UpdateAccountRequest", `{"name":null,"locale":"en"}`, true},
		{"UpdateAccountRequest", `{"roles":["admin"]}`, false},
		{"LoginRequest", `{"identifier":"ada@example.com","password":"x","use_cookies":true}`, true},
		{"LoginRequest", `{"identifier":"ada@example.com"}`, false},
		{"JWK", `{"kty":"OKP","crv":"Ed25519","x":"AA","kid":"k","alg":"EdDSA","use":"sig"}`, true},
		{"JWK", `{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"k","alg":"ES256","use":"sig"}`, true},
		{"JWK", `{"kty":"EC","crv":"P-256","x":"AA","kid":"k","alg":"ES256","use":"sig"}`, false},
		{"JWK", `{"kty":"OKP","crv":"Ed25519","x":"AA","kid":"k","alg":"ES256","use":"sig"}`, false},
		{"Account", `ACCOUNT`, true},
		{"Account", `{"id":"x"}`, false},
	}
	acc, err := json.Marshal(account)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		ref := doc.Components.Schemas[tt.schema]
		if ref == nil || ref.Value == nil {
			t.Fatalf("schema %s is missing", tt.schema)
		}
		var v any
		if err := json.Unmarshal([]byte(strings.ReplaceAll(tt.value, "ACCOUNT", string(acc))), &v); err != nil {
			t.Fatalf("%s %s: %v", tt.schema, tt.value, err)
		}
		err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
		if (err == nil) != tt.ok {
			t.Errorf("%s %s: error %v, want ok=%t", tt.schema, tt.value, err, tt.ok)
		}
	}
}
