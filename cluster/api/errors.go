package api

import (
	"errors"
	"io/fs"
	"net/http"
)

// The error kinds of nodectl's APIs. Every sentinel error a master-side
// package answers with is one of these or made with Kind, so that
// errors.Is(err, ErrNotFound) holds whichever package said "not found",
// and HTTPStatus is the one place an error becomes an HTTP status. The
// leaf packages that cannot import this one (storage, runtime/image, the
// container driver) keep their own sentinels; the agent maps them where it
// answers.
var (
	// ErrInvalid: the request is malformed (400).
	ErrInvalid = errors.New("invalid request")
	// ErrValidation: the request is well formed but a value in it is not
	// acceptable (Marathon's 422).
	ErrValidation = errors.New("validation failed")
	// ErrUnauthenticated: no credentials, or wrong ones (401).
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: the principal may not do this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: no such object (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request clashes with the current state (409).
	ErrConflict = errors.New("conflict")
	// ErrGone: the agent was removed from the cluster (Mesos' 410,
	// StatusAgentRemoved).
	ErrGone = errors.New("gone")
	// ErrUnsupported: a field, flag or call nodectl does not support,
	// refused by name instead of ignored (422).
	ErrUnsupported = errors.ErrUnsupported
	// ErrUnavailable: not now — no leader, not the leader, busy; retry
	// (503).
	ErrUnavailable = errors.New("unavailable")
)

// kindError is a sentinel error with its own message and a kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Kind makes a sentinel error that reads msg and is of kind (one of the
// Err* kinds above): errors.Is(Kind(ErrNotFound, "no such user"),
// ErrNotFound) holds.
func Kind(kind error, msg string) error { return &kindError{msg: msg, kind: kind} }

// HTTPStatus is the HTTP status of err by its kind (the standard library's
// fs.ErrNotExist, fs.ErrExist and fs.ErrPermission count as not found,
// conflict and forbidden); 500 when it has none.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrGone):
		return StatusAgentRemoved
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden), errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, fs.ErrExist):
		return http.StatusConflict
	case errors.Is(err, ErrUnsupported), errors.Is(err, ErrValidation):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// HTTPStatusOr is HTTPStatus, with fallback for an error of no kind
// (a handler whose only other failure is its store: 503).
func HTTPStatusOr(err error, fallback int) int {
	if code := HTTPStatus(err); code != http.StatusInternalServerError {
		return code
	}
	return fallback
}

// KindOf is the kind an HTTP status stands for (nil for a success or a
// status without one): what a client turns a refusal back into.
func KindOf(code int) error {
	switch code {
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusUnauthorized:
		return ErrUnauthenticated
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case StatusAgentRemoved:
		return ErrGone
	case http.StatusUnprocessableEntity:
		return ErrValidation
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return ErrUnavailable
	}
	return nil
}
