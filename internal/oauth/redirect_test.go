package oauth

import "testing"

func TestMatchRedirectURIIsExact(t *testing.T) {
	reg := []string{"https://app.example.com/cb", "https://app.example.com/q?a=1",
		"http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost:3000/cb"}
	cases := []struct {
		uri  string
		want bool
	}{
		{"https://app.example.com/cb", true},
		{"https://APP.example.com/cb", false},
		{"https://app.example.com/CB", false},
		{"https://app.example.com/cb/", false},
		{"https://app.example.com/x/../cb", false},
		{"https://app.example.com/./cb", false},
		{"https://user@app.example.com/cb", false},
		{"https://app.example.com/cb#frag", false},
		{"https://app.example.com/cb?x=1", false},
		{"https://app.example.com/q?a=1", true},
		{"https://app.example.com/q?a=1&a=1", false},
		{"https://app.example.com/q?a=1&b=2", false},
		{"https://app.example.com:443/cb", false},
		{"http://app.example.com/cb", false},
		{"http://127.0.0.1:9999/cb", true},
		{"http://127.0.0.1/cb", true},
		{"http://127.0.0.1:9999/cb/", false},
		{"http://127.0.0.1:9999/other", false},
		{"http://[::1]:4567/cb", true},
		{"http://u@127.0.0.1:1/cb", false},
		{"https://127.0.0.1:9999/cb", false},
		{"http://localhost:3000/cb", true},
		{"http://localhost:3001/cb", false},
		{"http://127.0.0.1:abc/cb", false},
	}
	for _, c := range cases {
		if got := MatchRedirectURI(reg, c.uri); got != c.want {
			t.Errorf("MatchRedirectURI(%q) = %v, want %v", c.uri, got, c.want)
		}
	}
}

func TestRedirectURIProblem(t *testing.T) {
	cases := []struct {
		uri          string
		public, prod bool
		ok           bool
	}{
		{"https://a.example/cb", false, true, true},
		{"http://a.example/cb", false, true, false},
		{"http://a.example/cb", false, false, true},
		{"http://localhost:1/cb", false, true, true},
		{"http://[::1]:1/cb", false, true, true},
		{"com.example.app:/cb", true, true, true},
		{"com.example.app:/cb", false, true, false},
		{"myapp:/cb", true, true, false},
		{"https://a.example/cb#x", false, false, false},
		{"https://u:p@a.example/cb", false, false, false},
		{"/relative", false, false, false},
	}
	for _, c := range cases {
		got := RedirectURIProblem(c.uri, c.public, c.prod) == ""
		if got != c.ok {
			t.Errorf("RedirectURIProblem(%q, public=%v, prod=%v) ok = %v, want %v",
				c.uri, c.public, c.prod, got, c.ok)
		}
	}
}
