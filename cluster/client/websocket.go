package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// DialWebSocket opens a WebSocket at path (with its query) on the leading
// master, with the client's TLS and credentials: a standby's redirect is
// followed as for other calls, and a refusal is an *Error with the
// master's message. The exec session protocol (cluster/api/exec.go) runs
// on it.
func (c *Client) DialWebSocket(ctx context.Context, path string) (*websocket.Conn, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	var tlsCfg *tls.Config
	if tr, ok := c.hc.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		tlsCfg = tr.TLSClientConfig.Clone()
		tlsCfg.NextProtos = []string{"http/1.1"} // a WebSocket upgrades HTTP/1.1
	}
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		TLSClientConfig:  tlsCfg,
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   32 << 10,
		WriteBufferSize:  32 << 10,
	}
	hdr := http.Header{}
	if c.principal != "" {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(c.principal, c.secret)
		hdr.Set("Authorization", r.Header.Get("Authorization"))
	}
	u := c.target().ResolveReference(ref)
	for hop := 0; ; hop++ {
		ws := *u
		ws.Scheme = map[string]string{"https": "wss", "http": "ws"}[u.Scheme]
		conn, resp, err := d.DialContext(ctx, ws.String(), hdr)
		if err == nil {
			if hop > 0 {
				c.mu.Lock()
				c.leader = &url.URL{Scheme: u.Scheme, Host: u.Host}
				c.mu.Unlock()
			}
			return conn, nil
		}
		if resp == nil {
			return nil, fmt.Errorf("master %s unreachable: %w", baseOf(u), err)
		}
		loc := resp.Header.Get("Location")
		if isRedirect(resp.StatusCode) && loc != "" && hop < maxRedirects {
			resp.Body.Close()
			next, perr := u.Parse(loc)
			if perr != nil {
				return nil, fmt.Errorf("GET %s: redirect to %q: %w", path, loc, perr)
			}
			if u.Scheme == "https" && next.Scheme != "https" {
				return nil, fmt.Errorf("GET %s: redirect to %s refused: not HTTPS", path, next.Redacted())
			}
			u = next
			continue
		}
		defer resp.Body.Close()
		return nil, c.refusal(Request{Method: http.MethodGet, Path: path}, resp)
	}
}
