package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/apperr"
)

// DecodeJSON reads the request body into dst, a pointer to a struct. It
// refuses, with a 400 naming the member, a body that is not JSON, has
// unknown or duplicate members, values of the wrong type, or data after the
// value. A body over the size limit is a 413. Requiring members and checking
// their values is left to the caller.
func DecodeJSON(r *http.Request, dst any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.New(apperr.TooLarge, "Request body too large")
		}
		return apperr.New(apperr.Invalid, "Malformed JSON body")
	}
	return DecodeBytes(body, dst)
}

// DecodeBytes validates body against dst's type as DecodeJSON does and
// decodes it.
func DecodeBytes(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apperr.New(apperr.Invalid, "Malformed JSON body")
	}
	v := &validator{dec: json.NewDecoder(bytes.NewReader(body))}
	v.dec.UseNumber()
	if err := v.value(reflect.TypeOf(dst).Elem(), ""); err != nil {
		return err
	}
	if _, err := v.dec.Token(); err != io.EOF {
		return apperr.New(apperr.Invalid, "Malformed JSON body: unexpected data after the value")
	}
	if len(v.fields) > 0 {
		return apperr.InvalidInput(v.fields...)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return apperr.New(apperr.Invalid, "Malformed JSON body")
	}
	return nil
}

func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.Invalid, "Content-Type must be application/json")
	}
	return nil
}

// validator walks the token stream of a body beside the Go type it will be
// decoded into, collecting field errors with their dot paths.
type validator struct {
	dec    *json.Decoder
	fields []apperr.FieldError
}

var errMalformed = apperr.New(apperr.Invalid, "Malformed JSON body")

// typed is implemented by wrapper types (patch.Field) that say which type
// their non-null value has.
type typed interface{ ValueType() reflect.Type }

var (
	typedIface       = reflect.TypeFor[typed]()
	unmarshalerIface = reflect.TypeFor[json.Unmarshaler]()
	rawMessageType   = reflect.TypeFor[json.RawMessage]()
)

func (v *validator) value(t reflect.Type, path string) error {
	tok, err := v.dec.Token()
	if err != nil {
		return errMalformed
	}
	return v.valueFrom(tok, t, path)
}

func (v *validator) valueFrom(tok json.Token, t reflect.Type, path string) error {
	nullable := false
	for {
		if t.Implements(typedIface) {
			t = reflect.Zero(t).Interface().(typed).ValueType()
			nullable = true
			continue
		}
		if t.Kind() == reflect.Pointer {
			t, nullable = t.Elem(), true
			continue
		}
		break
	}
	if tok == nil {
		if !nullable && !isNullableKind(t) {
			v.typeError(path, t)
		}
		return nil
	}
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return v.skip(tok)
	}
	if reflect.PointerTo(t).Implements(unmarshalerIface) {
		return v.skip(tok)
	}
	return v.check(tok, t, path)
}

func isNullableKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Slice, reflect.Map, reflect.Interface:
		return true
	}
	return false
}

func (v *validator) check(tok json.Token, t reflect.Type, path string) error {
	switch tk := tok.(type) {
	case json.Delim:
		if tk == '{' {
			return v.object(t, path)
		}
		return v.array(t, path)
	case string:
		if t.Kind() != reflect.String {
			v.typeError(path, t)
		} else if strings.ContainsRune(tk, 0) {
			v.fields = append(v.fields, apperr.Field(fieldName(path),
				apperr.CodeInvalidFormat, "Must not contain NUL characters"))
		}
	case bool:
		if t.Kind() != reflect.Bool {
			v.typeError(path, t)
		}
	case json.Number:
		if !numberFits(tk, t) {
			v.typeError(path, t)
		}
	}
	return nil
}

func numberFits(n json.Number, t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err := strconv.ParseInt(n.String(), 10, t.Bits())
		return err == nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err := strconv.ParseUint(n.String(), 10, t.Bits())
		return err == nil
	case reflect.Float32, reflect.Float64:
		_, err := strconv.ParseFloat(n.String(), t.Bits())
		return err == nil
	}
	return false
}

func (v *validator) object(t reflect.Type, path string) error {
	if t.Kind() != reflect.Struct && t.Kind() != reflect.Map {
		v.typeError(path, t)
		return v.skipRest()
	}
	seen := map[string]bool{}
	for v.dec.More() {
		tok, err := v.dec.Token()
		if err != nil {
			return errMalformed
		}
		key, _ := tok.(string)
		p := join(path, key)
		if seen[key] {
			return apperr.InvalidInput(apperr.Field(p, apperr.CodeInvalidValue,
				"Duplicate member"))
		}
		seen[key] = true
		if err := v.member(t, key, p); err != nil {
			return err
		}
	}
	_, err := v.dec.Token()
	if err != nil {
		return errMalformed
	}
	return nil
}

func (v *validator) member(t reflect.Type, key, path string) error {
	if t.Kind() == reflect.Map {
		return v.value(t.Elem(), path)
	}
	ft, ok := fieldType(t, key)
	if !ok {
		v.fields = append(v.fields, apperr.Field(path, apperr.CodeUnknownField,
			"Unknown field"))
		tok, err := v.dec.Token()
		if err != nil {
			return errMalformed
		}
		return v.skip(tok)
	}
	return v.value(ft, path)
}

func (v *validator) array(t reflect.Type, path string) error {
	if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
		v.typeError(path, t)
		return v.skipRest()
	}
	for i := 0; v.dec.More(); i++ {
		if err := v.value(t.Elem(), join(path, strconv.Itoa(i))); err != nil {
			return err
		}
	}
	if _, err := v.dec.Token(); err != nil {
		return errMalformed
	}
	return nil
}

// skip consumes the rest of a value whose first token is tok.
func (v *validator) skip(tok json.Token) error {
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if d == '{' {
		return v.skipRest()
	}
	return v.skipRest()
}

// skipRest consumes tokens up to the end of the open object or array.
func (v *validator) skipRest() error {
	depth := 1
	for depth > 0 {
		tok, err := v.dec.Token()
		if err != nil {
			return errMalformed
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

func (v *validator) typeError(path string, t reflect.Type) {
	v.fields = append(v.fields, apperr.Field(fieldName(path), apperr.CodeInvalidType,
		"Expected "+kindName(t)))
}

func fieldName(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a value of another type"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldType finds the type of the struct field a JSON member name decodes
// into, following encoding/json's rules for tags and embedded structs.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if ft, ok := fieldType(et, key); ok {
					return ft, true
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f.Type, true
		}
	}
	return nil, false
}
