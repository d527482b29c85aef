package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

type policy struct {
	MinLength        int  `json:"minLength"`
	RequireUppercase bool `json:"requireUppercase"`
}

type body struct {
	Name     string                `json:"name"`
	Count    int                   `json:"count"`
	URIs     []string              `json:"redirectUris"`
	Policy   *policy               `json:"passwordPolicy"`
	Phone    patch.Field[string]   `json:"phone"`
	Branding patch.Field[*policy]  `json:"branding"`
	Meta     map[string]any        `json:"metadata"`
	Limits   patch.Field[[]string] `json:"limits"`
}

func decode(t *testing.T, ct, payload string) (body, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/x", strings.NewReader(payload))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	var b body
	err := httpapi.DecodeJSON(r, &b)
	return b, err
}

func TestDecodeJSONAcceptsValidBody(t *testing.T) {
	b, err := decode(t, "application/json; charset=utf-8", `{"name":"a","count":3,
		"redirectUris":["https://x"],"passwordPolicy":{"minLength":9},"phone":null,
		"metadata":{"k":[1,{"z":null}]},"limits":["a"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "a" || b.Count != 3 || b.Policy.MinLength != 9 || !b.Phone.Set ||
		!b.Phone.Null || b.Branding.Set || len(b.Limits.Value) != 1 {
		t.Fatalf("decoded %+v", b)
	}
}

func TestDecodeJSONRefusesBadBodies(t *testing.T) {
	cases := []struct {
		name, ct, body, detail, field, code string
	}{
		{"malformed", "application/json", `{"name":`, "Malformed JSON body", "", ""},
		{"empty", "application/json", ``, "Malformed JSON body", "", ""},
		{"trailing", "application/json", `{"name":"a"} {}`,
			"Malformed JSON body: unexpected data after the value", "", ""},
		{"content type", "text/plain", `{}`, "Content-Type must be application/json", "", ""},
		{"unknown", "application/json", `{"nmae":"a"}`, "Invalid input", "nmae",
			apperr.CodeUnknownField},
		{"nested unknown", "application/json", `{"passwordPolicy":{"min":1}}`,
			"Invalid input", "passwordPolicy.min", apperr.CodeUnknownField},
		{"duplicate", "application/json", `{"name":"a","name":"b"}`, "Invalid input", "name",
			apperr.CodeInvalidValue},
		{"wrong type", "application/json", `{"count":"3"}`, "Invalid input", "count",
			apperr.CodeInvalidType},
		{"fraction for int", "application/json", `{"count":1.5}`, "Invalid input", "count",
			apperr.CodeInvalidType},
		{"array element", "application/json", `{"redirectUris":["a",2]}`, "Invalid input",
			"redirectUris.1", apperr.CodeInvalidType},
		{"null for non-nullable", "application/json", `{"count":null}`, "Invalid input",
			"count", apperr.CodeInvalidType},
		{"patch wrong type", "application/json", `{"phone":5}`, "Invalid input", "phone",
			apperr.CodeInvalidType},
		{"not an object", "application/json", `[1]`, "Invalid input", "body",
			apperr.CodeInvalidType},
		{"case differs", "application/json", `{"Name":"a"}`, "Invalid input", "Name",
			apperr.CodeUnknownField},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decode(t, c.ct, c.body)
			ae := apperr.As(err)
			if ae == nil || ae.Kind != apperr.Invalid || ae.Detail != c.detail {
				t.Fatalf("got %v, want 400 %q", err, c.detail)
			}
			if c.field == "" {
				return
			}
			if len(ae.Fields) == 0 || ae.Fields[0].Field != c.field ||
				ae.Fields[0].Code != c.code {
				t.Fatalf("fields %+v, want %s %s", ae.Fields, c.field, c.code)
			}
		})
	}
}

func TestDecodeJSONBodyOverLimitIsTooLarge(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/v1/x",
		strings.NewReader(`{"name":"`+strings.Repeat("a", 2000)+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 1024)
	var b body
	if err := httpapi.DecodeJSON(r, &b); !apperr.Is(err, apperr.TooLarge) {
		t.Fatalf("got %v, want too large", err)
	}
}
