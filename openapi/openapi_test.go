package openapi_test

import (
	"context"
	"encoding/json"
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
