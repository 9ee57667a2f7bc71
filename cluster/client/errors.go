package client

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"nodectl/cluster/api"
)

// What a refusal means, for errors.Is on an *Error: the kinds of
// cluster/api, so errors.Is(err, api.ErrNotFound) holds for a 404 too.
var (
	ErrUnauthenticated  = api.ErrUnauthenticated
	ErrPermissionDenied = api.ErrForbidden
	ErrNotFound         = api.ErrNotFound
	ErrConflict         = api.ErrConflict
	ErrInvalid          = api.ErrInvalid
)

// Error is a master's answer other than 2xx (and other than a redirect
// the client followed).
type Error struct {
	Method, Path string
	Code         int    // HTTP status code
	Status       string // "404 Not Found"
	// Message is the master's JSON {"message": ...} with Marathon's 422
	// details ({"details": [{"path", "errors"}]}) appended as
	// "path: error; ..."; "" when the body was not such JSON.
	Message string
	Body    []byte // the answer's body, up to 64 KiB
	hint    string // for a 401: how to give credentials
}

// maxErrorBody bounds the body of a refusal kept in an Error.
const maxErrorBody = 64 << 10

// DefaultAuthHint ends a 401's message when Config.AuthHint is empty.
const DefaultAuthHint = "give credentials"

func (c *Client) refusal(r Request, resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Method: r.Method, Path: r.Path, Code: resp.StatusCode, Status: resp.Status, Body: b, hint: c.authHint}
	e.Message = messageOf(b)
	return e
}

// messageOf is the one-line message of a JSON refusal body.
func messageOf(b []byte) string {
	var body struct {
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	}
	if json.Unmarshal(b, &body) != nil || body.Message == "" {
		return ""
	}
	var ds []struct {
		Path   string   `json:"path"`
		Errors []string `json:"errors"`
	}
	var parts []string
	if json.Unmarshal(body.Details, &ds) == nil {
		for _, d := range ds {
			for _, x := range d.Errors {
				parts = append(parts, d.Path+": "+x)
			}
		}
	}
	if len(parts) > 0 {
		return body.Message + ": " + strings.Join(parts, "; ")
	}
	return body.Message
}

// Error is one line: the master's message (or the status and body).
// Refusals of authentication and permission say so first.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Status
		if s := oneLine(string(e.Body)); s != "" && len(s) <= 512 {
			msg += ": " + s
		}
	}
	switch e.Code {
	case http.StatusUnauthorized:
		hint := e.hint
		if hint == "" {
			hint = DefaultAuthHint
		}
		return "authentication required: " + msg + "; " + hint
	case http.StatusForbidden:
		return "permission denied: " + msg
	}
	return msg
}

// Is maps the status to its kind (api.KindOf); a 422 is also ErrInvalid,
// as callers have always read it.
func (e *Error) Is(target error) bool {
	if k := api.KindOf(e.Code); k != nil && target == k {
		return true
	}
	return e.Code == http.StatusUnprocessableEntity && target == ErrInvalid
}

// StatusOf is the HTTP status of a refusal in err's chain; 0 if none.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
