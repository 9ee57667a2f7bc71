package api

import (
	"fmt"
	"io/fs"
	"net/http"
	"testing"
)

// TestErrorKinds: one mapping from kind to status, through wrapping, and
// back from status to kind.
func TestErrorKinds(t *testing.T) {
	noUser := Kind(ErrNotFound, "no such user")
	for _, c := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("load: %w", noUser), http.StatusNotFound},
		{fmt.Errorf("image: %w", fs.ErrNotExist), http.StatusNotFound},
		{Kind(ErrInvalid, "bad call"), http.StatusBadRequest},
		{Kind(ErrValidation, "invalid user"), http.StatusUnprocessableEntity},
		{fmt.Errorf("%w: role", ErrUnsupported), http.StatusUnprocessableEntity},
		{Kind(ErrForbidden, "framework removed"), http.StatusForbidden},
		{Kind(ErrConflict, "user exists"), http.StatusConflict},
		{Kind(ErrUnavailable, "not the leading master"), http.StatusServiceUnavailable},
		{Kind(ErrGone, "agent removed"), StatusAgentRemoved},
		{ErrUnauthenticated, http.StatusUnauthorized},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError},
	} {
		if got := HTTPStatus(c.err); got != c.code {
			t.Errorf("%v: %d, want %d", c.err, got, c.code)
		}
		if k := KindOf(c.code); k != nil && HTTPStatus(k) != c.code {
			t.Errorf("KindOf(%d) = %v, which maps back to %d", c.code, k, HTTPStatus(k))
		}
	}
	if noUser.Error() != "no such user" {
		t.Errorf("a kind changes the message: %q", noUser)
	}
	if HTTPStatusOr(fmt.Errorf("etcd down"), http.StatusServiceUnavailable) != http.StatusServiceUnavailable {
		t.Error("HTTPStatusOr fallback")
	}
}
