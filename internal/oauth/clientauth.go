package oauth

import (
	"context"
	"mime"
	"net/http"
	"net/url"
)

// readForm parses an application/x-www-form-urlencoded body and refuses
// repeated parameters other than resource.
func readForm(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return nil, ErrInvalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		return nil, ErrInvalidRequest("The request body cannot be parsed")
	}
	if k := repeated(r.PostForm); k != "" {
		return nil, ErrInvalidRequest("Parameter " + k + " is repeated")
	}
	return r.PostForm, nil
}

var errClientAuth = ErrInvalidClient("Client authentication failed")

// clientCredentials is how a request authenticates its client.
type clientCredentials struct {
	method, clientID, secret string
}

// credentialsOf extracts the client authentication of a request: Basic
// (form-urlencoded id and secret), secret in the body, an assertion, or a
// bare client_id. More than one method is invalid_request.
func credentialsOf(r *http.Request, form url.Values) (clientCredentials, error) {
	id, secret, basic := r.BasicAuth()
	bodySecret := form.Has("client_secret")
	assertion := form.Has("client_assertion") || form.Has("client_assertion_type")
	if basic && (bodySecret || assertion) || bodySecret && assertion {
		return clientCredentials{}, ErrInvalidRequest(
			"Use exactly one client authentication method")
	}
	switch {
	case basic:
		uid, err1 := url.QueryUnescape(id)
		usecret, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || uid == "" {
			return clientCredentials{}, errClientAuth
		}
		if b := form.Get("client_id"); b != "" && b != uid {
			return clientCredentials{}, ErrInvalidRequest("client_id does not match")
		}
		return clientCredentials{method: AuthSecretBasic, clientID: uid, secret: usecret}, nil
	case assertion:
		return clientCredentials{method: AuthPrivateKeyJWT}, nil
	case bodySecret:
		return clientCredentials{method: AuthSecretPost, clientID: form.Get("client_id"),
			secret: form.Get("client_secret")}, nil
	}
	return clientCredentials{method: AuthNone, clientID: form.Get("client_id")}, nil
}

// authenticateClient checks the client authentication of a request with
// the client's registered method only; endpoint is the request's path, an
// audience a client assertion may name. confidential refuses public
// clients.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values,
	endpoint string, confidential bool) (*Client, error) {
	cred, err := credentialsOf(r, form)
	if err != nil {
		return nil, err
	}
	var c *Client
	if cred.method == AuthPrivateKeyJWT {
		c, err = p.assertedClient(ctx, form, endpoint)
	} else {
		c, err = p.secretClient(ctx, cred)
	}
	if err != nil {
		return nil, err
	}
	if confidential && c.Public() {
		return nil, errClientAuth
	}
	return c, nil
}

// secretClient authenticates a client by its secret, or by its client_id
// alone for the none method.
func (p *Provider) secretClient(ctx context.Context, cred clientCredentials) (*Client,
	error) {
	if cred.clientID == "" {
		return nil, errClientAuth
	}
	c, err := p.ClientByClientID(ctx, cred.clientID)
	if err != nil {
		return nil, err
	}
	if c == nil || c.TokenEndpointAuthMethod != cred.method {
		return nil, errClientAuth
	}
	if cred.method != AuthNone && !c.checkSecret(cred.secret) {
		return nil, errClientAuth
	}
	return c, nil
}
