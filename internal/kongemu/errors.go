package kongemu

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an HTTP error response in Kong's format.
type apiError struct {
	status int
	body   map[string]any
}

func (e *apiError) Error() string {
	return fmt.Sprintf("kong admin api: %d: %v", e.status, e.body["message"])
}

func notFound() *apiError {
	return &apiError{status: http.StatusNotFound, body: map[string]any{"message": "Not found"}}
}

func methodNotAllowed() *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, body: map[string]any{"message": "Method not allowed"}}
}

func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: map[string]any{"message": msg}}
}

func schemaViolation(errs fieldErrors) *apiError {
	return &apiError{status: http.StatusBadRequest, body: map[string]any{
		"code":    2,
		"name":    "schema violation",
		"message": flattenErrors(errs),
		"fields":  map[string]any(errs),
	}}
}

func invalidSize() *apiError {
	return &apiError{status: http.StatusBadRequest, body: map[string]any{
		"code": 9, "name": "invalid size",
		"message": "size must be an integer between 1 and 1000",
	}}
}

func invalidOffset(raw string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: map[string]any{
		"code": 7, "name": "invalid offset",
		"message": fmt.Sprintf("'%s' is not a valid offset: bad base64 encoding", raw),
	}}
}

func invalidOption(field, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: map[string]any{
		"code": 11, "name": "invalid options",
		"message": fmt.Sprintf("invalid option (%s: %s)", field, msg),
		"fields":  map[string]any{field: msg},
	}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Server", "kong/emulator")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing useful to do
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, e.body)
}
